import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { rfc3339 } from '../src/time.js';

const plain = (ms: number) => new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');

describe('rfc3339', () => {
  it('writes whole seconds in UTC, the same the first time and every time after (the period bounds are remembered)', () => {
    const hours = fc.integer({ min: 0, max: 200_000 }).map((h) => h * 3_600_000);
    const any = fc.integer({ min: 0, max: 4_102_444_800_000 });
    fc.assert(
      fc.property(fc.oneof(hours, any), (ms) => {
        expect(rfc3339(ms)).toBe(plain(ms));
        expect(rfc3339(ms)).toBe(plain(ms));
      }),
      { numRuns: 20_000 },
    );
    expect(rfc3339(Date.parse('2026-11-20T00:00:00Z'))).toBe('2026-11-20T00:00:00Z');
    expect(rfc3339(Date.parse('2026-11-20T10:11:12.999Z'))).toBe('2026-11-20T10:11:12Z');
  });
});
