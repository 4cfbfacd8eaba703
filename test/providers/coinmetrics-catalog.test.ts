import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CM_CATALOG_PATH } from '../../src/demo/sim/coinmetrics.js';
import { CM_ASSETS } from '../../src/demo/sim/coinmetrics-data.js';
import { EXCHANGES } from '../../src/providers/coinmetrics/catalog.js';
import { CATALOG_RETRY_MS, CATALOG_TTL_MS } from '../../src/providers/coinmetrics/entity-assets.js';
import { CM_KEY, startStack, type Stack } from '../helpers.js';

interface CatalogEntity {
  entity: string;
  source: string;
  coinmetrics_code?: string;
  assets?: string[];
}
interface CatalogBody {
  sources: { source: string; entity_assets?: { from: string; detail: string } }[];
  entities: CatalogEntity[];
}

let stack: Stack;
let origin: string;

beforeAll(async () => {
  stack = await startStack({ cm: { maxRowsPerPage: 3 } });
  await stack.app.listen({ port: 0, host: '127.0.0.1' });
  origin = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
});
afterAll(() => stack.close());
beforeEach(() => stack.reset());
afterEach(() => stack.cm.setFault(null));

/** GET /catalog over a socket. */
async function catalog(): Promise<CatalogBody> {
  const response = await request(`${origin}/catalog`);
  expect(response.statusCode).toBe(200);
  return (await response.body.json()) as CatalogBody;
}

const catalogCalls = () => stack.cm.requests.filter((r) => r.path.endsWith(CM_CATALOG_PATH));
/** Walks of the catalog: first pages (later pages carry a token). */
const catalogWalks = () => catalogCalls().filter((r) => !('next_page_token' in r.query));
const coinMetricsEntities = (body: CatalogBody) => body.entities.filter((e) => e.source === 'coinmetrics');
const entityAssets = (body: CatalogBody) => body.sources.find((s) => s.source === 'coinmetrics')!.entity_assets!;

/** What the simulator's data says each exchange has flows for. */
function simulatedAssets(code: string): string[] {
  return CM_ASSETS.filter((asset) => (asset.exchanges as readonly string[]).includes(code)).map((asset) => asset.id).sort();
}

describe("/catalog's per-exchange assets from Coin Metrics' catalog", () => {
  it("lists, for every exchange, the assets the upstream's catalog has daily net flows for, every page read", async () => {
    const body = await catalog();
    const entities = coinMetricsEntities(body);
    expect(entities).toHaveLength(EXCHANGES.length);
    for (const entity of entities) expect(entity.assets).toEqual(simulatedAssets(entity.coinmetrics_code!));
    expect(entities.find((e) => e.entity === 'bitmex')!.assets).toEqual(['btc']);
    expect(entityAssets(body)).toMatchObject({ from: 'upstream_catalog' });
    expect(entityAssets(body).detail).toContain('/catalog-v2/asset-metrics');
    // Ten assets at three a page: four pages, each re-sending our own question with the token.
    const calls = catalogCalls();
    expect(calls).toHaveLength(Math.ceil(CM_ASSETS.length / 3));
    for (const call of calls) {
      expect(call.query.metrics).toBe(EXCHANGES.map((e) => `FlowNet${e.code}Ntv`).join(','));
      expect(call.query.api_key).toBe(CM_KEY);
    }
    expect(calls.slice(1).every((call) => typeof call.query.next_page_token === 'string')).toBe(true);
    expect(body.entities.filter((e) => e.source === 'nansen').every((e) => e.assets === undefined)).toBe(true);
  });

  it('is read once a day: many /catalog requests, concurrent or not, make one walk', async () => {
    const first = await Promise.all(Array.from({ length: 12 }, () => catalog()));
    for (let i = 0; i < 5; i++) await catalog();
    stack.clock.now += CATALOG_TTL_MS - 60_000;
    const later = await catalog();
    expect(catalogWalks()).toHaveLength(1);
    expect(later.entities).toEqual(first[0]!.entities);
    stack.clock.now += 2 * 60_000 + 60_000;
    await catalog();
    await catalog();
    expect(catalogWalks()).toHaveLength(2);
  });

  it("spends Coin Metrics' own budget: with it spent, the configured assets are listed and nothing is sent", async () => {
    const spent = await startStack({ env: { COINMETRICS_RATE_LIMIT: '1/60s', BUDGET_MAX_WAIT_MS: '0', COINMETRICS_ASSETS: 'btc,sol' } });
    try {
      expect((await spent.app.inject('/netflows?source=coinmetrics&window=24h')).statusCode).toBe(200);
      const before = spent.cm.requests.length;
      const body = (await spent.app.inject('/catalog')).json() as CatalogBody;
      expect(spent.cm.requests.length).toBe(before);
      expect(entityAssets(body).from).toBe('configured');
      for (const entity of coinMetricsEntities(body)) expect(entity.assets).toEqual(['btc', 'sol']);
    } finally {
      await spent.close();
    }
  });
});

describe('when the catalog cannot be read, /catalog lists the configured assets and says why', () => {
  it('a 403 (a key without catalog access): the configured assets, not asked again for a day, /netflows unaffected', async () => {
    stack.cm.setFault({ kind: 'status', status: 403 }, { path: CM_CATALOG_PATH });
    const body = await catalog();
    expect(entityAssets(body).from).toBe('configured');
    expect(entityAssets(body).detail).toContain('403 (forbidden)');
    for (const entity of coinMetricsEntities(body)) expect(entity.assets).toEqual(['btc', 'eth']);
    stack.clock.now += CATALOG_RETRY_MS + 1000;
    await catalog();
    expect(catalogCalls()).toHaveLength(1);
    const flows = await request(`${origin}/netflows?source=coinmetrics&window=7d`);
    expect(flows.statusCode).toBe(200);
    expect(((await flows.body.json()) as { data: unknown[] }).data.length).toBeGreaterThan(0);
    stack.cm.setFault(null);
    stack.clock.now += CATALOG_TTL_MS;
    expect(entityAssets(await catalog()).from).toBe('upstream_catalog');
  });

  it('down (5xx, connection reset): the configured assets, and the catalog is tried again minutes later', async () => {
    for (const fault of [{ kind: 'status', status: 503 }, { kind: 'reset' }] as const) {
      stack.reset();
      stack.cm.setFault(fault, { path: CM_CATALOG_PATH });
      const body = await catalog();
      expect(entityAssets(body).from).toBe('configured');
      for (const entity of coinMetricsEntities(body)) expect(entity.assets).toEqual(['btc', 'eth']);
      const calls = catalogCalls().length;
      await catalog();
      expect(catalogCalls()).toHaveLength(calls);
      stack.cm.setFault(null);
      stack.clock.now += CATALOG_RETRY_MS + 1000;
      const back = await catalog();
      expect(entityAssets(back).from).toBe('upstream_catalog');
      expect(coinMetricsEntities(back).find((e) => e.entity === 'binance')!.assets).toEqual(simulatedAssets('BNB'));
    }
  });

  it('down after a day: the catalog read before stands in while the cache may serve it stale, asked again minutes later, then the configured assets', async () => {
    const first = await catalog();
    stack.clock.now += CATALOG_TTL_MS + 60_000;
    stack.cm.setFault({ kind: 'status', status: 503 }, { path: CM_CATALOG_PATH });
    const stale = await catalog();
    expect(entityAssets(stale).from).toBe('upstream_catalog');
    expect(entityAssets(stale).detail).toContain('reading it again failed');
    expect(stale.entities).toEqual(first.entities);
    const calls = catalogCalls().length;
    stack.clock.now += 60_000;
    expect(entityAssets(await catalog()).from).toBe('upstream_catalog');
    expect(catalogCalls()).toHaveLength(calls);
    stack.clock.now += 2 * 3_600_000;
    const gone = await catalog();
    expect(entityAssets(gone).from).toBe('configured');
    expect(catalogCalls().length).toBeGreaterThan(calls);
  });

  it('a hostile or malformed answer: the configured assets, never a crash, never a stored answer', async () => {
    const bodies = [
      'not json',
      '{"data":{"asset":"btc"}}',
      '{"data":[{"asset":7,"metrics":[]}]}',
      '{"data":[{"asset":"btc","metrics":"FlowNetBNBNtv"}]}',
      '{"data":[{"asset":"btc","metrics":[{"metric":"FlowNetBNBNtv"}]}]}',
      '{"data":[{"asset":"btc","metrics":[]}],"next_page_token":{"x":1}}',
      '{"data":[],"next_page_token":"again"}',
      '{"data":[{"asset":"btc","metrics":[]}],"next_page_token":"the same token on every page"}',
      `{"data":[${'{"asset":"btc","metrics":[{"metric":"FlowNetBNBNtv","frequencies":[{"frequency":"1d"}]}]},'.repeat(5)}null]}`,
      '{"__proto__":{"data":[]},"constructor":{"prototype":{"polluted":true}}}',
    ];
    for (const body of bodies) {
      stack.reset();
      stack.cm.setFault({ kind: 'malformed', body }, { path: CM_CATALOG_PATH });
      const answer = await catalog();
      expect(entityAssets(answer), body).toMatchObject({ from: 'configured' });
      expect(entityAssets(answer).detail).toContain('could not be read');
      for (const entity of coinMetricsEntities(answer)) expect(entity.assets).toEqual(['btc', 'eth']);
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    stack.reset();
    stack.cm.setFault({ kind: 'random_pages' }, { path: CM_CATALOG_PATH });
    expect(entityAssets(await catalog()).from).toBe('configured');
  });

  it('a well-formed answer with ids no query could carry, metrics not asked for or not daily: only what was asked is listed', async () => {
    stack.cm.setFault(
      {
        kind: 'malformed',
        body: JSON.stringify({
          data: [
            { asset: 'BTC', metrics: [{ metric: 'FlowNetBNBNtv', frequencies: [{ frequency: '1d', min_time: 'x', max_time: 'y' }] }] },
            { asset: '<script>alert(1)</script>', metrics: [{ metric: 'FlowNetBNBNtv', frequencies: [{ frequency: '1d' }] }] },
            { asset: 'sol', metrics: [{ metric: 'FlowNetARKNtv', frequencies: [{ frequency: '1d' }] }, { metric: 'FlowNetCBSNtv', frequencies: [{ frequency: '1h' }] }] },
          ],
        }),
      },
      { path: CM_CATALOG_PATH },
    );
    const body = await catalog();
    expect(entityAssets(body).from).toBe('upstream_catalog');
    expect(coinMetricsEntities(body).find((e) => e.entity === 'binance')!.assets).toEqual(['btc']);
    expect(coinMetricsEntities(body).find((e) => e.entity === 'coinbase')!.assets).toEqual([]);
    expect(JSON.stringify(body)).not.toContain('<script>');

  });
});
