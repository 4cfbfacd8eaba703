import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { HistoryOpenError } from './errors.js';
import type { HistoryLocation, SqlDatabase, SqlRunner } from './sql.js';

/** Our mark in a data directory: which process has it open. */
const LOCK_FILE = 'netflows-history.pid';
/** Directories this process has open (a pid file with our own pid may also be a previous life's, e.g. pid 1 in a container). */
const openHere = new Set<string>();

/**
 * History in the embedded PostgreSQL (PGlite, PostgreSQL compiled to WebAssembly) in a
 * data directory of its own, or in memory when `dir` is undefined. One process at a time
 * may open a directory: a pid file in it says who has it. PGlite runs on the calling
 * thread and serialises every statement; its `transaction()` holds off other statements
 * until it ends, so a transaction here is as isolated as on a server.
 */
export class PgliteDatabase implements SqlDatabase {
  private constructor(
    private readonly db: PGlite,
    readonly location: HistoryLocation,
    /** The data directory this instance holds the pid file of. */
    private readonly lockedDir: string | undefined,
  ) {}

  /**
   * Opens (or creates) the database. A path that is a file, a non-empty folder that is not
   * a PostgreSQL data directory, a data directory PGlite cannot start, or one another live
   * process holds, is a `HistoryOpenError` naming the directory.
   */
  static async open(dir: string | undefined): Promise<PgliteDatabase> {
    if (dir === undefined) return new PgliteDatabase(await PGlite.create(), { kind: 'embedded', dir: 'memory' }, undefined);
    const path = resolve(dir);
    checkDataDir(path);
    lockDataDir(path);
    try {
      const db = await PGlite.create(path);
      await db.query('SELECT 1');
      return new PgliteDatabase(db, { kind: 'embedded', dir: path }, path);
    } catch (error) {
      unlock(path);
      throw new HistoryOpenError(`HISTORY_DIR ${path} could not be opened as an embedded PostgreSQL database (${describe(error)})`, { cause: error });
    }
  }

  async query<R extends object>(text: string, params: readonly unknown[] = []): Promise<R[]> {
    return (await this.db.query<R>(text, params as unknown[])).rows;
  }

  async transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    return this.db.transaction((tx) =>
      work({ query: async <R extends object>(text: string, params: readonly unknown[] = []) => (await tx.query<R>(text, params as unknown[])).rows }),
    );
  }

  async close(): Promise<void> {
    if (!this.db.closed) await this.db.close();
    if (this.lockedDir) unlock(this.lockedDir);
  }
}

function checkDataDir(path: string): void {
  if (!existsSync(path)) {
    mkdirSync(path, { recursive: true });
    return;
  }
  if (!statSync(path).isDirectory()) throw new HistoryOpenError(`HISTORY_DIR ${path} is not a directory`);
  const entries = readdirSync(path).filter((name) => name !== LOCK_FILE);
  if (entries.length === 0) return;
  if (!entries.includes('PG_VERSION')) {
    throw new HistoryOpenError(`HISTORY_DIR ${path} is neither empty nor a PostgreSQL data directory; give the history an empty directory of its own`);
  }
}

/** Takes the directory for this process, or names the live process that has it. A pid file left by a dead process is taken over. */
function lockDataDir(path: string): void {
  const lockPath = join(path, LOCK_FILE);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      openHere.add(path);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new HistoryOpenError(`HISTORY_DIR ${path} is not writable`, { cause: error });
      if (openHere.has(path)) throw new HistoryOpenError(`HISTORY_DIR ${path} is already open in this process`);
      const holder = Number(readFileSync(lockPath, 'utf8').trim());
      if (Number.isSafeInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw new HistoryOpenError(`HISTORY_DIR ${path} is in use by process ${holder}; one process at a time may open an embedded database`);
      }
      rmSync(lockPath, { force: true });
    }
  }
  throw new HistoryOpenError(`HISTORY_DIR ${path} could not be locked`);
}

function unlock(path: string): void {
  rmSync(join(path, LOCK_FILE), { force: true });
  openHere.delete(path);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n')[0]!.slice(0, 200) || 'unknown error';
}
