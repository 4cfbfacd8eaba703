import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { History } from '../../src/history/history.js';
import { migrate, MIGRATIONS } from '../../src/history/migrations.js';
import { writeSnapshots } from '../../src/history/nansen-store.js';
import { PostgresDatabase } from '../../src/history/postgres.js';
import { TestPostgres } from '../postgres.js';
import { child, D0, halfSnapshots, HOUR, snapshot, token } from './helpers.js';

const hourly = { interval: '1h' as const, start: D0 - HOUR, end: D0 + 100 * HOUR, entities: ['smart_money'], filters: {} };
const tokens = (n: number) => Array.from({ length: n }, (_, i) => token(`t${i}`, i));

describe('with PostgreSQL', () => {
  let server: TestPostgres;
  beforeAll(async () => {
    server = await TestPostgres.start();
  }, 60_000);
  afterAll(async () => server?.stop());

  it('keeps answering through a database killed mid-burst: no throw, drops counted, writes resume by themselves', async () => {
    const url = await server.createDatabase('burst');
    const history = new History({ open: async () => new PostgresDatabase({ url, connectTimeoutMs: 500 }), queue: { maxRows: 3000, retryMinMs: 20, retryMaxMs: 200 } });
    try {
      await history.ready;
      for (let h = 0; h < 5; h++) history.recordNansen(snapshot(D0 + h * HOUR, tokens(100)));
      await server.kill();
      const accepted = Array.from({ length: 50 }, (_, i) => history.recordNansen(snapshot(D0 + (10 + i) * HOUR, tokens(100))));
      expect(accepted.filter(Boolean).length).toBeLessThanOrEqual(30);
      expect(accepted.slice(30)).toEqual(Array(20).fill(false));
      await expect(history.series(hourly)).rejects.toMatchObject({ name: 'HistoryUnavailable', retryAfterMs: 5000 });
      const down = await history.stats();
      expect(down.sources).toBeUndefined();
      expect(down.writes.droppedRows).toBe(100 * accepted.filter((a) => !a).length);

      await server.up();
      await history.flush();
      const up = await history.stats();
      expect(up.writes).toMatchObject({ queuedRows: 0, droppedRows: down.writes.droppedRows });
      expect(up.writes.failedAttempts).toBeGreaterThan(0);
      expect(up.sources?.nansen.rows).toBe(up.writes.storedRows);
      expect(up.sources?.nansen.rows).toBe(5500 - up.writes.droppedRows);
      expect((await history.series(hourly)).coverage.with_data).toBe(up.sources!.nansen.rows / 100);
    } finally {
      await history.close();
    }
  });

  it('refuses a read that the database is too slow to answer as unavailable', async () => {
    const url = await server.createDatabase('slow');
    const history = new History({ open: async () => new PostgresDatabase({ url, statementTimeoutMs: 1000 }) });
    const locker = new PostgresDatabase({ url });
    try {
      await history.ready;
      let unlock!: () => void;
      const held = new Promise<void>((resolve) => (unlock = resolve));
      let locked!: () => void;
      const lockTaken = new Promise<void>((resolve) => (locked = resolve));
      const holding = locker.transaction(async (tx) => {
        await tx.query('LOCK TABLE nansen_rows IN ACCESS EXCLUSIVE MODE');
        locked();
        await held;
      });
      await lockTaken;
      await expect(history.series(hourly)).rejects.toMatchObject({ name: 'HistoryUnavailable', message: 'the history store is unreachable or too slow' });
      unlock();
      await holding;
      expect((await history.series(hourly)).records).toEqual([]);
    } finally {
      await locker.close();
      await history.close();
    }
  });

  it('starts while the database is away and becomes ready when it is back', async () => {
    const url = await server.createDatabase('late');
    await server.kill();
    const history = new History({ open: async () => new PostgresDatabase({ url, connectTimeoutMs: 500 }), openRetryMs: 20 });
    try {
      expect(history.recordNansen(snapshot(D0, tokens(3)))).toBe(true);
      await expect(history.series(hourly)).rejects.toMatchObject({ name: 'HistoryUnavailable', message: 'the history store is still opening' });
      await server.up();
      await history.flush();
      expect(history.state).toBe('ready');
      expect((await history.stats()).sources?.nansen.rows).toBe(3);
    } finally {
      await history.close();
    }
  });

  it('migrates once when two processes start at once, and again finds nothing to do', async () => {
    const url = await server.createDatabase('race');
    const runs = await Promise.all([child(['migrate', url]), child(['migrate', url])]);
    expect(runs.map((r) => r.code)).toEqual([0, 0]);
    expect(runs.map((r) => r.lines.at(-1)).sort()).toEqual([JSON.stringify(MIGRATIONS.map((m) => m.version)), '[]']);
    expect((await child(['migrate', url])).lines).toEqual(['[]']);
    expect((await server.sql('SELECT count(*)::int AS n FROM history_migrations', 'race')).rows).toEqual([{ n: MIGRATIONS.length }]);
  });

  it('survives a server killed while connections change hands (regression: an uncaught pg error stopped the process)', async () => {
    // pg-pool hands a freed connection to a waiting transaction in the same turn as the answer
    // that freed it; a FATAL read in the same chunk found no listener and was thrown.
    let uncaught = 0;
    const count = () => uncaught++;
    process.on('uncaughtException', count);
    try {
      for (let round = 0; round < 8; round++) {
        const db = new PostgresDatabase({ url: server.url(), poolSize: 1, connectTimeoutMs: 500 });
        let stop = false;
        const loops = Array.from({ length: 20 }, async (_, i) => {
          while (!stop) {
            await (i % 2 ? db.query('SELECT 1') : db.transaction((tx) => tx.query('SELECT 1'))).catch(() => new Promise((r) => setTimeout(r, 5)));
          }
        });
        await new Promise((r) => setTimeout(r, 100));
        await server.kill();
        await new Promise((r) => setTimeout(r, 150));
        stop = true;
        await Promise.all(loops);
        await db.close();
        await server.up();
      }
    } finally {
      process.off('uncaughtException', count);
    }
    expect(uncaught).toBe(0);
  }, 60_000);

  it("upgrades a database of the first version to the recorder's tables, keeping what it holds", async () => {
    const db = new PostgresDatabase({ url: await server.createDatabase('upgrade') });
    try {
      expect(await migrate(db, {}, MIGRATIONS.slice(0, 1))).toEqual([1]);
      await db.transaction((tx) => writeSnapshots(tx, [snapshot(D0, tokens(3))]));
      expect(await migrate(db)).toEqual(MIGRATIONS.slice(1).map((m) => m.version));
      expect(await db.query('SELECT count(*)::int AS n FROM nansen_rows')).toEqual([{ n: 3 }]);
      expect(await db.query('SELECT count(*)::int AS n FROM recorder_runs')).toEqual([{ n: 0 }]);
    } finally {
      await db.close();
    }
  });

  it('leaves no half snapshot when a writer is killed with SIGKILL between writing its rows and committing them', async () => {
    const url = await server.createDatabase('killed');
    const run = await child(['write', url], (line, kill) => line === 'written 2' && kill());
    expect(run.signal).toBe('SIGKILL');
    expect(run.lines).not.toContain('committed 2');
    const db = new PostgresDatabase({ url });
    try {
      expect(await halfSnapshots(db)).toEqual({ snapshots: 2, half: 0 });
    } finally {
      await db.close();
    }
  });
});

