import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RECORD_FIELDS } from '../../src/model.js';
import { startStack, type Stack } from '../helpers.js';

let stack: Stack;
let base: string;

beforeAll(async () => {
  stack = await startStack();
  await stack.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
});
afterAll(() => stack.close());

describe('over a real socket', () => {
  it('serves a snapshot with both sources', async () => {
    const response = await request(`${base}/netflows?window=7d&limit=5`);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = (await response.body.json()) as { data: { source: string }[]; sources: { status: string }[] };
    expect(body.data).toHaveLength(5);
    expect(body.sources.map((s) => s.status)).toEqual(['ok', 'ok']);
  });

  it('serves a 31-day series as CSV', async () => {
    const response = await request(`${base}/netflows?interval=1d&asset=btc&entity=binance&start=2026-10-01&end=2026-10-31&format=csv`);
    expect(response.statusCode).toBe(200);
    const lines = (await response.body.text()).trimEnd().split('\r\n');
    expect(lines[0]).toBe(RECORD_FIELDS.join(','));
    expect(lines).toHaveLength(32);
  });

  it('refuses an oversized request line with a problem, and keeps serving', async () => {
    const response = await request(`${base}/netflows?asset=${'a'.repeat(20_000)}`);
    expect(response.statusCode).toBe(431);
    expect(response.headers['content-type']).toBe('application/problem+json');
    expect(((await response.body.json()) as { code: string }).code).toBe('header_fields_too_large');
    const after = await request(`${base}/healthz`);
    expect(after.statusCode).toBe(200);
    await after.body.dump();
  });
});
