import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { History } from '../../src/history/history.js';
import { PgliteDatabase } from '../../src/history/pglite.js';
import { freshPgliteDir } from '../pglite.js';
import { child, D0, halfSnapshots, HOUR } from './helpers.js';

const hourly = { interval: '1h' as const, start: D0 - HOUR, end: D0 + 100 * HOUR, entities: ['smart_money'], filters: {} };

describe('with PGlite', () => {
  it('starts its worker in a process started with --input-type=module', () => {
    const script = `const { PgliteDatabase } = await import('./src/history/pglite.ts'); const db = await PgliteDatabase.open(undefined); console.log(JSON.stringify(await db.query('SELECT 1 AS one'))); await db.close();`;
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(run.stdout.trim()).toBe('[{"one":1}]');
  }, 60_000);

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
    const db = await PgliteDatabase.open(dir, { statementTimeoutMs: 1500 });
    const history = new History({ open: async () => db });
    try {
      await history.ready;
      const busy = db.transaction((tx) => tx.query('SELECT pg_sleep(4)'));
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
