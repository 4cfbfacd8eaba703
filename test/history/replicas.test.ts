import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { History } from '../../src/history/history.js';
import { PostgresDatabase } from '../../src/history/postgres.js';
import { NOW, startStack, type Stack } from '../helpers.js';
import { TestPostgres } from '../postgres.js';
import { HOUR, ManualTimer, MINUTE } from './helpers.js';

const ADMIN = 'admin-token-for-history-tests';

interface Replica {
  stack: Stack;
  history: History;
  timer: ManualTimer;
}

interface HistoryReport {
  state: string;
  writes: { queued_rows: number; dropped_rows: number; written_rows: number };
  recorder: { source: string; sets: string[]; daily_credits: number | null; credits_spent_today: number | null; last_runs: { hour: string; set: string; outcome: string; reason: string | null; credits: number; replica: string }[] }[];
}

describe('replicas on one PostgreSQL database', () => {
  let server: TestPostgres;
  const replicas: Replica[] = [];
  beforeAll(async () => {
    server = await TestPostgres.start();
  }, 60_000);
  afterEach(async () => {
    for (const r of replicas.splice(0)) {
      await r.stack.close();
      await r.history.close();
    }
  });
  afterAll(async () => server?.stop());

  async function replica(url: string, name: string, env: Record<string, string> = {}, history?: History): Promise<Replica> {
    const timer = new ManualTimer();
    const store = history ?? new History({ open: async () => new PostgresDatabase({ url, connectTimeoutMs: 500, statementTimeoutMs: 2000 }), retryAfterMs: 3000 });
    await store.ready;
    const stack = await startStack({ history: store, timer: timer.timer, replica: name, env: { ADMIN_TOKEN: ADMIN, ...env } });
    const made = { stack, history: store, timer };
    replicas.push(made);
    return made;
  }

  async function report(r: Replica): Promise<HistoryReport> {
    const response = await r.stack.app.inject({ url: '/admin/history', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as HistoryReport;
  }

  async function until(done: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 300; i++) {
      if (await done()) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('timed out waiting');
  }

  const nansenCalls = (rs: Replica[]) => rs.reduce((n, r) => n + r.stack.nansen.requests.length, 0);

  it('records each hour once, by whichever replica claims it, within the recorder credits all of them spent today', async () => {
    const url = await server.createDatabase('recorder');
    const env = { NANSEN_RECORD: 'smart_money@all,smart_money:fund@solana', NANSEN_RECORD_DAILY_CREDITS: '15' };
    const a = await replica(url, 'replica-a', env);
    const b = await replica(url, 'replica-b', env);
    // Both start at 10:00:00: within the hour's first 10 minutes, each tries to record it; one does.
    await Promise.all([a.stack.app.ready(), b.stack.app.ready()]);
    await until(async () => (await report(a)).recorder[0]!.last_runs.length === 2);
    expect(nansenCalls([a, b])).toBe(2);
    // The next hour is scheduled (beside the retention job's turn).
    expect(a.timer.waiting).toContain(HOUR);

    for (const r of [a, b]) r.stack.clock.now = NOW + HOUR;
    a.timer.fire();
    b.timer.fire();
    await until(async () => (await report(b)).recorder[0]!.last_runs.length === 4);
    expect(nansenCalls([a, b])).toBe(3);

    const seen = (await report(b)).recorder[0]!;
    expect(seen).toMatchObject({ source: 'nansen', sets: ['smart_money@all', 'smart_money:fund@solana'], daily_credits: 15, credits_spent_today: 15 });
    expect(seen.last_runs.map((r) => [r.hour, r.set, r.outcome, r.credits])).toEqual([
      ['2026-11-21T11:00:00Z', 'smart_money:fund@solana', 'skipped', 0],
      ['2026-11-21T11:00:00Z', 'smart_money@all', 'recorded', 5],
      ['2026-11-21T10:00:00Z', 'smart_money:fund@solana', 'recorded', 5],
      ['2026-11-21T10:00:00Z', 'smart_money@all', 'recorded', 5],
    ]);
    expect(seen.last_runs[0]!.reason).toBe("the recorder's daily credits are spent: 15 of 15 this UTC day, and a set costs 5");
    // Each hour was run by one replica, whichever it was.
    for (const hour of ['2026-11-21T10:00:00Z', '2026-11-21T11:00:00Z']) {
      expect(new Set(seen.last_runs.filter((r) => r.hour === hour).map((r) => r.replica)).size).toBe(1);
    }
    const skipper = [a, b].find((r) => r.stack.logs.some((l) => l.includes('recorder skipped a set of the hour')))!;
    expect(skipper.stack.logs.find((l) => l.includes('recorder skipped a set of the hour'))).toContain("the recorder's daily credits are spent");
    const metrics = (await skipper.stack.app.inject({ url: '/metrics' })).body;
    expect(metrics).toContain('netflows_history_recorder_runs_total{source="nansen",set="smart_money:fund@solana",outcome="skipped"} 1');
    // The snapshots it recorded answer the hourly series of either replica.
    await Promise.all([a.history.flush(), b.history.flush()]);
    for (const r of [a, b]) r.stack.clock.now = NOW + HOUR + 15 * MINUTE;
    const series = await b.stack.app.inject({ url: '/netflows?source=nansen&interval=1h&start=2026-11-21T09:00:00Z&end=2026-11-21T10:00:00Z&limit=1000' });
    expect(series.json().sources[1].coverage).toEqual({ buckets: 2, with_data: 2 });
  });

  it('shares Coin Metrics days: what replica A fetched, replica B does not fetch again, only the days it lacks', async () => {
    const url = await server.createDatabase('overlap');
    const a = await replica(url, 'replica-a');
    const b = await replica(url, 'replica-b');
    const span = (r: Replica) => r.stack.cm.requests.map((q) => `${q.query.assets} ${q.query.start_time}..${q.query.end_time}`);
    const october = await a.stack.app.inject({ url: '/netflows?interval=1d&asset=btc&entity=binance,coinbase&start=2026-10-01&end=2026-10-31&limit=1000' });
    expect(october.statusCode).toBe(200);
    await a.history.flush();
    const overlap = await b.stack.app.inject({ url: '/netflows?interval=1d&asset=btc&entity=binance,coinbase&start=2026-10-15&end=2026-11-10&limit=1000' });
    expect(overlap.statusCode).toBe(200);
    expect(span(a)).toEqual(['btc 2026-10-01..2026-10-31']);
    expect(span(b)).toEqual(['btc 2026-11-01..2026-11-10']);
    const fromA = october.json().data.filter((r: { period_start: string }) => r.period_start >= '2026-10-15');
    expect(overlap.json().data.filter((r: { period_start: string }) => r.period_start < '2026-11-01')).toEqual(fromA);
  });

  it('keeps answering while the database is killed mid-burst: live answers, history reads 503 with Retry-After, drops counted, writes resume by themselves', async () => {
    const url = await server.createDatabase('killed');
    const history = new History({ open: async () => new PostgresDatabase({ url, connectTimeoutMs: 500, statementTimeoutMs: 2000 }), retryAfterMs: 3000, queue: { maxRows: 350, retryMinMs: 20, retryMaxMs: 200 } });
    const r = await replica(url, 'replica-a', {}, history);
    const at = (ms: number) => (r.stack.clock.now = ms);
    at(NOW + 2 * MINUTE);
    expect((await r.stack.app.inject({ url: '/netflows?source=nansen&window=1h&limit=100' })).statusCode).toBe(200);
    await history.flush();
    const series = '/netflows?source=nansen&interval=1h&start=2026-11-21T09:00:00Z&end=2026-11-21T09:00:00Z';

    const statuses: number[] = [];
    const burst = Array.from({ length: 20 }, async (_, i) => {
      const url = i % 4 === 0 ? series : i % 4 === 1 ? '/netflows?source=coinmetrics&window=7d' : `/netflows?source=nansen&window=24h&min_market_cap_usd=${i + 1}`;
      const response = await r.stack.app.inject({ url });
      statuses.push(response.statusCode);
      if (response.statusCode === 503) {
        expect(response.json()).toMatchObject({ code: 'history_unavailable', status: 503 });
        expect(response.headers['retry-after']).toBe('3');
      }
      return response;
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    await server.kill();
    await Promise.all(burst);
    expect(statuses.filter((s) => s !== 200 && s !== 503)).toEqual([]);

    // Down: the history read is a 503, live answers go on (Coin Metrics fetched whole), pages recorded wait, then are dropped.
    r.stack.rendered.clear();
    const down = await r.stack.app.inject({ url: series });
    expect([down.statusCode, down.json().code, down.headers['retry-after']]).toEqual([503, 'history_unavailable', '3']);
    // A second apart each: Nansen's 15 calls a second (on the test's clock) are not what is tested.
    for (let i = 0; i < 5; i++) {
      at(NOW + 3 * MINUTE + i * 1000);
      expect((await r.stack.app.inject({ url: `/netflows?source=nansen&window=1h&limit=100&min_trader_count=${i}` })).statusCode).toBe(200);
    }
    expect((await r.stack.app.inject({ url: '/netflows?source=coinmetrics&interval=1d&asset=btc&entity=binance&start=2026-09-01&end=2026-09-30' })).statusCode).toBe(200);
    const during = await report(r);
    expect(during.writes.dropped_rows).toBeGreaterThan(0);
    expect((await r.stack.app.inject({ url: '/metrics' })).body).toMatch(/netflows_history_rows_total\{outcome="dropped"\} [1-9]/);

    await server.up();
    await until(async () => history.writeCounters.queuedRows === 0);
    const after = await r.stack.app.inject({ url: series });
    expect(after.statusCode).toBe(200);
    expect(after.json().data.length).toBeGreaterThan(0);
  });
});
