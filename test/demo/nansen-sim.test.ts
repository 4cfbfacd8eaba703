import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startNansenSim, type NansenSim } from '../../src/demo/sim/nansen.js';
import {
  NANSEN_DATA_CHAINS,
  NANSEN_TOKENS,
  SMART_MONEY_LABELS,
  cohortFlows,
  hourIndex,
  labelFlows,
  netflowRow,
  type NetflowRow,
  type SmartMoneyLabel,
} from '../../src/demo/sim/nansen-data.js';

const KEY = 'nsk_test_key';
const NOW = Date.UTC(2026, 10, 21, 10, 30);
const PATH = '/api/v1/smart-money/netflow';
const ROW_KEYS = [
  'token_address', 'token_symbol', 'net_flow_1h_usd', 'net_flow_24h_usd', 'net_flow_7d_usd', 'net_flow_30d_usd',
  'chain', 'token_sectors', 'trader_count', 'token_age_days', 'market_cap_usd',
];

interface Page {
  data: NetflowRow[];
  pagination: { page: number; per_page: number; is_last_page: boolean };
}

let clock = NOW;
const now = () => clock;

/** Every row the simulator should select, sorted by 24h flow descending (the default order). */
function expectedRows(chains: readonly string[], labels: readonly SmartMoneyLabel[] = SMART_MONEY_LABELS): NetflowRow[] {
  return NANSEN_TOKENS.filter((token) => chains.includes(token.chain) && !token.stablecoin && !token.native)
    .flatMap((token) => {
      const flows = cohortFlows(token, labels, hourIndex(clock));
      return flows ? [netflowRow(token, flows, clock)] : [];
    })
    .sort((a, b) => b.net_flow_24h_usd - a.net_flow_24h_usd);
}

describe('Nansen simulator', () => {
  let sim: NansenSim;

  async function post(body: unknown, headers: Record<string, string> = { apikey: KEY }) {
    const res = await request(`${sim.url}${PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text, body: JSON.parse(text) as Record<string, unknown> };
  }

  async function netflow(body: unknown): Promise<Page> {
    const res = await post(body);
    expect(res.status).toBe(200);
    return res.body as unknown as Page;
  }

  async function allRows(body: Record<string, unknown>): Promise<NetflowRow[]> {
    const page = await netflow({ ...body, pagination: { page: 1, per_page: 1000 } });
    expect(page.pagination.is_last_page).toBe(true);
    return page.data;
  }

  beforeAll(async () => {
    sim = await startNansenSim({ apiKey: KEY, now, credits: 1_000 });
  });
  afterAll(() => sim.close());
  beforeEach(() => {
    clock = NOW;
    sim.reset();
  });

  describe('auth', () => {
    it('answers a request without a key with the full envelope and a legacy detail', async () => {
      const res = await post({ chains: ['ethereum'] }, {});
      expect(res.status).toBe(401);
      expect(res.body).toEqual({
        error: 'Unauthorized',
        message: 'API key required. This endpoint does not support paid access.',
        code: 'unauthenticated',
        status: 401,
        request_id: res.headers['x-request-id'],
        doc_url: 'https://docs.nansen.ai/getting-started/error-handling#unauthenticated',
        detail: 'API key required. This endpoint does not support paid access.',
      });
      expect(res.headers['x-nansen-credits-used']).toBeUndefined();
      expect(res.headers['ratelimit-limit']).toBe('5');
    });

    it('answers a wrong key with the gateway\'s bare message', async () => {
      const res = await post({ chains: ['ethereum'] }, { apikey: 'nsk_wrong' });
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ message: 'Invalid API key. Manage your keys at https://app.nansen.ai/api?tab=api' });
    });

    it('reads the header name case-insensitively', async () => {
      const res = await post({ chains: ['ethereum'] }, { ApiKey: KEY });
      expect(res.status).toBe(200);
    });
  });

  describe('data', () => {
    it('answers 10 rows by default, sorted by 24h flow descending, in the live field order', async () => {
      const res = await post({ chains: ['ethereum'] });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toBe('application/json');
      const page = res.body as unknown as Page;
      expect(page.pagination).toEqual({ page: 1, per_page: 10, is_last_page: false });
      expect(page.data).toEqual(expectedRows(['ethereum']).slice(0, 10));
      for (const row of page.data) expect(Object.keys(row)).toEqual(ROW_KEYS);
    });

    it('sends integer 0 for windows without activity, and nested windows', async () => {
      const rows = await allRows({ chains: ['all'] });
      const quiet = rows.find((row) => row.net_flow_1h_usd === 0);
      expect(quiet).toBeDefined();
      const res = await post({ chains: [quiet?.chain], filters: { token_address: quiet?.token_address } });
      expect(res.text).toContain('"net_flow_1h_usd":0,');
      expect(rows.every((row) => Number.isInteger(row.trader_count) && row.trader_count > 0)).toBe(true);
      expect(rows.some((row) => row.net_flow_24h_usd < 0) && rows.some((row) => row.net_flow_24h_usd > 0)).toBe(true);
      expect(rows.some((row) => row.market_cap_usd === null)).toBe(true);
    });

    it('includes the live sample tokens with their addresses, symbols and sectors', async () => {
      const rows = await allRows({ chains: ['ethereum'], filters: { token_address: ['uni', '0x643C4E15D7D62AD0ABEC4A9BD4B001AA3EF52D66'] } });
      expect(rows.map((row) => [row.token_symbol, row.token_address, row.token_sectors])).toEqual(
        expect.arrayContaining([
          ['UNI', '0x1f9840a85d5af5bf1d1762f925bdaddc4201f984', ['Decentralised Exchanges']],
          ['SYRUP', '0x643c4e15d7d62ad0abec4a9bd4b001aa3ef52d66', ['DeFi Lending (Money Markets)', 'Yield Bearing']],
        ]),
      );
    });

    it('excludes stablecoins and native tokens unless asked', async () => {
      const plain = await allRows({ chains: ['ethereum'], filters: { token_address: ['USDC', 'ETH', 'UNI'] } });
      expect(plain.map((row) => row.token_symbol)).toEqual(['UNI']);
      const all = await allRows({
        chains: ['ethereum'],
        filters: { token_address: ['USDC', 'ETH', 'UNI'], include_stablecoins: true, include_native_tokens: true },
      });
      expect(all.map((row) => row.token_symbol).sort()).toEqual(['ETH', 'UNI', 'USDC']);
    });

    it('treats ["all"] as every chain, and valid chains without data as no rows', async () => {
      const all = await allRows({ chains: ['all'] });
      expect(new Set(all.map((row) => row.chain))).toEqual(new Set(NANSEN_DATA_CHAINS));
      expect(all).toEqual(expectedRows(NANSEN_DATA_CHAINS));
      expect(await netflow({ chains: ['monad'] })).toEqual({ data: [], pagination: { page: 1, per_page: 10, is_last_page: true } });
      const mixed = await allRows({ chains: ['sei', 'solana'] });
      expect(mixed.length).toBeGreaterThan(0);
      expect(mixed.every((row) => row.chain === 'solana')).toBe(true);
    });

    it('uses solana addresses in base58 and EVM addresses in lower-case hex', async () => {
      const rows = await allRows({ chains: ['all'], filters: { include_stablecoins: true, include_native_tokens: true } });
      for (const row of rows) {
        expect(row.token_address).toMatch(row.chain === 'solana' ? /^[1-9A-HJ-NP-Za-km-z]{32,44}$/ : /^0x[0-9a-f]{40}$/);
      }
      expect(rows.length).toBeGreaterThan(200);
    });

    it('finds a symbol on every chain it lives on', async () => {
      const rows = await allRows({ chains: ['all'], filters: { token_address: 'link' } });
      expect(rows.map((row) => row.chain).sort()).toEqual(['base', 'ethereum']);
    });

    it('keeps the Fund cohort small, with exactly the Fund flows', async () => {
      const rows = await allRows({ chains: ['all'], filters: { include_smart_money_labels: ['Fund'] } });
      expect(rows.length).toBeGreaterThan(0);
      expect(rows.length).toBeLessThan(20);
      for (const row of rows) {
        const token = NANSEN_TOKENS.find((t) => t.chain === row.chain && t.token_address === row.token_address);
        expect(token && labelFlows(token, 'Fund', hourIndex(clock))).toMatchObject({
          net_flow_24h_usd: row.net_flow_24h_usd,
          trader_count: row.trader_count,
        });
      }
    });

    it('sums the included labels, and removes the excluded ones', async () => {
      const everyLabel = await allRows({ chains: ['base'], filters: { include_smart_money_labels: [...SMART_MONEY_LABELS] } });
      expect(everyLabel).toEqual(await allRows({ chains: ['base'] }));

      const union = await allRows({ chains: ['base'], filters: { include_smart_money_labels: ['Smart HL Perps Trader', 'Fund'] } });
      expect(union).toEqual(expectedRows(['base'], ['Fund', 'Smart HL Perps Trader']));

      const excluded = await allRows({
        chains: ['base'],
        filters: { exclude_smart_money_labels: SMART_MONEY_LABELS.filter((label) => label !== '90D Smart Trader') },
      });
      expect(excluded).toEqual(expectedRows(['base'], ['90D Smart Trader']));
    });

    it('filters by sector overlap and by inclusive numeric ranges', async () => {
      const sectors = await allRows({ chains: ['all'], filters: { token_sector: ['Memecoins', 'AI'] } });
      expect(sectors.length).toBeGreaterThan(0);
      expect(sectors.every((row) => row.token_sectors.includes('Memecoins') || row.token_sectors.includes('AI'))).toBe(true);

      const ranged = await allRows({
        chains: ['all'],
        filters: { market_cap_usd: { min: 1e8 }, trader_count: { min: 5, max: 5 }, token_age_days: { max: 2000 } },
      });
      expect(ranged.length).toBeGreaterThan(0);
      for (const row of ranged) {
        expect(row.market_cap_usd).not.toBeNull();
        expect(row.market_cap_usd ?? 0).toBeGreaterThanOrEqual(1e8);
        expect(row.trader_count).toBe(5);
        expect(row.token_age_days).toBeLessThanOrEqual(2000);
      }
    });

    it('applies order_by in turn, with nulls last in either direction', async () => {
      for (const direction of ['ASC', 'DESC'] as const) {
        const rows = await allRows({ chains: ['all'], order_by: [{ field: 'market_cap_usd', direction }] });
        const caps = rows.map((row) => row.market_cap_usd);
        const firstNull = caps.indexOf(null);
        expect(firstNull).toBeGreaterThan(0);
        expect(caps.slice(firstNull).every((cap) => cap === null)).toBe(true);
        const known = caps.slice(0, firstNull) as number[];
        expect(known).toEqual([...known].sort((a, b) => (direction === 'ASC' ? a - b : b - a)));
      }
      const rows = await allRows({ chains: ['all'], order_by: [{ field: 'chain', direction: 'ASC' }, { field: 'net_flow_7d_usd', direction: 'DESC' }] });
      const keys = rows.map((row) => [row.chain, -row.net_flow_7d_usd] as const);
      expect(keys).toEqual([...keys].sort((a, b) => (a[0] === b[0] ? a[1] - b[1] : a[0] < b[0] ? -1 : 1)));
    });

    it('pages with page and per_page until is_last_page', async () => {
      const whole = await allRows({ chains: ['solana'] });
      const walked: NetflowRow[] = [];
      for (let page = 1; ; page++) {
        const res = await netflow({ chains: ['solana'], pagination: { page, per_page: 7 } });
        expect(res.pagination).toMatchObject({ page, per_page: 7 });
        walked.push(...res.data);
        if (res.pagination.is_last_page) break;
      }
      expect(walked).toEqual(whole);
      expect(await netflow({ chains: ['solana'], pagination: { page: 99, per_page: 7 } })).toEqual({
        data: [],
        pagination: { page: 99, per_page: 7, is_last_page: true },
      });
    });

    it('keeps values for the UTC hour and changes them the next hour', async () => {
      const first = await allRows({ chains: ['arbitrum'] });
      clock = NOW + 20 * 60_000;
      expect(await allRows({ chains: ['arbitrum'] })).toEqual(first);
      clock = NOW + 60 * 60_000;
      expect(await allRows({ chains: ['arbitrum'] })).not.toEqual(first);
    });
  });

  describe('validation', () => {
    it('rejects an unknown filter with both 422 shapes', async () => {
      const res = await post({ chains: ['ethereum'], filters: { foo: 1 } });
      expect(res.status).toBe(422);
      expect(res.body).toEqual({
        error: 'Unprocessable Entity',
        message: "Unknown field 'body -> filters -> foo'. Extra inputs are not permitted.",
        code: 'unknown_field',
        status: 422,
        request_id: res.headers['x-request-id'],
        doc_url: 'https://docs.nansen.ai/getting-started/error-handling#unknown_field',
        param: 'filters.foo',
        errors: [{ field: 'body.filters.foo', message: "Unknown field 'body -> filters -> foo'. Extra inputs are not permitted.", code: 'unknown_field' }],
        detail: [{ loc: ['body', 'filters', 'foo'], msg: 'Extra inputs are not permitted', type: 'extra_forbidden' }],
      });
      expect(res.headers['x-nansen-credits-used']).toBe('0');
      expect(res.headers['x-nansen-credits-remaining']).toBe('1000');
      expect(sim.credits).toBe(1_000);
    });

    it.each([
      ['missing chains', {}, 'missing_field', 'chains', ['body', 'chains']],
      ['an unknown chain', { chains: ['eth'] }, 'invalid_field_value', 'chains.0', ['body', 'chains', 0]],
      ['chains as a string', { chains: 'ethereum' }, 'invalid_field_value', 'chains', ['body', 'chains']],
      ['a top-level page', { chains: ['ethereum'], page: 1 }, 'unknown_field', 'page', ['body', 'page']],
      ['a camelCase pagination field', { chains: ['ethereum'], pagination: { perPage: 5 } }, 'unknown_field', 'pagination.perPage', ['body', 'pagination', 'perPage']],
      ['per_page 0', { chains: ['ethereum'], pagination: { per_page: 0 } }, 'value_out_of_range', 'pagination.per_page', ['body', 'pagination', 'per_page']],
      ['per_page 1001', { chains: ['ethereum'], pagination: { per_page: 1001 } }, 'value_out_of_range', 'pagination.per_page', ['body', 'pagination', 'per_page']],
      ['page 0', { chains: ['ethereum'], pagination: { page: 0 } }, 'value_out_of_range', 'pagination.page', ['body', 'pagination', 'page']],
      ['an unknown label', { chains: ['ethereum'], filters: { include_smart_money_labels: ['Whale'] } }, 'invalid_field_value', 'filters.include_smart_money_labels.0', ['body', 'filters', 'include_smart_money_labels', 0]],
      ['a string boolean', { chains: ['ethereum'], filters: { include_stablecoins: 'true' } }, 'invalid_field_value', 'filters.include_stablecoins', ['body', 'filters', 'include_stablecoins']],
      ['an unknown range key', { chains: ['ethereum'], filters: { market_cap_usd: { gte: 1 } } }, 'unknown_field', 'filters.market_cap_usd.gte', ['body', 'filters', 'market_cap_usd', 'gte']],
      ['an unknown sort field', { chains: ['ethereum'], order_by: [{ field: 'volume', direction: 'DESC' }] }, 'invalid_field_value', 'order_by.0.field', ['body', 'order_by', 0, 'field']],
      ['a lower-case direction', { chains: ['ethereum'], order_by: [{ field: 'chain', direction: 'asc' }] }, 'invalid_field_value', 'order_by.0.direction', ['body', 'order_by', 0, 'direction']],
      ['a body that is not an object', [1, 2], 'invalid_field_value', 'body', ['body']],
    ])('answers 422 for %s', async (_, body, code, param, loc) => {
      const res = await post(body);
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code, param, status: 422 });
      expect((res.body.detail as Array<{ loc: unknown }>)[0]?.loc).toEqual(loc);
      expect((res.body.errors as Array<{ field: string }>)[0]?.field).toBe(loc.join('.'));
    });

    it('answers 422 for a body that is not JSON', async () => {
      const res = await post('{"chains": [');
      expect(res.status).toBe(422);
      expect(res.body).toMatchObject({ code: 'invalid_field_value', detail: [{ loc: ['body', 0], msg: 'JSON decode error', type: 'json_invalid' }] });
    });

    it('lists every problem at once', async () => {
      const res = await post({ chains: ['nowhere'], filters: { a: 1 }, pagination: { per_page: -1 } });
      expect((res.body.errors as Array<{ code: string }>).map((error) => error.code)).toEqual([
        'invalid_field_value', 'unknown_field', 'value_out_of_range',
      ]);
    });

    it('accepts null for optional fields', async () => {
      const res = await post({ chains: ['base'], filters: { token_address: null, include_stablecoins: null }, premium_labels: null, order_by: null });
      expect(res.status).toBe(200);
    });

    it('answers 413 to a body over 1 MB and keeps serving', async () => {
      const res = await post({ chains: ['base'], filters: { token_address: ['x'.repeat(2 * 1024 * 1024)] } });
      expect(res.status).toBe(413);
      expect(res.body).toMatchObject({ code: 'payload_too_large', status: 413 });
      expect((await post({ chains: ['base'] })).status).toBe(200);
    });
  });

  describe('credits', () => {
    it('charges 5 credits per 2xx and reports the balance', async () => {
      const res = await post({ chains: ['base'] });
      expect(res.headers['x-nansen-credits-cost']).toBe('5');
      expect(res.headers['x-nansen-credits-used']).toBe('5');
      expect(res.headers['x-nansen-credits-remaining']).toBe('995');
      expect(sim.credits).toBe(995);
    });

    it('answers 403 insufficient_credits below 5 credits, free of charge', async () => {
      sim.credits = 7;
      expect((await post({ chains: ['base'] })).headers['x-nansen-credits-remaining']).toBe('2');
      const res = await post({ chains: ['base'] });
      expect(res.status).toBe(403);
      expect(res.body).toMatchObject({
        error: 'Forbidden',
        code: 'insufficient_credits',
        status: 403,
        request_id: res.headers['x-request-id'],
        doc_url: 'https://docs.nansen.ai/getting-started/error-handling#insufficient_credits',
        message: expect.stringMatching(/^Insufficient credits\./),
        detail: expect.any(String),
      });
      expect(res.headers['x-nansen-credits-used']).toBe('0');
      expect(res.headers['x-nansen-credits-remaining']).toBe('2');
      expect(sim.credits).toBe(2);
    });
  });

  describe('rate limits', () => {
    it('sends every rate-limit header on a success', async () => {
      const res = await post({ chains: ['base'] });
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
      expect(res.headers).toMatchObject({
        'ratelimit-limit': '15',
        'ratelimit-remaining': '14',
        'ratelimit-reset': '1',
        'x-ratelimit-limit': '15',
        'x-ratelimit-remaining': '14',
        'x-ratelimit-reset': '1',
        'x-ratelimit-limit-second': '15',
        'x-ratelimit-remaining-second': '14',
        'x-ratelimit-limit-minute': '300',
        'x-ratelimit-remaining-minute': '299',
      });
    });

    it('allows 15 requests per second, then 429 with scope second', async () => {
      for (let i = 0; i < 15; i++) {
        const res = await post({ chains: ['base'] });
        expect(res.status).toBe(200);
        expect(res.headers['x-ratelimit-remaining-second']).toBe(String(14 - i));
      }
      const res = await post({ chains: ['base'] });
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBe('1');
      expect(res.headers['x-nansen-ratelimit-scope']).toBe('second');
      expect(res.headers['x-nansen-credits-used']).toBe('0');
      expect(res.body).toMatchObject({
        error: 'Too Many Requests',
        code: 'rate_limit_exceeded',
        status: 429,
        retry_after: 1,
        request_id: res.headers['x-request-id'],
        doc_url: 'https://docs.nansen.ai/getting-started/error-handling#rate_limit_exceeded',
        detail: expect.any(String),
      });
      expect(sim.rateLimitHits).toBe(1);
      expect(sim.credits).toBe(1_000 - 15 * 5);

      clock = NOW + 1_000;
      expect((await post({ chains: ['base'] })).status).toBe(200);
    });

    it('allows 300 requests per minute, then 429 with scope minute', async () => {
      sim.credits = 10_000;
      for (let i = 0; i < 300; i++) {
        clock = NOW + i * 100;
        expect((await post({ chains: ['monad'] })).status).toBe(200);
      }
      clock = NOW + 30_000;
      const res = await post({ chains: ['monad'] });
      expect(res.status).toBe(429);
      expect(res.headers['x-nansen-ratelimit-scope']).toBe('minute');
      expect(res.headers['retry-after']).toBe('30');
      expect(res.headers['x-ratelimit-remaining-minute']).toBe('0');
      expect(res.headers['ratelimit-remaining']).toBe('0');
      expect(res.body.retry_after).toBe(30);
    });

    it('with rateLimits: false never answers 429', async () => {
      const unlimited = await startNansenSim({ apiKey: KEY, now, rateLimits: false });
      try {
        const statuses = [];
        for (let i = 0; i < 17; i++) {
          const res = await request(`${unlimited.url}${PATH}`, { method: 'POST', headers: { apikey: KEY }, body: '{"chains":["monad"]}' });
          await res.body.dump();
          statuses.push(res.statusCode);
        }
        expect(new Set(statuses)).toEqual(new Set([200]));
      } finally {
        await unlimited.close();
      }
    });
  });

  describe('faults', () => {
    it('rate_limited: the real 429 with the given Retry-After, nothing charged', async () => {
      sim.setFault({ kind: 'rate_limited', retryAfterS: 30 }, { times: 1 });
      const res = await post({ chains: ['base'] });
      expect(res.status).toBe(429);
      expect(res.headers['retry-after']).toBe('30');
      expect(res.headers['x-nansen-ratelimit-scope']).toBe('minute');
      expect(res.body).toMatchObject({ code: 'rate_limit_exceeded', retry_after: 30 });
      expect(sim.rateLimitHits).toBe(1);
      expect(sim.credits).toBe(1_000);
      expect((await post({ chains: ['base'] })).status).toBe(200);
    });

    it('credits_exhausted: 403 insufficient_credits with nothing remaining', async () => {
      sim.setFault({ kind: 'credits_exhausted' });
      const res = await post({ chains: ['base'] });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe('insufficient_credits');
      expect(res.headers['x-nansen-credits-remaining']).toBe('0');
    });

    it('status: the error envelope with a matching code', async () => {
      sim.setFault({ kind: 'status', status: 500 }, { times: 1 });
      const failed = await post({ chains: ['base'] });
      expect(failed.status).toBe(500);
      expect(failed.body).toMatchObject({ error: 'Internal Server Error', code: 'internal_error', status: 500 });
      expect(failed.headers['x-nansen-credits-used']).toBe('0');

      sim.setFault({ kind: 'status', status: 503 }, { times: 1 });
      expect((await post({ chains: ['base'] })).body).toMatchObject({ code: 'upstream_unavailable', status: 503 });
    });

    it('malformed: the exact body with 200', async () => {
      sim.setFault({ kind: 'malformed', body: '{"data":[{"token_symbol":' }, { times: 1 });
      const res = await request(`${sim.url}${PATH}`, { method: 'POST', headers: { apikey: KEY }, body: '{"chains":["base"]}' });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('{"data":[{"token_symbol":');
    });

    it('records each request with its body and answer', async () => {
      await post({ chains: ['base'] });
      expect(sim.requests).toEqual([
        expect.objectContaining({
          method: 'POST',
          path: PATH,
          body: { chains: ['base'] },
          headers: expect.objectContaining({ apikey: KEY }),
          status: 200,
          at: NOW,
        }),
      ]);
    });

    it('hang and reset leave status 0; close() ends hung requests', async () => {
      const hanging = await startNansenSim({ apiKey: KEY, now });
      hanging.setFault({ kind: 'reset' }, { times: 1 });
      await expect(request(`${hanging.url}${PATH}`, { method: 'POST', body: '{}' })).rejects.toThrow();

      hanging.setFault({ kind: 'hang' });
      const outcome = request(`${hanging.url}${PATH}`, { method: 'POST', headers: { apikey: KEY }, body: '{}' }).then(
        () => 'answered',
        () => 'failed',
      );
      await expect.poll(() => hanging.requests.length).toBe(2);
      await hanging.close();
      expect(await outcome).toBe('failed');
      expect(hanging.requests.map((r) => r.status)).toEqual([0, 0]);
    });

    it('reset() restores the credits and clears windows, fault and requests', async () => {
      sim.credits = 3;
      sim.setFault({ kind: 'status', status: 502 });
      await post({ chains: ['base'] });
      sim.reset();
      expect(sim.credits).toBe(1_000);
      expect(sim.requests).toEqual([]);
      expect((await post({ chains: ['base'] })).headers['x-ratelimit-remaining-second']).toBe('14');
    });
  });

  // The bench's warm questions run over a full page of 1000 rows, as the real Nansen serves.
  it('fills pages of 1000 rows with tokensPerChain, keeping the default tokens as they are', async () => {
    const big = await startNansenSim({ apiKey: KEY, now, tokensPerChain: 170 });
    try {
      const res = await request(`${big.url}${PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', apikey: KEY },
        body: JSON.stringify({ chains: ['all'], pagination: { page: 1, per_page: 1000 } }),
      });
      const page = (await res.body.json()) as Page;
      expect(page.data).toHaveLength(1000);
      expect(page.pagination.is_last_page).toBe(false);
      const keys = page.data.map((row) => `${row.chain}|${row.token_address}`);
      expect(new Set(keys).size).toBe(1000);
      // Every token of the default set is still there, unchanged.
      const defaults = await allRows({ chains: ['base'] });
      const bigBase = await request(`${big.url}${PATH}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', apikey: KEY },
        body: JSON.stringify({ chains: ['base'], pagination: { page: 1, per_page: 1000 } }),
      });
      expect(((await bigBase.body.json()) as Page).data).toEqual(expect.arrayContaining(defaults));
    } finally {
      await big.close();
    }
  });
});
