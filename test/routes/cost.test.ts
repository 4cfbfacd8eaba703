import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers.js';

const ADMIN = 'cost-admin';
const SEVEN = 'smart_money,smart_money:fund,smart_money:smart_trader,smart_money:smart_trader_30d,smart_money:smart_trader_90d,smart_money:smart_trader_180d,smart_money:smart_hl_perps_trader';

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const get = (url: string, token?: string) => stack!.app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
const admin = async () => (await stack!.app.inject({ url: '/admin/budgets', headers: { authorization: `Bearer ${ADMIN}` } })).json();
const perPage = (body: unknown) => (body as { pagination: { per_page: number } }).pagination.per_page;

function callersFile(callers: { name: string; token: string; credits?: number }[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'callers-')), 'callers.json');
  const entries = callers.map((c) => ({
    name: c.name,
    sha256: createHash('sha256').update(c.token).digest('hex'),
    rate_limit: '1000/1m',
    ...(c.credits !== undefined ? { nansen_daily_credits: c.credits } : {}),
  }));
  writeFileSync(file, JSON.stringify(entries));
  return file;
}

describe('the cost of a request', () => {
  it('is up to 70 Nansen calls for an asset filter, and the caller quota counts it as one (defect 4): one page per cohort', async () => {
    // 20 rows a page: every cohort has more pages than an asset filter could ever need
    stack = await startStack({ nansen: { maxRowsPerPage: 20 } });
    const answer = await get(`/netflows?source=nansen&entity=${SEVEN}&asset=zzz_no_such_token`);
    expect(answer.statusCode).toBe(200);
    expect(stack.nansen.requests).toHaveLength(7);
    expect(stack.nansen.requests.map((r) => perPage(r.body))).toEqual(Array(7).fill(1000));
    expect(answer.json().warnings.join(' ')).toMatch(/asset=zzz_no_such_token matched 0 rows of smart_money among the first 20 tokens Nansen ranks by net_flow_24h_usd; its other tokens were not searched/);
    expect(answer.json().next_cursor).toBeNull();
  });

  it('is known before the first call: cohorts × the pages the slice needs, less the pages held fresh', async () => {
    stack = await startStack({ env: { LOG_LEVEL: 'info' } });
    const before = stack.nansen.credits;
    await get(`/netflows?source=nansen&entity=smart_money,smart_money:fund&limit=300`);
    await get(`/netflows?source=nansen&entity=smart_money,smart_money:fund,smart_money:smart_trader&limit=300`);
    const planned = stack.logs
      .map((line) => JSON.parse(line) as { msg: string; planned?: { calls: number; credits: number } })
      .filter((l) => l.msg === 'request')
      .map((l) => l.planned);
    expect(planned).toEqual([
      { calls: 2, credits: 10 },
      { calls: 1, credits: 5 },
    ]);
    expect(before - stack.nansen.credits).toBe(15);
  });
});

describe('a caller with a daily Nansen credit allowance', () => {
  it('gets a 429 naming the allowance, with Retry-After until the UTC day ends, for a request that would overrun it', async () => {
    stack = await startStack({ env: { ADMIN_TOKEN: ADMIN, CALLER_TOKENS_FILE: callersFile([{ name: 'grafana', token: 'g-token', credits: 30 }]) } });
    const refused = await get(`/netflows?source=nansen&entity=${SEVEN}`, 'g-token');
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({
      code: 'rate_limited',
      detail: 'this request may cost 35 Nansen credits, more than is left of the daily Nansen credit allowance of caller grafana: 0 of 30 spent today (UTC)',
    });
    // NOW is 10:00 UTC: fourteen hours to the end of the day
    expect(refused.headers['retry-after']).toBe(String(14 * 3600));
    expect(stack.nansen.requests).toHaveLength(0);
    expect((await get('/netflows?source=nansen&entity=smart_money:fund', 'g-token')).statusCode).toBe(200);
    expect((await admin()).callers[0]).toMatchObject({ name: 'grafana', nansen_credits: { allowance: 30, spent_today: 5, in_flight: 0 } });
  });

  it('is charged what its requests caused upstream: nothing for cache hits, a shared load to the request that started it', async () => {
    const file = callersFile([
      { name: 'grafana', token: 'g-token', credits: 100 },
      { name: 'notebook', token: 'n-token', credits: 100 },
      { name: 'cron', token: 'c-token' },
    ]);
    stack = await startStack({ env: { ADMIN_TOKEN: ADMIN, CALLER_TOKENS_FILE: file } });
    const url = '/netflows?source=nansen&entity=smart_money,smart_money:fund&min_trader_count=3';
    const both = await Promise.all([get(url, 'g-token'), get(`${url}&limit=50`, 'n-token')]);
    expect(both.map((r) => r.statusCode)).toEqual([200, 200]);
    expect(stack.nansen.requests).toHaveLength(2);
    await get(url, 'g-token');
    await get(`${url}&format=csv`, 'n-token');
    expect(stack.nansen.requests).toHaveLength(2);
    const callers = (await admin()).callers as { name: string; nansen_credits?: { spent_today: number; in_flight: number } }[];
    const spent = callers.map((c) => c.nansen_credits?.spent_today);
    expect(spent[0]! + spent[1]!).toBe(10);
    expect(callers.map((c) => c.nansen_credits?.in_flight)).toEqual([0, 0, undefined]);
    const metrics = (await stack.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${ADMIN}` } })).body;
    expect(metrics).toContain('netflows_caller_nansen_credits{caller="grafana",kind="allowance"} 100');
    expect(metrics).toContain(`netflows_caller_nansen_credits{caller="notebook",kind="spent_today"} ${spent[1]}`);
    expect(metrics).toContain('netflows_nansen_credits_in_flight 0');
  });
});
