import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/app.js';
import { Secret } from '../src/secret.js';

describe('createLogger', () => {
  it('redacts the headers and query parameters that carry keys, and prints Secrets as [redacted]', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = createLogger('info', sink);
    logger.info({
      req: { headers: { authorization: 'Bearer caller-token', apikey: 'nsk_live' }, query: { api_key: 'cm_live' } },
      headers: { authorization: 'Bearer other', apikey: 'nsk_other' },
      api_key: 'cm_top',
      key: new Secret('wrapped-key'),
    });
    const text = lines.join('');
    for (const secret of ['caller-token', 'nsk_live', 'cm_live', 'other', 'nsk_other', 'cm_top', 'wrapped-key']) {
      expect(text).not.toContain(secret);
    }
    expect(text.match(/\[redacted\]/g)).toHaveLength(7);
  });
});
