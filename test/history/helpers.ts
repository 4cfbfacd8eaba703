import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { History, type HistoryOptions } from '../../src/history/history.js';
import { PgliteDatabase } from '../../src/history/pglite.js';
import { PostgresDatabase } from '../../src/history/postgres.js';
import type { SqlDatabase } from '../../src/history/sql.js';
import type { NansenSnapshot } from '../../src/history/types.js';
import type { Timer } from '../../src/time.js';
import { freshPgliteDir } from '../pglite.js';
import { TestPostgres } from '../postgres.js';

export * from './builders.js';

export type Backend = 'postgresql' | 'pglite';
export const BACKENDS: Backend[] = ['postgresql', 'pglite'];

/** A History over a database of the test file's own, with a handle on the database to look inside. */
export class TestStore {
  db!: SqlDatabase;
  history!: History;

  private constructor(
    readonly backend: Backend,
    /** PostgreSQL: the URL of this test's database; PGlite: the data directory. */
    readonly where: string,
    readonly server: TestPostgres | undefined,
    private readonly options: Partial<HistoryOptions>,
  ) {}

  static async start(backend: Backend, options: Partial<HistoryOptions> = {}): Promise<TestStore> {
    const store =
      backend === 'postgresql'
        ? await TestPostgres.start().then(async (server) => new TestStore(backend, await server.createDatabase('history'), server, options))
        : new TestStore(backend, await freshPgliteDir(), undefined, options);
    await store.open();
    return store;
  }

  /** Closes the History and its database, and opens both again on the same data. */
  async reopen(): Promise<History> {
    await this.history.close();
    await this.open();
    return this.history;
  }

  /** A new database handle on the same data (PostgreSQL only: an embedded directory has one owner). */
  connect(): SqlDatabase {
    return new PostgresDatabase({ url: this.where, connectTimeoutMs: 1000, statementTimeoutMs: 3000 });
  }

  private async open(): Promise<void> {
    this.db = this.backend === 'postgresql' ? this.connect() : await PgliteDatabase.open(this.where);
    const db = this.db;
    this.history = new History({ open: async () => db, ...this.options });
    await this.history.ready;
  }

  async reset(): Promise<void> {
    await this.history.flush();
    await this.db.query('TRUNCATE nansen_fetches, nansen_rows, nansen_tokens, coinmetrics_days, recorder_hours, recorder_runs RESTART IDENTITY');
  }

  async record(...snapshots: NansenSnapshot[]): Promise<void> {
    for (const snapshot of snapshots) this.history.recordNansen(snapshot);
    await this.history.flush();
  }

  async count(table: string): Promise<number> {
    const [row] = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
    return row!.n;
  }

  async stop(): Promise<void> {
    await this.history?.close();
    if (this.server) await this.server.stop();
    else rmSync(dirname(this.where), { recursive: true, force: true });
  }
}

/** Runs test/history/child.ts; resolves with its output lines once it exits. */
export function child(args: string[], onLine?: (line: string, kill: () => void) => void): Promise<{ lines: string[]; code: number | null; signal: string | null }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'test/history/child.ts', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  createInterface({ input: proc.stdout }).on('line', (line) => {
    lines.push(line);
    onLine?.(line, () => proc.kill('SIGKILL'));
  });
  return new Promise((resolve) => proc.once('exit', (code, signal) => resolve({ lines, code, signal })));
}

/** Every recorded snapshot has all of its rows: no half snapshot. */
export async function halfSnapshots(db: SqlDatabase): Promise<{ snapshots: number; half: number }> {
  const [row] = await db.query<{ snapshots: number; half: number }>(
    `SELECT count(*)::int AS snapshots,
       count(*) FILTER (WHERE f.tokens <> (SELECT count(*) FROM nansen_rows r WHERE r.entity = f.entity AND r.taken_at = f.fetched_at))::int AS half
     FROM nansen_fetches f`,
  );
  return row!;
}

/** A Timer the test fires by hand: `fire()` runs what is scheduled so far, not what that schedules. */
export class ManualTimer {
  private pending: { run: () => void; ms: number; cancelled: boolean }[] = [];

  readonly timer: Timer = (run, ms) => {
    const entry = { run, ms, cancelled: false };
    this.pending.push(entry);
    return () => {
      entry.cancelled = true;
    };
  };

  /** Delays (ms) of the calls waiting. */
  get waiting(): number[] {
    return this.pending.filter((e) => !e.cancelled).map((e) => e.ms);
  }

  fire(): number {
    const due = this.pending.splice(0).filter((e) => !e.cancelled);
    for (const entry of due) entry.run();
    return due.length;
  }
}
