import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../../src/app.js';
import { loadConfig } from '../../../src/config.js';
import { startCoinMetricsSim, type CoinMetricsSim } from '../../../src/demo/sim/coinmetrics.js';
import { startNansenSim, type NansenSim } from '../../../src/demo/sim/nansen.js';
import type { NetflowRecord } from '../../../src/model.js';
import { PROVIDERS } from '../../../src/providers/index.js';
import { CM_KEY, NANSEN_KEY, NOW } from '../../helpers.js';
import { ENTITY, exflows } from './index.js';
import { startExFlowsSim, type ExFlowsSim } from './sim.js';

const EX_KEY = 'exflows-test-key-7c2d';
const ADMIN = 'admin-token-for-the-third-provider';
/** The largest and the smallest flow of the answer: the merge must put them first and last. */
const FLOWS = [
  { asset: 'btc', netflowUsd: 9e15, netflowNative: 1e11 },
  { asset: 'eth', netflowUsd: -9e15, netflowNative: -3e12 },
];

let cm: CoinMetricsSim;
let nansen: NansenSim;
let ex: ExFlowsSim;
let app: FastifyInstance;
/** The same simulators behind a gateway with the default registry: it has never heard of ExFlows. */
let plain: FastifyInstance;

beforeAll(async () => {
  const now = () => NOW;
  cm = await startCoinMetricsSim({ now, apiKey: CM_KEY });
  nansen = await startNansenSim({ now, apiKey: NANSEN_KEY });
  ex = await startExFlowsSim({ now, apiKey: EX_KEY, flows: FLOWS, perSecond: 3 });
  const env = {
    COINMETRICS_BASE_URL: cm.url,
    COINMETRICS_API_KEY: CM_KEY,
    NANSEN_BASE_URL: nansen.url,
    NANSEN_API_KEY: NANSEN_KEY,
    EXFLOWS_BASE_URL: ex.url,
    EXFLOWS_API_KEY: EX_KEY,
    EXFLOWS_RATE_LIMIT: '3/1s',
    ADMIN_TOKEN: ADMIN,
    UPSTREAM_TIMEOUT_MS: '2000',
  };
  // The whole of the wiring: one registry entry, handed to loadConfig and buildApp.
  const registry = [...PROVIDERS, exflows] as const;
  const config = loadConfig(env, undefined, registry);
  expect(config.sources.exflows.rateLimits.map((l) => l.text)).toEqual(['3/1s']);
  app = await buildApp({ config, registry, clock: now });
  plain = await buildApp({ config: loadConfig(env), clock: now });
});

afterAll(async () => {
  await Promise.all([app?.close(), plain?.close()]);
  await Promise.all([cm?.close(), nansen?.close(), ex?.close()]);
});

const get = (url: string, target = app) => target.inject({ method: 'GET', url, headers: { authorization: `Bearer ${ADMIN}` } });

describe('a third provider, added by one folder under test/ and one registry entry', () => {
  it('is in /catalog: its source, its entity with its own field, its windows, its default assets', async () => {
    const catalog = (await get('/catalog')).json();
    expect(catalog.sources).toContainEqual({ source: 'exflows', enabled: true, detail: 'ExFlows API with the configured key' });
    expect(catalog.entities).toContainEqual({ entity: ENTITY, entity_type: 'exchange_cluster', name: 'All exchanges (one cluster)', source: 'exflows', exflows_cluster: 'ALL' });
    expect(catalog.windows.exflows).toEqual(['24h', '7d']);
    expect(catalog.intervals.exflows).toEqual([]);
    expect(catalog.default_assets.exflows).toEqual(['every asset']);
    expect(catalog.sources.map((s: { source: string }) => s.source)).toEqual(['coinmetrics', 'nansen', 'exflows']);
  });

  it('is in the generated OpenAPI enums, its parameter and the sign rule; the default document does not name it', async () => {
    const doc = (await get('/openapi.json')).json();
    const record = doc.components.schemas.NetflowRecord;
    expect(record.properties.source.enum).toEqual(['coinmetrics', 'nansen', 'exflows']);
    expect(record.properties.entity_type.enum).toEqual(['exchange', 'smart_money', 'exchange_cluster']);
    expect(doc.components.schemas.NetflowsResponse.properties.sources.items.properties.source.enum).toEqual(['coinmetrics', 'nansen', 'exflows']);
    expect(record.description).toContain('ExFlows: into the exchanges of the cluster (deposits minus withdrawals).');
    const parameter = doc.paths['/netflows'].get.parameters.find((p: { name: string }) => p.name === 'include_derivatives');
    expect(parameter.schema.enum).toEqual(['true', 'false']);
    const catalogEntity = doc.paths['/catalog'].get.responses['200'].content['application/json'].schema.properties.entities.items;
    expect(catalogEntity.properties.entity_type.enum).toContain('exchange_cluster');
    expect(catalogEntity.properties.exflows_cluster).toEqual({ type: 'string' });
    expect(JSON.stringify((await get('/openapi.json', plain)).json())).not.toMatch(/exflows|exchange_cluster|include_derivatives/i);
  });

  it('validates queries: its own parameter takes the other sources out, is a 400 with them named, and unknown to a gateway without it', async () => {
    const own = await get('/netflows?include_derivatives=true&limit=1000');
    expect(own.statusCode).toBe(200);
    const body = own.json();
    expect(body.sources.map((s: { source: string; status: string }) => [s.source, s.status])).toEqual([
      ['coinmetrics', 'skipped'],
      ['nansen', 'skipped'],
      ['exflows', 'ok'],
    ]);
    expect(body.warnings).toEqual(['coinmetrics skipped: include_derivatives is ExFlows-only', 'nansen skipped: include_derivatives is ExFlows-only']);
    expect(body.data.map((r: NetflowRecord) => r.net_flow_usd)).toEqual([2 * 9e15, -2 * 9e15]);
    expect(ex.calls.at(-1)?.query).toMatchObject({ window: '24h', include_derivatives: 'true' });

    const named = await get('/netflows?source=nansen,exflows&include_derivatives=false');
    expect(named.statusCode).toBe(400);
    expect(named.json()).toMatchObject({ param: 'source', detail: 'nansen cannot answer this query: include_derivatives is ExFlows-only' });
    expect((await get('/netflows?include_derivatives=maybe')).json()).toMatchObject({ status: 400, param: 'include_derivatives' });
    const nansenOnly = (await get('/netflows?sector=DeFi')).json();
    expect(nansenOnly.warnings).toContain('exflows skipped: sector is Nansen-only');
    const entity = (await get(`/netflows?entity=${ENTITY}`)).json();
    expect(entity.sources.filter((s: { status: string }) => s.status !== 'skipped').map((s: { source: string }) => s.source)).toEqual(['exflows']);

    expect((await get('/netflows?include_derivatives=true', plain)).json()).toMatchObject({ status: 400, param: 'include_derivatives' });
    expect((await get(`/netflows?entity=${ENTITY}`, plain)).json()).toMatchObject({ status: 400, param: 'entity' });
  });

  it('answers /netflows merged with the other two and sorted', async () => {
    const response = await get('/netflows?window=24h&limit=1000');
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.sources.map((s: { source: string; status: string }) => [s.source, s.status])).toEqual([
      ['coinmetrics', 'ok'],
      ['nansen', 'ok'],
      ['exflows', 'ok'],
    ]);
    expect(response.headers['netflows-sources']).toContain('exflows;status=ok');
    const rows: NetflowRecord[] = body.data;
    expect(new Set(rows.map((r) => r.source))).toEqual(new Set(['coinmetrics', 'nansen', 'exflows']));
    const flows = rows.map((r) => r.net_flow_usd);
    const known = flows.filter((f): f is number => f !== null);
    expect(known).toEqual([...known].sort((a, b) => b - a));
    expect(flows.slice(known.length).every((f) => f === null)).toBe(true);
    expect(rows[0]).toMatchObject({ source: 'exflows', entity_type: 'exchange_cluster', entity: ENTITY, asset: 'btc', net_flow_usd: 9e15, net_flow_native: 1e11, window: '24h' });
    expect(rows[known.length - 1]).toMatchObject({ source: 'exflows', asset: 'eth', net_flow_usd: -9e15 });
  });

  it('shows its budget in /admin/budgets and its calls in /metrics', async () => {
    await get('/netflows?window=7d&asset=btc');
    const budgets = (await get('/admin/budgets')).json();
    const upstream = budgets.upstreams.find((u: { source: string }) => u.source === 'exflows');
    expect(upstream).toMatchObject({ source: 'exflows', circuit: 'closed', max_in_flight: 4, windows: [{ limit: '3/1s' }] });
    expect(Object.keys(upstream.last_rate_limit_headers)).toEqual(expect.arrayContaining(['x-flows-quota-remaining', 'x-flows-quota-reset']));
    expect(budgets.upstreams.map((u: { source: string }) => u.source)).toEqual(['coinmetrics', 'nansen', 'exflows']);

    const metrics = (await get('/metrics')).body;
    expect(metrics).toMatch(/netflows_upstream_requests_total\{source="exflows",outcome="2xx"\} [1-9]/);
    expect(metrics).toMatch(/netflows_cache_requests_total\{source="exflows",outcome="miss"\} [1-9]/);
    expect(metrics).toMatch(/netflows_upstream_budget_remaining\{source="exflows",window="3\/1s"\} \d/);
    expect(metrics).toContain('netflows_upstream_circuit_state{source="exflows"} 0');
  });
});
