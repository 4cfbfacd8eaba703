import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Agent } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startCoinMetricsSim, type CoinMetricsSim } from '../../src/demo/sim/coinmetrics.js';
import { EXCHANGE_BY_SLUG } from '../../src/providers/coinmetrics/catalog.js';
import { fetchAssetMetrics, MAX_PAGES } from '../../src/providers/coinmetrics/client.js';
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
      { kind: 'malformed', body: JSON.stringify({ data: [], next_page_token: '0.dHJhcA', next_page_url: trap }) },
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
    sim.setFault({ kind: 'malformed', body: JSON.stringify({ data: [], next_page_token: 'again' }) });
    const error = await fetchAssetMetrics(client, new Secret(KEY), query, AbortSignal.timeout(5000), NOW).catch((e: unknown) => e);
    expect(error).toMatchObject({ failure: 'upstream_malformed' });
    expect(sim.requests).toHaveLength(2);
  });

  it('caps a next_page_token chain that never ends', async () => {
    let page = 0;
    const endless = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ data: [], next_page_token: `0.${++page}` }));
    });
    await new Promise<void>((resolve) => endless.listen(0, '127.0.0.1', resolve));
    const { port } = endless.address() as AddressInfo;
    const endlessClient = new UpstreamClient({ source: 'coinmetrics', baseUrl: `http://127.0.0.1:${port}/v4`, dispatcher: agent, timeoutMs: 2000, logger: pino({ level: 'silent' }), clock: () => NOW });
    try {
      const error = await fetchAssetMetrics(endlessClient, undefined, query, AbortSignal.timeout(5000), NOW).catch((e: unknown) => e);
      expect(error).toMatchObject({ failure: 'upstream_malformed' });
      expect(page).toBe(MAX_PAGES);
    } finally {
      endless.close();
    }
  });

  it('maps a wrong key to upstream_rejected_key', async () => {
    const error = await fetchAssetMetrics(client, new Secret('bad-key-xyz'), query, AbortSignal.timeout(5000), NOW).catch((e: unknown) => e);
    expect(error).toMatchObject({ failure: 'upstream_rejected_key', options: { status: 401 } });
    expect(String((error as Error).message)).not.toContain('bad-key-xyz');
  });
});
