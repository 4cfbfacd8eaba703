import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NETFLOWS_PARAMS } from '../src/netflows/query.js';
import { startStack, type Stack } from './helpers.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({
    cm: { rateLimits: false },
    nansen: { rateLimits: false },
    env: { NANSEN_RATE_LIMIT: '100000/1s', COINMETRICS_RATE_LIMIT: '100000/1s' },
  });
});
afterAll(() => stack.close());

const goodValues = [
  '7d', '24h', '1h', '30d', '1d', 'btc', 'btc,eth', 'binance', 'smart_money', 'smart_money:fund', 'coinmetrics', 'nansen',
  'ethereum', '2026-10-01', '2026-11-20T10:00:00Z', '-net_flow_usd', 'asset,-trader_count', '5', '1000', 'true', 'false',
  'csv', 'ndjson', 'json', '1e6', '0x1f9840a85d5af5bf1d1762f925bdaddc4201f984',
];
const name = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...NETFLOWS_PARAMS) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'toString', 'hasOwnProperty', 'api_key', '', 'Window') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
);
const value = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...goodValues) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constantFrom('%', '%FF', '%E0%A4%A', '%00', '%0d%0a', 'a%2Cb', '\u0000', '\r\n', '🙂', 'x'.repeat(3000)) },
  { weight: 1, arbitrary: fc.double().map(String) },
);
const encoding = fc.constantFrom('raw', 'encoded');
const pair = fc.tuple(name, value, encoding).map(([n, v, how]) => {
  if (how === 'encoded') return `${encodeURIComponent(n)}=${encodeURIComponent(v)}`;
  return `${n}=${v}`.replace(/[#\s]/g, (c) => encodeURIComponent(c));
});
const query = fc.array(pair, { maxLength: 6 }).map((pairs) => `/netflows?${pairs.join('&')}`);
const accept = fc.oneof(fc.constant(undefined), fc.constantFrom('text/csv', 'application/x-ndjson', '*/*', 'text/html', 'application/json;q=0'), fc.string({ maxLength: 30 }));

describe('fuzzed /netflows requests', () => {
  it('are answered 200, 304 or a 4xx problem, never a 500 or a hang', async () => {
    const seen = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(query, accept, async (url, acceptHeader) => {
        const headers: Record<string, string> = {};
        if (acceptHeader !== undefined && /^[\x20-\x7e]*$/.test(acceptHeader)) headers.accept = acceptHeader;
        const response = await stack.app.inject({ method: 'GET', url, headers });
        seen.set(response.statusCode, (seen.get(response.statusCode) ?? 0) + 1);
        if (response.statusCode === 200 || response.statusCode === 304) return;
        expect(response.statusCode).toBeGreaterThanOrEqual(400);
        expect(response.statusCode).toBeLessThan(500);
        expect(String(response.headers['content-type'])).toMatch(/^application\/problem\+json/);
        const problem = response.json();
        expect(problem).toMatchObject({ status: response.statusCode, code: expect.any(String), detail: expect.any(String) });
        expect(problem.detail.length).toBeLessThan(1000);
      }),
      { numRuns: 400 },
    );
    expect(seen.get(200) ?? 0).toBeGreaterThan(10);
    expect(seen.get(400) ?? 0).toBeGreaterThan(10);
  }, 60_000);
});
