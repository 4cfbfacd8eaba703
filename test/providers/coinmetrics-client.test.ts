import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Agent } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startCoinMetricsSim, type CoinMetricsSim } from '../../src/demo/sim/coinmetrics.js';
import { EXCHANGE_BY_SLUG } from '../../src/providers/coinmetrics/catalog.js';
import { fetchAssetMetrics } from '../../src/providers/coinmetrics/client.js';
import { Secret } from '../../src/secret.js';
import { UpstreamClient } from '../../src/upstream/http.js';
const NOW = Date.parse('2026-11-21T10:00:00Z');

const KEY = 'cm-client-test-key';
const day = (d: string) => Date.parse(`${d}T00:00:00Z`);
let sim: CoinMetricsSim;
let agent: Agent;
let client: UpstreamClient;

beforeAll(async () => {
  sim = await startCoinMetricsSim({ apiKey: KEY, now: () => NOW });
  agent = new Agent();
  client = new UpstreamClient({ source: 'coinmetrics', baseUrl: sim.url, dispatcher: agent, timeoutMs: 2000, logger: pino({ level: 'silent' }), clock: () => NOW });
});
afterAll(async () => {
  await agent.close();
  await sim.close();
});
beforeEach(() => sim.reset());

const DAY = 86_400_000;
const isoDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);
const row = (asset: string, date: string) => ({ asset, time: `${date}T00:00:00.000000000Z`, FlowNetBINNtv: '1.5' });

/** A bare upstream of the test's own: every GET answers `page()` as JSON. */
async function upstream(page: () => unknown) {
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(page()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    client: new UpstreamClient({ source: 'coinmetrics', baseUrl: `http://127.0.0.1:${port}/v4`, dispatcher: agent, timeoutMs: 2000, logger: pino({ level: 'silent' }), clock: () => NOW }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

const query = {
  assets: ['btc', 'eth'],
  exchanges: [EXCHANGE_BY_SLUG.get('binance')!, EXCHANGE_BY_SLUG.get('kraken')!],
  startDay: day('2026-07-01'),
  endDay: day('2026-11-20'),
};

describe('fetchAssetMetrics', () => {
  it('follows next_page_token with its own parameters until the token is absent', async () => {
    const { rows, pages } = await fetchAssetMetrics(client, new Secret(KEY), query, AbortSignal.timeout(5000), NOW, 50);
    expect(rows).toHaveLength(2 * 143);
    expect(pages).toBe(Math.ceil(286 / 50));
    expect(sim.requests).toHaveLength(pages);
    for (const [i, request] of sim.requests.entries()) {
      expect(request.path).toBe('/v4/timeseries/asset-metrics');
      expect(request.query.api_key).toBe(KEY);
      expect(request.query.page_size).toBe('50');
      expect('next_page_token' in request.query).toBe(i > 0);
    }
    const times = rows.map((r) => `${(r as { asset: string }).asset}@${(r as { time: string }).time}`);
    expect(new Set(times).size).toBe(times.length);
  });

  it('never fetches next_page_url', async () => {
    const trap = `${sim.url}/trap?api_key=${KEY}`;
    sim.setFault(
      { kind: 'malformed', body: JSON.stringify({ data: [row('btc', '2026-07-01')], next_page_token: '0.dHJhcA', next_page_url: trap }) },
      { times: 1 },
    );
    await fetchAssetMetrics(client, new Secret(KEY), query, AbortSignal.timeout(5000), NOW, 50).catch(() => undefined);
    expect(sim.requests.length).toBeGreaterThan(1);
    expect(sim.requests.some((r) => r.path.includes('trap'))).toBe(false);
    expect(sim.requests[1]!.query.next_page_token).toBe('0.dHJhcA');
  });

  it('sends no api_key in Community mode', async () => {
    const error = await fetchAssetMetrics(client, undefined, query, AbortSignal.timeout(5000), NOW).catch((e: unknown) => e);
    expect('api_key' in sim.requests[0]!.query).toBe(false);
    expect(error).toMatchObject({ failure: 'upstream_rejected_key' });
  });

  it('stops on a next_page_token that repeats', async () => {
    let page = 0;
    const again = await upstream(() => ({ data: [row('btc', isoDay(day('2026-07-01') + page++ * DAY))], next_page_token: 'again' }));
    try {
      const error = await fetchAssetMetrics(again.client, undefined, query, AbortSignal.timeout(5000), NOW).catch((e: unknown) => e);
      expect(error).toMatchObject({ failure: 'upstream_malformed', message: 'the Coin Metrics answer has an unusable next_page_token' });
      expect(page).toBe(2);
    } finally {
      await again.close();
    }
  });

  it('ends the walk when every row the question can have is in hand, whatever next_page_token says', async () => {
    let page = 0;
    const endless = await upstream(() => ({ data: [row('btc', isoDay(day('2026-07-01') + page++ * DAY))], next_page_token: `0.${page}` }));
    try {
      const { rows, pages } = await fetchAssetMetrics(endless.client, undefined, { ...query, assets: ['btc'], endDay: day('2026-07-03') }, AbortSignal.timeout(5000), NOW);
      expect([rows.length, pages, page]).toEqual([3, 3, 3]);
    } finally {
      await endless.close();
    }
  });

  it('takes pages of fewer rows than page_size asks', async () => {
    const short = await startCoinMetricsSim({ apiKey: KEY, now: () => NOW, maxRowsPerPage: 7 });
    const shortClient = new UpstreamClient({ source: 'coinmetrics', baseUrl: short.url, dispatcher: agent, timeoutMs: 2000, logger: pino({ level: 'silent' }), clock: () => NOW });
    try {
      const { rows, pages } = await fetchAssetMetrics(shortClient, new Secret(KEY), { ...query, startDay: day('2026-11-01') }, AbortSignal.timeout(5000), NOW, 50);
      expect([rows.length, pages]).toEqual([40, 6]);
    } finally {
      await short.close();
    }
  });

  it('is malformed when it needs more pages than its rows ÷ the rows its pages carry, plus one', async () => {
    let page = 0;
    const dwindling = await upstream(() => {
      page++;
      const rows = page === 1 ? [row('btc', '2026-07-01'), row('btc', '2026-07-02')] : [row('eth', isoDay(day('2026-07-01') + (page - 2) * DAY))];
      return { data: rows, next_page_token: `0.${page}` };
    });
    try {
      // 2 assets × 3 days: 6 rows; pages of 2 need 3 pages, 4 at most
      const error = await fetchAssetMetrics(dwindling.client, undefined, { ...query, endDay: day('2026-07-03') }, AbortSignal.timeout(5000), NOW).catch((e: unknown) => e);
      expect(error).toMatchObject({ failure: 'upstream_malformed', message: 'Coin Metrics paging did not end within 4 pages for at most 6 rows' });
      expect(page).toBe(4);
    } finally {
      await dwindling.close();
    }
  });

  it.each([
    ['an asset not asked for', row('ltc', '2026-07-01')],
    ['a day outside start..end', row('btc', '2026-06-30')],
    ['a time that is not a day', { asset: 'btc', time: 'tempor id' }],
  ])('is malformed at once on a row with %s', async (_what, bad) => {
    sim.setFault({ kind: 'malformed', body: JSON.stringify({ data: [row('btc', '2026-07-01'), bad], next_page_token: '0.next' }) });
    const error = await fetchAssetMetrics(client, new Secret(KEY), query, AbortSignal.timeout(5000), NOW).catch((e: unknown) => e);
    expect(error).toMatchObject({ failure: 'upstream_malformed' });
    expect(sim.requests).toHaveLength(1);
  });

  it('is malformed at the first page of a mock that makes pages up (random rows, a fresh token each time)', async () => {
    sim.setFault({ kind: 'random_pages' });
    const error = await fetchAssetMetrics(client, new Secret(KEY), query, AbortSignal.timeout(5000), NOW).catch((e: unknown) => e);
    expect(error).toMatchObject({ failure: 'upstream_malformed' });
    expect(sim.requests).toHaveLength(1);
  });

  it('maps a wrong key to upstream_rejected_key', async () => {
    const error = await fetchAssetMetrics(client, new Secret('bad-key-xyz'), query, AbortSignal.timeout(5000), NOW).catch((e: unknown) => e);
    expect(error).toMatchObject({ failure: 'upstream_rejected_key', options: { status: 401 } });
    expect(String((error as Error).message)).not.toContain('bad-key-xyz');
  });
});
