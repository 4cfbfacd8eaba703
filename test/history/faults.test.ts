import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { History } from '../../src/history/history.js';
import { PgliteDatabase } from '../../src/history/pglite.js';
import { PostgresDatabase } from '../../src/history/postgres.js';
import { freshPgliteDir } from '../pglite.js';
import { TestPostgres } from '../postgres.js';
import { D0, HOUR, snapshot, token } from './helpers.js';

const hourly = { interval: '1h' as const, start: D0 - HOUR, end: D0 + 100 * HOUR, entities: ['smart_money'], filters: {} };
const tokens = (n: number) => Array.from({ length: n }, (_, i) => token(`t${i}`, i));

/** Runs test/history/child.ts; resolves with its output lines once it exits. */
function child(args: string[], onLine?: (line: string, kill: () => void) => void): Promise<{ lines: string[]; code: number | null; signal: string | null }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'test/history/child.ts', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  createInterface({ input: proc.stdout }).on('line', (line) => {
    lines.push(line);
    onLine?.(line, () => proc.kill('SIGKILL'));
  });
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ lines, code, signal })));
}

/** Every recorded snapshot has all of its rows: no half snapshot. */
async function halfSnapshots(db: PostgresDatabase | PgliteDatabase): Promise<{ snapshots: number; half: number }> {
  const [row] = await db.query<{ snapshots: number; half: number }>(
    `SELECT count(*)::int AS snapshots,
       count(*) FILTER (WHERE f.tokens <> (SELECT count(*) FROM nansen_rows r WHERE r.entity = f.entity AND r.taken_at = f.fetched_at))::int AS half
     FROM nansen_fetches f`,
  );
  return row!;
}

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
    const history = new History({ open: async () => new PostgresDatabase({ url, statementTimeoutMs: 200 }) });
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
    expect(runs.map((r) => r.lines.at(-1)).sort()).toEqual(['[1]', '[]']);
    expect((await child(['migrate', url])).lines).toEqual(['[]']);
    expect((await server.sql('SELECT count(*)::int AS n FROM history_migrations', 'race')).rows).toEqual([{ n: 1 }]);
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

describe('with PGlite', () => {
  it('leaves no half snapshot when its process is killed with SIGKILL between writing its rows and committing them', async () => {
    const dir = await freshPgliteDir();
    try {
      const run = await child(['write', dir], (line, kill) => line === 'written 2' && kill());
      expect(run.signal).toBe('SIGKILL');
      expect(run.lines).not.toContain('committed 2');
      const db = await PgliteDatabase.open(dir);
      try {
        expect(await halfSnapshots(db)).toEqual({ snapshots: 2, half: 0 });
      } finally {
        await db.close();
      }
    } finally {
      rmSync(dirname(dir), { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses a read that waits too long for the busy embedded database as unavailable', async () => {
    const dir = await freshPgliteDir();
    const db = await PgliteDatabase.open(dir, { statementTimeoutMs: 200 });
    const history = new History({ open: async () => db });
    try {
      await history.ready;
      const busy = db.transaction((tx) => tx.query('SELECT pg_sleep(1)'));
      await expect(history.series(hourly)).rejects.toMatchObject({ name: 'HistoryUnavailable', message: 'the history store is unreachable or too slow' });
      await busy;
      expect((await history.series(hourly)).records).toEqual([]);
    } finally {
      await history.close();
      rmSync(dirname(dir), { recursive: true, force: true });
    }
  }, 60_000);

  it('refuses a HISTORY_DIR that is a file, a foreign folder, a corrupt database or held by a live process, naming it', async () => {
    const dir = await freshPgliteDir();
    const parent = dirname(dir);
    try {
      const file = join(parent, 'a-file');
      writeFileSync(file, 'x');
      await expect(PgliteDatabase.open(file)).rejects.toThrow(`HISTORY_DIR ${file} is not a directory`);
      writeFileSync(join(parent, 'notes.txt'), 'mine');
      await expect(PgliteDatabase.open(parent)).rejects.toThrow(`HISTORY_DIR ${parent} is neither empty nor a PostgreSQL data directory`);

      writeFileSync(join(dir, 'netflows-history.pid'), String(process.ppid));
      await expect(PgliteDatabase.open(dir)).rejects.toThrow(`HISTORY_DIR ${dir} is in use by process ${process.ppid}`);
      writeFileSync(join(dir, 'netflows-history.pid'), '999999999');

      const other = await PgliteDatabase.open(dir);
      await other.query('CREATE TABLE orders (id int)');
      await expect(PgliteDatabase.open(dir)).rejects.toThrow(`HISTORY_DIR ${dir} is already open in this process`);
      await other.close();
      const foreign = new History({ open: () => PgliteDatabase.open(dir) });
      await expect(foreign.ready).rejects.toThrow(`HISTORY_DIR ${dir} holds another application's database (tables public.orders)`);
      await foreign.close();

      writeFileSync(join(dir, 'PG_VERSION'), 'garbage\n');
      await expect(PgliteDatabase.open(dir)).rejects.toThrow(`HISTORY_DIR ${dir} could not be opened as an embedded PostgreSQL database`);
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  }, 60_000);
});
