import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { Worker } from 'node:worker_threads';
import { HistoryOpenError } from './errors.js';
import type { HistoryLocation, SqlDatabase, SqlRunner } from './sql.js';

/** A statement to run, or the order to close. */
type WorkerRequest = { id: number; text: string; params: unknown[] } | { id: number; close: true };
type WorkerReply =
  | { id: number; rows: object[] }
  | { id: number; error: { message: string; code?: string } }
  | { id: number; closed: true }
  | { ready: true }
  | { failed: { message: string } };

/**
 * The embedded database's own thread, as plain JavaScript so that it runs the same from
 * source and built: it opens PGlite and answers `WorkerRequest`s with `WorkerReply`s.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { PGlite } = require(workerData.pglite);
const describe = (error) => (error instanceof Error ? error.message : String(error));
(async () => {
  let db;
  try {
    db = await PGlite.create(workerData.dir);
    await db.query('SELECT 1');
  } catch (error) {
    parentPort.postMessage({ failed: { message: describe(error) } });
    return;
  }
  parentPort.on('message', async (request) => {
    if (request.close) {
      await db.close();
      parentPort.postMessage({ id: request.id, closed: true });
      return;
    }
    try {
      const result = await db.query(request.text, request.params);
      parentPort.postMessage({ id: request.id, rows: result.rows });
    } catch (error) {
      const code = typeof error.code === 'string' ? error.code : undefined;
      parentPort.postMessage({ id: request.id, error: { message: describe(error), code } });
    }
  });
  parentPort.postMessage({ ready: true });
})();
`;

/** Our mark in a data directory: which process has it open. */
const LOCK_FILE = 'netflows-history.pid';
/** Directories this process has open (a pid file with our own pid may also be a previous life's, e.g. pid 1 in a container). */
const openHere = new Set<string>();

export interface PgliteOptions {
  /** A statement outside a transaction that has no answer after this fails as cancelled (ms; default 5000). */
  statementTimeoutMs?: number;
}

/** SQLSTATE query_canceled, what PostgreSQL says when `statement_timeout` fires. */
const QUERY_CANCELED = '57014';

/** A statement's failure, with its SQLSTATE when PostgreSQL gave one. */
class EmbeddedError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = 'EmbeddedDatabaseError';
  }
}

/**
 * History in the embedded PostgreSQL (PGlite: PostgreSQL compiled to WebAssembly) in a
 * data directory of its own, or in memory when `dir` is undefined. PGlite runs in a worker
 * thread of its own: its start takes seconds of CPU and each statement runs synchronously,
 * which on the main thread would hold up every request. One process at a time may open a
 * directory: a pid file in it says who has it. PGlite has one session, so statements are
 * sent one at a time here and a transaction holds off every other statement until it ends.
 */
export class PgliteDatabase implements SqlDatabase {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void }>();
  /** The end of the last statement or transaction queued: the session's turn. */
  private turn: Promise<unknown> = Promise.resolve();
  private stopped: Error | undefined;

  private constructor(
    private readonly worker: Worker,
    readonly location: HistoryLocation,
    /** The data directory this instance holds the pid file of. */
    private readonly lockedDir: string | undefined,
    private readonly statementTimeoutMs: number,
  ) {
    worker.on('message', (reply: WorkerReply) => {
      if (!('id' in reply)) return;
      this.pending.get(reply.id)?.resolve(reply);
      this.pending.delete(reply.id);
    });
    const fail = (error: Error) => {
      this.stopped ??= error;
      for (const { reject } of this.pending.values()) reject(this.stopped);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', () => fail(new EmbeddedError('the embedded database stopped')));
  }

  /**
   * Opens (or creates) the database. A path that is a file, a non-empty folder that is not
   * a PostgreSQL data directory, a data directory PGlite cannot start, or one another live
   * process holds, is a `HistoryOpenError` naming the directory.
   */
  static async open(dir: string | undefined, options: PgliteOptions = {}): Promise<PgliteDatabase> {
    const timeoutMs = options.statementTimeoutMs ?? 5000;
    if (dir === undefined) return new PgliteDatabase(await startWorker(undefined), { kind: 'embedded', dir: 'memory' }, undefined, timeoutMs);
    const path = resolve(dir);
    checkDataDir(path);
    lockDataDir(path);
    try {
      return new PgliteDatabase(await startWorker(path), { kind: 'embedded', dir: path }, path, timeoutMs);
    } catch (error) {
      unlock(path);
      throw new HistoryOpenError(`HISTORY_DIR ${path} could not be opened as an embedded PostgreSQL database (${describe(error)})`, { cause: error });
    }
  }

  /** A statement outside a transaction (the reads), given up after `statementTimeoutMs` counted from the call, waiting for its turn included. */
  query<R extends object>(text: string, params: readonly unknown[] = []): Promise<R[]> {
    const result = this.inTurn(() => this.run<R>(text, params));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new EmbeddedError('canceling statement due to statement timeout', QUERY_CANCELED)), this.statementTimeoutMs);
    });
    return Promise.race([result, late]).finally(() => clearTimeout(timer));
  }

  transaction<T>(work: (tx: SqlRunner) => Promise<T>): Promise<T> {
    return this.inTurn(async () => {
      await this.run('BEGIN');
      try {
        const result = await work({ query: (text, params = []) => this.run(text, params) });
        await this.run('COMMIT');
        return result;
      } catch (error) {
        await this.run('ROLLBACK').catch(() => undefined);
        throw error;
      }
    });
  }

  async close(): Promise<void> {
    try {
      if (!this.stopped) await this.inTurn(() => this.send({ id: ++this.nextId, close: true }));
    } finally {
      await this.worker.terminate();
      if (this.lockedDir) unlock(this.lockedDir);
    }
  }

  private inTurn<T>(work: () => Promise<T>): Promise<T> {
    const result = this.turn.then(work);
    this.turn = result.catch(() => undefined);
    return result;
  }

  private async run<R extends object>(text: string, params: readonly unknown[] = []): Promise<R[]> {
    const reply = await this.send({ id: ++this.nextId, text, params: [...params] });
    if ('error' in reply) throw new EmbeddedError(reply.error.message, reply.error.code);
    return 'rows' in reply ? (reply.rows as R[]) : [];
  }

  private send(request: WorkerRequest): Promise<WorkerReply> {
    if (this.stopped) return Promise.reject(this.stopped);
    return new Promise((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject });
      this.worker.postMessage(request);
    });
  }
}

/** Starts the worker and waits until PGlite is up in it; rejects with PGlite's own reason. */
async function startWorker(dir: string | undefined): Promise<Worker> {
  const pglite = createRequire(import.meta.url).resolve('@electric-sql/pglite');
  // No inherited flags: the source is CommonJS whatever the process was started with (e.g. --input-type=module).
  const worker = new Worker(WORKER_SOURCE, { eval: true, execArgv: [], workerData: { dir, pglite } });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.once('message', (reply: WorkerReply) => ('ready' in reply ? resolve() : reject(new Error('failed' in reply ? reply.failed.message : 'no answer'))));
      worker.once('error', reject);
      worker.once('exit', (code) => reject(new Error(`the embedded database exited with ${code}`)));
    });
    return worker;
  } catch (error) {
    await worker.terminate();
    throw error;
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
