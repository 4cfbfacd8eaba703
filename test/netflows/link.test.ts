import { describe, expect, it } from 'vitest';
import { nextLink } from '../../src/routes/netflows.js';

describe('nextLink', () => {
  it('percent-encodes every value, so nothing a caller sends can end the target (regression: Link injection)', () => {
    const link = nextLink('/netflows', { limit: '1', source: 'nansen', sector: 'AI,x>;rel="x",<https://evil.example/steal', cursor: 'old' }, 'c1');
    expect(link).toBe('/netflows?limit=1&source=nansen&sector=AI%2Cx%3E%3Brel%3D%22x%22%2C%3Chttps%3A%2F%2Fevil.example%2Fsteal&cursor=c1');
    expect(link).not.toMatch(/[<>";, ]/);
  });
});
