import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NOW, startStack, type Stack } from '../helpers.js';
import { DAY, HOUR, ManualTimer, MINUTE, TestStore } from './helpers.js';

const ADMIN = 'admin-token-for-jobs-tests';
const admin = { authorization: `Bearer ${ADMIN}` };

/** The history's jobs on the embedded store (the replicas test runs them on PostgreSQL). */
describe('the recorder and the retention job on the embedded store', () => {
  let store: TestStore;
  let stack: Stack | undefined;
  beforeAll(async () => {
    store = await TestStore.start('pglite');
  }, 60_000);
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
    await store.reset();
  });
  afterAll(async () => store?.stop());

  async function until(done: () => Promise<boolean> | boolean): Promise<void> {
    for (let i = 0; i < 500; i++) {
      if (await done()) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('timed out waiting');
  }

  it("records within the source's daily credit cap: a set the budget refuses is skipped with its reason", async () => {
    const timer = new ManualTimer();
    stack = await startStack({
      history: store.history,
      timer: timer.timer,
      env: { ADMIN_TOKEN: ADMIN, NANSEN_RECORD: 'smart_money@all,smart_money:fund@all', NANSEN_DAILY_CREDIT_CAP: '5' },
    });
    stack.clock.now = NOW + 3 * MINUTE;
    await stack.app.ready();
    await until(() => stack!.logs.filter((l) => l.includes('recorder')).length >= 2);
    expect(stack.nansen.requests).toHaveLength(1);
    const skipped = JSON.parse(stack.logs.find((l) => l.includes('recorder skipped a set of the hour'))!) as Record<string, unknown>;
    expect(skipped).toMatchObject({ level: 40, source: 'nansen', set: 'smart_money:fund@all', hour: '2026-11-21T10:00:00Z' });
    expect(skipped.reason).toBe('budget_exhausted: the daily Nansen credit cap is reached: 5 of 5 spent today (UTC)');

    await store.history.flush();
    const report = (await stack.app.inject({ url: '/admin/history', headers: admin })).json();
    expect(report).toMatchObject({ state: 'ready', store: { kind: 'embedded', dir: store.where }, retention_days: 400 });
    expect(report.recorder).toEqual([
      {
        source: 'nansen',
        sets: ['smart_money@all', 'smart_money:fund@all'],
        daily_credits: null,
        credits_spent_today: 5,
        last_runs: [
          expect.objectContaining({ set: 'smart_money:fund@all', outcome: 'skipped', credits: 0, rows: 0 }),
          expect.objectContaining({ set: 'smart_money@all', outcome: 'recorded', credits: 5, started_at: '2026-11-21T10:03:00Z' }),
        ],
      },
    ]);
    const recorded = report.recorder[0].last_runs[1].rows as number;
    expect(recorded).toBeGreaterThan(100);
    expect(report.sources).toEqual([
      { source: 'nansen', rows: recorded, rows_estimated: false, bytes: expect.any(Number), earliest: '2026-11-21T10:03:00Z', latest: '2026-11-21T10:03:00Z' },
      { source: 'coinmetrics', rows: 0, rows_estimated: false, bytes: expect.any(Number), earliest: null, latest: null },
    ]);
    expect(report.writes).toMatchObject({ queued_rows: 0, written_rows: recorded, stored_rows: recorded, dropped_rows: 0 });

    const metrics = (await stack.app.inject({ url: '/metrics' })).body;
    expect(metrics).toContain('netflows_history_state{state="ready"} 1');
    expect(metrics).toContain(`netflows_history_rows_total{outcome="written"} ${recorded}`);
    expect(metrics).toContain('netflows_history_queue_rows 0');
    expect(metrics).toContain(`netflows_history_store_rows{source="nansen"} ${recorded}`);
    expect(metrics).toMatch(/netflows_history_store_bytes\{source="nansen"\} [1-9]/);
    expect(metrics).toMatch(/netflows_history_write_duration_seconds_count [1-9]/);
    expect(metrics).toContain('netflows_history_recorder_runs_total{source="nansen",set="smart_money@all",outcome="recorded"} 1');
    expect(metrics).toContain('netflows_history_recorder_credits_total{source="nansen"} 5');
    // The recorder's fresh page serves callers too: the same question is a hit.
    const leaderboard = await stack.app.inject({ url: '/netflows?source=nansen&window=24h&limit=1000' });
    expect(leaderboard.json().sources[1].cache).toBe('hit');
  });

  it('deletes what is older than HISTORY_RETENTION_DAYS on its timer', async () => {
    const timer = new ManualTimer();
    stack = await startStack({ history: store.history, timer: timer.timer, env: { HISTORY_RETENTION_DAYS: '1' } });
    stack.clock.now = NOW - 3 * DAY;
    // Its first turn runs once the store is ready, and ends by scheduling the next.
    await stack.app.ready();
    await until(() => timer.waiting.includes(HOUR));
    await stack.app.inject({ url: '/netflows?source=nansen&window=1h&limit=100' });
    stack.clock.now = NOW;
    await stack.app.inject({ url: '/netflows?source=nansen&window=1h&limit=100&min_trader_count=2' });
    await store.history.flush();
    expect(await store.count('nansen_fetches')).toBe(2);
    timer.fire();
    await until(async () => (await store.count('nansen_fetches')) === 1);
    expect(await store.count('nansen_rows')).toBeLessThanOrEqual(100);
    expect(stack.logs.some((l) => l.includes('history retention deleted old rows'))).toBe(true);
    await until(() => timer.waiting.includes(HOUR));
  });
});
