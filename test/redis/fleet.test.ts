import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startCoinMetricsSim, type CoinMetricsSim } from '../../src/demo/sim/coinmetrics.js';
import { startNansenSim, type NansenSim } from '../../src/demo/sim/nansen.js';
import { startGateway, TestRedis, type GatewayProcess } from '../processes.js';

const NANSEN_KEY = 'nsk_fleet_test_7e1';
const ADMIN = 'fleet-admin';
let redis: TestRedis;
let cm: CoinMetricsSim;
let nansen: NansenSim;
let replicas: GatewayProcess[];

beforeAll(async () => {
  redis = await TestRedis.start();
  cm = await startCoinMetricsSim();
  nansen = await startNansenSim({ apiKey: NANSEN_KEY });
}, 60_000);

afterAll(async () => {
  await Promise.all([cm?.close(), nansen?.close(), redis?.kill()]);
});

/** Three gateway processes on the test's Redis, for the tests of one describe (one trio at a time keeps two cores responsive). */
function fleet(env: Record<string, string>) {
  beforeAll(async () => {
    // Three gateways, Redis and the test share two cores: a starved process must not read as a slow Redis.
    const shared = { REDIS_URL: redis.url, REDIS_COMMAND_TIMEOUT_MS: '5000', GATEWAY_REPLICAS: '3', COINMETRICS_BASE_URL: cm.url, NANSEN_BASE_URL: nansen.url, NANSEN_API_KEY: NANSEN_KEY, ADMIN_TOKEN: ADMIN };
    replicas = await Promise.all([0, 1, 2].map(() => startGateway({ ...shared, ...env })));
  }, 60_000);
  afterAll(async () => {
    await Promise.all((replicas ?? []).map((r) => r.stop()));
  });
}

beforeEach(() => {
  cm.reset();
  nansen.reset();
});

async function get(replica: GatewayProcess, path: string) {
  const response = await request(`${replica.base}${path}`);
  const text = await response.body.text();
  return { status: response.statusCode, headers: response.headers, text, json: text.startsWith('{') ? JSON.parse(text) : undefined };
}

const roundRobin = (i: number) => replicas[i % replicas.length]!;
const admin = async (replica: GatewayProcess) => (await request(`${replica.base}/admin/budgets`, { headers: { authorization: `Bearer ${ADMIN}` } })).body.json() as Promise<{ shared: string }>;

describe('three replicas sharing one Redis', () => {
  fleet({ REDIS_KEY_PREFIX: 'fleet-test:', NANSEN_CREDIT_RESERVE: '80', UPSTREAM_TIMEOUT_MS: '3000' });

  it('make one upstream call for 100 concurrent identical cold requests', async () => {
    const answers = await Promise.all(Array.from({ length: 100 }, (_, i) => get(roundRobin(i), '/netflows?window=30d&limit=50')));
    expect(answers.map((a) => a.status)).toEqual(Array(100).fill(200));
    expect(cm.requests).toHaveLength(1);
    expect(nansen.requests).toHaveLength(1);
  });

  it('serve an entry fetched through one replica as a hit on another', async () => {
    const first = await get(replicas[0]!, '/netflows?window=7d&asset=ltc,xrp&limit=20');
    expect(first.status, JSON.stringify(first.json)).toBe(200);
    expect(first.json.sources.map((s: { cache: string }) => s.cache)).toEqual(['miss', 'miss']);
    const second = await get(replicas[1]!, '/netflows?window=7d&asset=ltc,xrp&limit=20');
    expect(second.json.sources.map((s: { cache: string }) => s.cache)).toEqual(['hit', 'hit']);
    expect(second.json.data).toEqual(first.json.data);
    expect([cm.requests.length, nansen.requests.length]).toEqual([1, 1]);
  });

  it('hold the Nansen credit reserve across replicas', async () => {
    await redis.flush();
    nansen.credits = 100;
    const statuses = [];
    for (let i = 0; i < 12; i++) statuses.push((await get(roundRobin(i), `/netflows?source=nansen&min_trader_count=${100 + i}`)).status);
    expect(nansen.requests).toHaveLength(4);
    expect(nansen.credits).toBe(80);
    expect(statuses.filter((s) => s === 200)).toHaveLength(4);
    nansen.credits = 1_000_000;
    await redis.flush();
  });

  it('earn no upstream 429 from a burst of 40 distinct Community-mode questions', async () => {
    await sleep(6500);
    const day = (i: number) => new Date(Date.parse('2024-01-01') + i * 86_400_000).toISOString().slice(0, 10);
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => get(roundRobin(i), `/netflows?source=coinmetrics&interval=1d&asset=btc&entity=binance&start=${day(i)}&end=${day(i)}`)),
    );
    expect(cm.rateLimitHits).toBe(0);
    const statuses = answers.map((a) => a.status);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(10);
    for (const a of answers.filter((x) => x.status === 503)) expect(Number(a.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('degrade without 500s or upstream 429s when Redis dies mid-burst, and share again when it is back', async () => {
    await sleep(6500);
    const day = (i: number) => new Date(Date.parse('2023-01-01') + i * 86_400_000).toISOString().slice(0, 10);
    const burst = (from: number, count: number) =>
      Promise.all(
        Array.from({ length: count }, (_, i) =>
          get(roundRobin(from + i), `/netflows?interval=1d&asset=btc&entity=binance,smart_money&start=${day(from + i)}&end=${day(from + i)}`).catch(() => ({ status: 0 })),
        ),
      );
    const before = burst(0, 15);
    await sleep(100);
    await redis.kill();
    const during = await burst(100, 30);
    const statuses = [...(await before), ...during].map((a) => a.status);
    expect(statuses.filter((s) => s >= 500 && s !== 503)).toEqual([]);
    expect(statuses).not.toContain(0);
    expect(cm.rateLimitHits).toBe(0);
    const modes = await Promise.all(replicas.map(async (r) => (await admin(r)).shared));
    expect(modes).toEqual(['degraded', 'degraded', 'degraded']);
    for (const r of replicas) expect((await get(r, '/readyz')).status).toBe(200);

    await redis.up();
    const deadline = Date.now() + 10_000;
    let shared: string[] = [];
    while (Date.now() < deadline) {
      await Promise.all(replicas.map((r) => get(r, `/netflows?source=nansen&min_trader_count=${Date.now() % 1000}`)));
      shared = await Promise.all(replicas.map(async (r) => (await admin(r)).shared));
      if (shared.every((m) => m === 'shared')) break;
      await sleep(250);
    }
    expect(shared).toEqual(['shared', 'shared', 'shared']);
    expect(cm.rateLimitHits).toBe(0);
  }, 40_000);
});

// The promises of the credit ledger, as an operator would try them.
const SEVEN = 'smart_money,smart_money:fund,smart_money:smart_trader,smart_money:smart_trader_30d,smart_money:smart_trader_90d,smart_money:smart_trader_180d,smart_money:smart_hl_perps_trader';
type Credits = { remaining: number | null; spent_today: number; in_flight: number };
const credits = async (replica: GatewayProcess): Promise<Credits> =>
  ((await (await request(`${replica.base}/admin/budgets`, { headers: { authorization: `Bearer ${ADMIN}` } })).body.json()) as { upstreams: { credits?: Credits }[] }).upstreams[1]!.credits!;
const spentBySim = (start = 1_000_000) => start - nansen.credits;

describe('the ledger on three replicas sharing one Redis', () => {
  fleet({ REDIS_KEY_PREFIX: 'ledger-fleet:', NANSEN_CREDIT_RESERVE: '80', NANSEN_DAILY_CREDIT_CAP: '200', NANSEN_TTL_S: '1', UPSTREAM_TIMEOUT_MS: '5000' });
  beforeEach(() => redis.flush());

  it('stop a two-concurrent seven-cohort burst at the daily credit cap exactly, with no credits in flight at rest', async () => {
    for (let round = 0; round < 12; round++) {
      await Promise.all([0, 1].map((i) => get(replicas[(round * 2 + i) % 3]!, `/netflows?source=nansen&entity=${SEVEN}&min_trader_count=${round * 2 + i + 1}`)));
    }
    expect(spentBySim()).toBe(200);
    for (const replica of replicas) expect(await credits(replica)).toMatchObject({ spent_today: 200, in_flight: 0 });
    const refused = await get(replicas[0]!, `/netflows?source=nansen&min_trader_count=999`);
    expect(refused.status).toBe(503);
    expect(refused.json.detail).toContain('the daily Nansen credit cap is reached: 200 of 200 spent today (UTC)');
  }, 60_000);

  it('stop twelve concurrent questions on one replica at the credit reserve exactly (defect 2: they paid for all twelve)', async () => {
    nansen.credits = 100;
    await get(replicas[0]!, '/netflows?source=nansen&min_trader_count=50');
    expect(nansen.credits).toBe(95);
    const statuses = (await Promise.all(Array.from({ length: 12 }, (_, i) => get(replicas[0]!, `/netflows?source=nansen&min_trader_count=${60 + i}`)))).map((a) => a.status);
    expect(nansen.credits).toBe(80);
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(await credits(replicas[0]!)).toMatchObject({ remaining: 80, in_flight: 0 });
  }, 30_000);

  it('stop twelve concurrent questions spread over the replicas at the credit reserve exactly', async () => {
    nansen.credits = 100;
    const statuses = (await Promise.all(Array.from({ length: 12 }, (_, i) => get(replicas[i % 3]!, `/netflows?source=nansen&min_trader_count=${70 + i}`)))).map((a) => a.status);
    expect(nansen.credits).toBe(80);
    expect(statuses.filter((s) => s === 200)).toHaveLength(4);
    for (const replica of replicas) expect(await credits(replica)).toMatchObject({ remaining: 80, in_flight: 0 });
  }, 30_000);

  it('report an expired entry whose refresh failed as stale, on every replica', async () => {
    const url = '/netflows?source=nansen&limit=5';
    expect((await get(replicas[0]!, url)).json.sources[1]).toMatchObject({ status: 'ok', cache: 'miss' });
    nansen.setFault({ kind: 'status', status: 500 });
    await sleep(1500);
    expect((await get(replicas[0]!, url)).json).toMatchObject({ complete: true, sources: [{}, { status: 'ok', cache: 'stale' }] });
    for (let i = 0; i < 100 && !nansen.requests.some((r) => r.status === 500); i++) await sleep(50);
    // the failure reaches Redis a moment after the upstream's answer
    await sleep(200);
    for (const replica of replicas) {
      expect((await get(replica, url)).json).toMatchObject({
        complete: false,
        sources: [{}, { status: 'stale', cache: 'stale', error: { code: 'upstream_error' } }],
      });
    }
  }, 30_000);
});
