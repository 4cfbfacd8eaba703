import { afterEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers.js';

const ADMIN = 'promises-admin';
const SEVEN = 'smart_money,smart_money:fund,smart_money:smart_trader,smart_money:smart_trader_30d,smart_money:smart_trader_90d,smart_money:smart_trader_180d,smart_money:smart_hl_perps_trader';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const get = (url: string) => stack!.app.inject({ method: 'GET', url });
const credits = async () => (await stack!.app.inject({ url: '/admin/budgets', headers: { authorization: `Bearer ${ADMIN}` } })).json().upstreams[1].credits;

describe('the daily credit cap', () => {
  it('is overrun, and in-flight credits go negative (defect 1): a two-concurrent seven-cohort burst stops at the cap exactly', async () => {
    stack = await startStack({ env: { NANSEN_DAILY_CREDIT_CAP: '200', ADMIN_TOKEN: ADMIN } });
    const statuses: number[] = [];
    for (let round = 0; round < 12; round++) {
      const pair = await Promise.all([0, 1].map((i) => get(`/netflows?source=nansen&entity=${SEVEN}&min_trader_count=${round * 2 + i + 1}`)));
      statuses.push(...pair.map((r) => r.statusCode));
      expect((await credits()).in_flight).toBe(0);
      // past Nansen's 15/1s window: the clock is the test's own
      stack.clock.now += 1500;
    }
    expect(stack.nansen.requests).toHaveLength(40);
    expect(await credits()).toMatchObject({ spent_today: 200, in_flight: 0 });
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(5);
    expect(statuses.slice(-2)).toEqual([503, 503]);
  });

  it('leaves no credits in flight after one seven-cohort request', async () => {
    stack = await startStack({ env: { ADMIN_TOKEN: ADMIN } });
    expect((await get(`/netflows?source=nansen&entity=${SEVEN}`)).statusCode).toBe(200);
    expect(await credits()).toMatchObject({ spent_today: 35, in_flight: 0 });
  });
});

describe('the credit reserve', () => {
  it('stops a burst of twelve concurrent questions exactly at the reserve, with no credits in flight at rest', async () => {
    stack = await startStack({ nansen: { credits: 100 }, env: { NANSEN_CREDIT_RESERVE: '80', ADMIN_TOKEN: ADMIN } });
    await get('/netflows?source=nansen&min_trader_count=50');
    const statuses = (await Promise.all(Array.from({ length: 12 }, (_, i) => get(`/netflows?source=nansen&min_trader_count=${60 + i}`)))).map((r) => r.statusCode);
    expect(stack.nansen.credits).toBe(80);
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(await credits()).toMatchObject({ remaining: 80, in_flight: 0 });
  });
});
