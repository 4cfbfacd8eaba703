import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startCoinMetricsSim, type CoinMetricsSim } from '../../src/demo/sim/coinmetrics.js';
import { startNansenSim, type NansenSim } from '../../src/demo/sim/nansen.js';
import { startGateway, TestRedis, type GatewayProcess } from '../processes.js';

// The promises of the credit ledger, as an operator would try them on three replicas sharing one Redis.
const NANSEN_KEY = 'nsk_ledger_fleet_31c';
const ADMIN = 'ledger-admin';
const SEVEN = 'smart_money,smart_money:fund,smart_money:smart_trader,smart_money:smart_trader_30d,smart_money:smart_trader_90d,smart_money:smart_trader_180d,smart_money:smart_hl_perps_trader';
let redis: TestRedis;
let cm: CoinMetricsSim;
let nansen: NansenSim;
let replicas: GatewayProcess[];

beforeAll(async () => {
  redis = await TestRedis.start();
  cm = await startCoinMetricsSim();
  nansen = await startNansenSim({ apiKey: NANSEN_KEY });
  const env = {
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: 'ledger-fleet:',
    GATEWAY_REPLICAS: '3',
    COINMETRICS_BASE_URL: cm.url,
    NANSEN_BASE_URL: nansen.url,
    NANSEN_API_KEY: NANSEN_KEY,
    NANSEN_CREDIT_RESERVE: '80',
    NANSEN_DAILY_CREDIT_CAP: '200',
    NANSEN_TTL_S: '1',
    ADMIN_TOKEN: ADMIN,
    UPSTREAM_TIMEOUT_MS: '5000',
  };
  replicas = await Promise.all([startGateway(env), startGateway(env), startGateway(env)]);
}, 60_000);

afterAll(async () => {
  await Promise.all((replicas ?? []).map((r) => r.stop()));
  await Promise.all([cm?.close(), nansen?.close(), redis?.kill()]);
});

beforeEach(async () => {
  await redis.flush();
  cm.reset();
  nansen.reset();
});

async function get(replica: GatewayProcess, path: string) {
  const response = await request(`${replica.base}${path}`);
  const text = await response.body.text();
  return { status: response.statusCode, json: text.startsWith('{') ? JSON.parse(text) : undefined };
}

type Credits = { remaining: number | null; spent_today: number; in_flight: number };
const credits = async (replica: GatewayProcess): Promise<Credits> =>
  ((await (await request(`${replica.base}/admin/budgets`, { headers: { authorization: `Bearer ${ADMIN}` } })).body.json()) as { upstreams: { credits?: Credits }[] }).upstreams[1]!.credits!;
const spentBySim = (start = 1_000_000) => start - nansen.credits;

describe('three replicas on one Redis', () => {
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
