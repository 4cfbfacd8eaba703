export interface WriteQueueOptions<T> {
  /** Most rows waiting (those being written included); past it new items are dropped and counted (default 200000). */
  maxRows?: number;
  /** Most rows per batch, unless one item alone is larger (default 5000). */
  batchRows?: number;
  /** Waits between attempts while the database is away, doubling from min to max (ms; defaults 100 and 5000). */
  retryMinMs?: number;
  retryMaxMs?: number;
  /** Writes one batch in one transaction; resolves with the rows it stored (duplicates are not stored again). */
  write: (batch: readonly T[]) => Promise<number>;
  rowsOf: (item: T) => number;
  /** Whether a failed write is worth trying again (the database is away or busy) or its batch is dropped. */
  isTransient: (error: unknown) => boolean;
  /** Hears of a failed attempt: `dropped` when the batch is given up. Never throws into the queue. */
  onError?: (error: unknown, dropped: boolean) => void;
  /** Hears of each committed batch: its rows, rows stored, and how long the write took (ms). */
  onWrite?: (rows: number, stored: number, ms: number) => void;
}

export interface QueueCounters {
  queuedItems: number;
  queuedRows: number;
  /** Rows in committed batches, and of them, rows stored (not held before). */
  writtenRows: number;
  storedRows: number;
  /** Rows refused at the bound, given up after a non-transient error, or left at close. */
  droppedRows: number;
  droppedItems: number;
  batches: number;
  failedAttempts: number;
  /** Duration of the last committed batch (ms); null before the first. */
  lastWriteMs: number | null;
}

/**
 * A bounded queue that writes in batches, one at a time, off the caller's path. `push`
 * never waits and never throws. While the database is away, batches wait and are tried
 * again with backoff; new items wait behind them up to the bound, then are dropped and
 * counted. Nothing is written before `start()` (the store is still opening).
 */
export class WriteQueue<T> {
  private readonly items: T[] = [];
  private queuedRows = 0;
  private started = false;
  private closed = false;
  private draining: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private readonly counters = { writtenRows: 0, storedRows: 0, droppedRows: 0, droppedItems: 0, batches: 0, failedAttempts: 0, lastWriteMs: null as number | null };
  private readonly idleWaiters: (() => void)[] = [];

  constructor(private readonly options: WriteQueueOptions<T>) {}

  /** Queues an item; false when it was dropped (queue full or closed). */
  push(item: T): boolean {
    const rows = this.options.rowsOf(item);
    if (this.closed || this.queuedRows + rows > (this.options.maxRows ?? 200_000)) {
      this.counters.droppedRows += rows;
      this.counters.droppedItems++;
      return false;
    }
    this.items.push(item);
    this.queuedRows += rows;
    this.kick();
    return true;
  }

  /** Lets writes begin (the store is open). */
  start(): void {
    this.started = true;
    this.kick();
  }

  stats(): QueueCounters {
    return { queuedItems: this.items.length, queuedRows: this.queuedRows, ...this.counters };
  }

  /** Resolves when nothing is waiting (every item written or dropped), or at once when closed. */
  async idle(): Promise<void> {
    if (this.items.length === 0 || this.closed) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops: a batch being written finishes; what still waits is dropped and counted. */
  async close(): Promise<void> {
    this.closed = true;
    this.wake?.();
    await this.draining;
    this.counters.droppedItems += this.items.length;
    this.counters.droppedRows += this.queuedRows;
    this.items.length = 0;
    this.queuedRows = 0;
    this.notifyIdle();
  }

  private kick(): void {
    if (!this.started || this.closed || this.draining || this.items.length === 0) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.items.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    let retryMs = this.options.retryMinMs ?? 100;
    while (this.items.length > 0 && !this.closed) {
      const batch = this.nextBatch();
      const rows = batch.reduce((sum, item) => sum + this.options.rowsOf(item), 0);
      const began = performance.now();
      try {
        const stored = await this.options.write(batch);
        const ms = performance.now() - began;
        this.remove(batch.length, rows);
        Object.assign(this.counters, { writtenRows: this.counters.writtenRows + rows, storedRows: this.counters.storedRows + stored, batches: this.counters.batches + 1, lastWriteMs: ms });
        this.options.onWrite?.(rows, stored, ms);
        retryMs = this.options.retryMinMs ?? 100;
      } catch (error) {
        this.counters.failedAttempts++;
        const transient = this.options.isTransient(error);
        this.report(error, !transient);
        if (!transient) {
          this.remove(batch.length, rows);
          this.counters.droppedRows += rows;
          this.counters.droppedItems += batch.length;
          continue;
        }
        await this.sleep(retryMs);
        retryMs = Math.min(retryMs * 2, this.options.retryMaxMs ?? 5000);
      }
    }
    this.notifyIdle();
  }

  private nextBatch(): T[] {
    const limit = this.options.batchRows ?? 5000;
    const batch: T[] = [];
    let rows = 0;
    for (const item of this.items) {
      const size = this.options.rowsOf(item);
      if (batch.length > 0 && rows + size > limit) break;
      batch.push(item);
      rows += size;
    }
    return batch;
  }

  private remove(count: number, rows: number): void {
    this.items.splice(0, count);
    this.queuedRows -= rows;
  }

  private report(error: unknown, dropped: boolean): void {
    try {
      this.options.onError?.(error, dropped);
    } catch {
      // a listener's failure is not the queue's
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms).unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    }).then(() => {
      this.wake = undefined;
    });
  }

  private notifyIdle(): void {
    if (this.items.length > 0 && !this.closed) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}
