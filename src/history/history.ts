import { cellsOf, readDays, writeCells } from './coinmetrics-store.js';
import { HistoryOpenError, HistoryUnavailable, isTransient } from './errors.js';
import { deleteBefore, sourceStats, type RetentionResult, type SourceStats } from './maintenance.js';
import { migrate } from './migrations.js';
import { readAsOf, readSeries, writeSnapshots } from './nansen-store.js';
import { PgliteDatabase, type PgliteOptions } from './pglite.js';
import { PostgresDatabase, type PostgresOptions } from './postgres.js';
import { WriteQueue, type QueueCounters, type WriteQueueOptions } from './queue.js';
import { claimHour, creditsSince, deleteRunsBefore, latestRuns, saveRun, type RecorderRun } from './recorder-store.js';
import type { HistoryLocation, SqlDatabase } from './sql.js';
import type { AsOfAnswer, AsOfQuestion, CoinMetricsCell, HeldAssetDays, NansenSnapshot, SeriesAnswer, SeriesQuestion } from './types.js';

export { cellsOf };
export type { RecorderRun };

/** What the history logs: a pino logger fits. */
export interface HistoryLogger {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface HistoryOptions {
  /** Opens the database (once): `databaseFrom(...)` picks PostgreSQL or the embedded one. */
  open: () => Promise<SqlDatabase>;
  queue?: Pick<WriteQueueOptions<unknown>, 'maxRows' | 'batchRows' | 'retryMinMs' | 'retryMaxMs'>;
  /** `Retry-After` of a read refused while the store is opening or away (ms; default 5000). */
  retryAfterMs?: number;
  /** First wait before trying again to reach a server that is away at start; doubles up to 30 s (ms; default 500). */
  openRetryMs?: number;
  /** Rows per delete statement of the retention job (default 5000). */
  retentionBatch?: number;
  /** Hears of each committed batch (rows, rows stored, ms), e.g. for a latency histogram. */
  onWrite?: (rows: number, stored: number, ms: number) => void;
  logger?: HistoryLogger;
}

export type HistoryState = 'opening' | 'ready' | 'failed' | 'closed';

export interface HistoryStats {
  state: HistoryState;
  location: HistoryLocation | undefined;
  writes: QueueCounters;
  /** Per source; absent while the store cannot answer. */
  sources?: { nansen: SourceStats; coinmetrics: SourceStats };
}

type Item = { kind: 'nansen'; snapshot: NansenSnapshot } | { kind: 'coinmetrics'; cells: readonly CoinMetricsCell[] };

const SILENT: HistoryLogger = { info() {}, warn() {}, error() {} };

/**
 * The gateway's memory: Nansen snapshots and Coin Metrics days, written off the request
 * path through a bounded queue, read back by §8's rules. Opening takes seconds (the
 * embedded database) or waits for a server that is away, so it runs in the background:
 * `ready` settles when the store can answer (it rejects only when it never can, e.g. a
 * foreign `HISTORY_DIR`); until then reads are `HistoryUnavailable` and writes wait.
 */
export class History {
  readonly ready: Promise<void>;
  private db: SqlDatabase | undefined;
  private currentState: HistoryState = 'opening';
  private readonly queue: WriteQueue<Item>;
  private readonly logger: HistoryLogger;
  private readonly stopOpening = new AbortController();
  private readonly writeListeners: ((rows: number, stored: number, ms: number) => void)[] = [];

  constructor(private readonly options: HistoryOptions) {
    this.logger = options.logger ?? SILENT;
    this.queue = new WriteQueue<Item>({
      ...options.queue,
      write: (batch) => this.write(batch),
      rowsOf: (item) => (item.kind === 'nansen' ? Math.max(1, item.snapshot.tokens.length) : item.cells.length),
      isTransient,
      onWrite: (rows, stored, ms) => {
        for (const listener of this.writeListeners) listener(rows, stored, ms);
      },
      onError: (error, dropped) => this.logger.warn({ err: error, dropped }, dropped ? 'history write failed; batch dropped' : 'history write failed; will try again'),
    });
    if (options.onWrite) this.writeListeners.push(options.onWrite);
    this.ready = this.open();
    // `ready` is for whoever waits on it; a failure is also in `state` and the log.
    this.ready.catch(() => undefined);
  }

  get state(): HistoryState {
    return this.currentState;
  }

  get location(): HistoryLocation | undefined {
    return this.db?.location;
  }

  /** The write queue's counters now (no database round trip). */
  get writeCounters(): QueueCounters {
    return this.queue.stats();
  }

  /** Queues one Nansen upstream answer; never waits, never throws; false when dropped. */
  recordNansen(snapshot: NansenSnapshot): boolean {
    return this.queue.push({ kind: 'nansen', snapshot });
  }

  /** Queues Coin Metrics values (see `cellsOf`); never waits, never throws; false when dropped. */
  recordCoinMetrics(cells: readonly CoinMetricsCell[]): boolean {
    return cells.length === 0 || this.queue.push({ kind: 'coinmetrics', cells });
  }

  series(question: SeriesQuestion): Promise<SeriesAnswer> {
    return this.read((db) => readSeries(db, question));
  }

  asOf(question: AsOfQuestion): Promise<AsOfAnswer> {
    return this.read((db) => readAsOf(db, question));
  }

  coinMetricsDays(assets: readonly string[], exchanges: readonly string[], startDay: number, endDay: number): Promise<Map<string, HeldAssetDays>> {
    return this.read((db) => readDays(db, assets, exchanges, startDay, endDay));
  }

  /** Deletes what was recorded before `cutoff` (ms), and the recorder's runs of those hours. */
  retain(cutoff: number): Promise<RetentionResult & { recorderRuns: number }> {
    return this.read(async (db) => ({ ...(await deleteBefore(db, cutoff, this.options.retentionBatch ?? 5000)), recorderRuns: await deleteRunsBefore(db, cutoff) }));
  }

  /** Hears of each committed batch (rows, rows stored, ms), e.g. for a latency histogram. */
  onWrite(listener: (rows: number, stored: number, ms: number) => void): void {
    this.writeListeners.push(listener);
  }

  /** The recorder's turn: true when `replica` is the first to take `hour` (ms). */
  claimHour(hour: number, replica: string, now: number): Promise<boolean> {
    return this.read((db) => claimHour(db, hour, replica, now));
  }

  saveRecorderRun(run: RecorderRun): Promise<void> {
    return this.read((db) => saveRun(db, run));
  }

  recorderRuns(limit: number): Promise<RecorderRun[]> {
    return this.read((db) => latestRuns(db, limit));
  }

  /** Credits the recorder of `source` spent on hours from `since` (ms) on, by every replica sharing the store. */
  recorderCredits(source: string, since: number): Promise<number> {
    return this.read((db) => creditsSince(db, source, since));
  }

  async stats(): Promise<HistoryStats> {
    const base = { state: this.currentState, location: this.db?.location, writes: this.queue.stats() };
    try {
      return { ...base, sources: await this.read(sourceStats) };
    } catch (error) {
      if (error instanceof HistoryUnavailable) return base;
      throw error;
    }
  }

  /** Resolves when the store is open and nothing waits to be written. */
  async flush(): Promise<void> {
    await this.ready;
    await this.queue.idle();
  }

  /** Stops writing (a batch under way finishes; the rest is dropped and counted) and closes the database. */
  async close(): Promise<void> {
    this.stopOpening.abort();
    await this.ready.catch(() => undefined);
    await this.queue.close();
    this.currentState = 'closed';
    await this.db?.close();
  }

  private async open(): Promise<void> {
    let db: SqlDatabase;
    try {
      db = await this.options.open();
    } catch (error) {
      this.currentState = 'failed';
      throw error instanceof HistoryOpenError ? error : new HistoryOpenError(`the history store could not be opened (${messageOf(error)})`, { cause: error });
    }
    this.db = db;
    const embeddedDir = db.location.kind === 'embedded' && db.location.dir !== 'memory' ? db.location.dir : undefined;
    let waitMs = this.options.openRetryMs ?? 500;
    for (;;) {
      if (this.stopOpening.signal.aborted) return;
      try {
        const applied = await migrate(db, { embeddedDir });
        if (applied.length > 0) this.logger.info({ versions: applied }, 'history schema migrated');
        break;
      } catch (error) {
        if (!isTransient(error)) {
          this.currentState = 'failed';
          throw error instanceof HistoryOpenError ? error : new HistoryOpenError(`the history schema could not be applied (${messageOf(error)})`, { cause: error });
        }
        this.logger.warn({ err: error, retryInMs: waitMs }, 'history database unreachable; trying again');
        await abortableSleep(waitMs, this.stopOpening.signal);
        waitMs = Math.min(waitMs * 2, 30_000);
      }
    }
    this.currentState = 'ready';
    this.queue.start();
  }

  private async write(batch: readonly Item[]): Promise<number> {
    const db = this.db!;
    return db.transaction(async (tx) => {
      const snapshots = batch.flatMap((item) => (item.kind === 'nansen' ? [item.snapshot] : []));
      const cells = batch.flatMap((item) => (item.kind === 'coinmetrics' ? item.cells : []));
      return (await writeSnapshots(tx, snapshots)) + (await writeCells(tx, cells));
    });
  }

  private async read<T>(work: (db: SqlDatabase) => Promise<T>): Promise<T> {
    const retryAfterMs = this.options.retryAfterMs ?? 5000;
    if (this.currentState !== 'ready' || !this.db) {
      throw new HistoryUnavailable(this.currentState === 'opening' ? 'the history store is still opening' : `the history store is ${this.currentState}`, retryAfterMs);
    }
    try {
      return await work(this.db);
    } catch (error) {
      if (isTransient(error)) throw new HistoryUnavailable('the history store is unreachable or too slow', retryAfterMs, { cause: error });
      throw error;
    }
  }
}

export interface DatabaseChoice {
  /** PostgreSQL connection string; when absent, the embedded database. */
  databaseUrl?: string;
  /** The embedded database's directory; absent: in memory. */
  dir?: string;
  postgres?: Omit<PostgresOptions, 'url'>;
  pglite?: PgliteOptions;
}

/** The one place that chooses the adapter. */
export function databaseFrom(choice: DatabaseChoice): () => Promise<SqlDatabase> {
  const { databaseUrl } = choice;
  if (databaseUrl !== undefined) return async () => new PostgresDatabase({ ...choice.postgres, url: databaseUrl });
  return () => PgliteDatabase.open(choice.dir, choice.pglite);
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

function messageOf(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split('\n')[0]!.slice(0, 200);
}
