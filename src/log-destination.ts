import { fstatSync, openSync, writeSync } from 'node:fs';
import { Socket } from 'node:net';

/** Most a turn's lines may hold before they are written without waiting for the turn to end (characters). */
const BATCH_CHARS = 64 * 1024;
/** Most a destination that is not keeping up may have waiting; lines past it are dropped and counted. */
const MAX_HELD_BYTES = 8 * 1024 * 1024;
/** How long the exit waits for a destination that is full (a reader that stopped reading). */
const EXIT_FLUSH_MS = 2000;
/** While the destination is full, it is tried again after 1 ms, then twice as long each time, up to 64 ms. */
const FIRST_RETRY_MS = 1;
const LAST_RETRY_MS = 64;

/** Log lines this process did not write: its destination was not keeping up (`behind`) or had failed (`failed`). */
const droppedLines = { behind: 0, failed: 0 };

export function droppedLogLines(): Readonly<typeof droppedLines> {
  return droppedLines;
}

/**
 * A log destination on `dest` (a file descriptor or a file to append to), handed the lines
 * of one turn of the event loop at once instead of line by line: under load a turn answers
 * many requests, and each write is a system call. A line waits at most for the rest of its
 * turn. Writes never block: a pipe or socket is switched to non-blocking mode, and what it
 * does not take at once waits, up to MAX_HELD_BYTES, for later tries; past that, lines are
 * dropped, counted (droppedLogLines, for /metrics) and their number said on stderr once the
 * destination keeps up again. What is still held at exit is written for at most
 * EXIT_FLUSH_MS. A destination that fails (stdout whose reader has gone: EPIPE) is given up
 * with one line on stderr: the gateway goes on serving without its log rather than stopping.
 */
export function batchedDestination(dest: number | string): NodeJS.WritableStream {
  const fd = typeof dest === 'number' ? dest : openSync(dest, 'a');
  neverBlock(fd);
  const held = new HeldWrites(fd);
  let pending = '';
  const flush = () => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    held.add(text);
  };
  process.once('exit', () => {
    flush();
    held.writeBeforeExit(EXIT_FLUSH_MS);
  });
  const batched = {
    write(line: string): boolean {
      if (held.broken) {
        droppedLines.failed++;
        return true;
      }
      if (pending === '') setImmediate(flush);
      pending += line;
      if (pending.length >= BATCH_CHARS) flush();
      return true;
    },
  };
  return batched as unknown as NodeJS.WritableStream;
}

/**
 * A pipe or socket in blocking mode (as a parent process usually hands it over) holds a
 * write, and the process's exit with it, for as long as its reader does not read. Opening a
 * libuv stream on the descriptor switches it to non-blocking mode, as Node does for its own
 * stdout the first time it is used.
 */
function neverBlock(fd: number): void {
  const stat = fstatSync(fd);
  if (!stat.isFIFO() && !stat.isSocket()) return;
  if (fd === 1) void process.stdout;
  else if (fd === 2) void process.stderr;
  else new Socket({ fd, readable: false, writable: true });
}

/** Bytes written to a non-blocking descriptor in order, with what it could not take yet held for later tries. */
class HeldWrites {
  broken = false;
  private readonly chunks: Buffer[] = [];
  /** How much of chunks[0] is written. */
  private written = 0;
  private bytes = 0;
  /** Lines dropped since stderr last said how many. */
  private droppedSinceReport = 0;
  private retry: NodeJS.Timeout | undefined;
  private retryMs = FIRST_RETRY_MS;

  constructor(private readonly fd: number) {}

  add(text: string): void {
    if (this.broken) {
      droppedLines.failed += countLines(text);
      return;
    }
    const chunk = Buffer.from(text);
    if (this.bytes + chunk.length > MAX_HELD_BYTES) {
      this.drop(text);
      return;
    }
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.retry === undefined) this.writeOrRetry();
  }

  writeBeforeExit(waitMs: number): void {
    clearTimeout(this.retry);
    const deadline = Date.now() + waitMs;
    while (!this.writeHeld() && Date.now() < deadline) sleepSync(5);
    const unwritten = this.heldLines();
    if (unwritten > 0) tellStderr(`${unwritten} log lines were not written at exit: the log destination did not take them within ${waitMs / 1000} s`);
    if (this.droppedSinceReport > 0) tellStderr(`${this.droppedSinceReport} log lines were dropped while the log destination was not keeping up`);
  }

  private writeOrRetry = (): void => {
    this.retry = undefined;
    const before = this.bytes;
    if (this.writeHeld()) {
      this.retryMs = FIRST_RETRY_MS;
      if (this.droppedSinceReport > 0) {
        tellStderr(`log destination caught up: ${this.droppedSinceReport} log lines were dropped`);
        this.droppedSinceReport = 0;
      }
      return;
    }
    this.retryMs = this.bytes < before ? FIRST_RETRY_MS : Math.min(this.retryMs * 2, LAST_RETRY_MS);
    this.retry = setTimeout(this.writeOrRetry, this.retryMs).unref();
  };

  /** Writes what is held until all of it is written (true), the destination is full or it failed. */
  private writeHeld(): boolean {
    while (this.chunks.length > 0) {
      const chunk = this.chunks[0]!;
      let written: number;
      try {
        written = writeSync(this.fd, chunk, this.written);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EAGAIN') return false;
        this.fail(error as NodeJS.ErrnoException);
        return true;
      }
      this.written += written;
      this.bytes -= written;
      if (this.written === chunk.length) {
        this.chunks.shift();
        this.written = 0;
      }
    }
    return true;
  }

  /** Lines held and not yet written whole. */
  private heldLines(): number {
    return this.chunks.reduce((lines, chunk, i) => lines + countLines(i === 0 ? chunk.subarray(this.written) : chunk), 0);
  }

  private drop(text: string): void {
    if (this.droppedSinceReport === 0) tellStderr(`log destination is not keeping up (${MAX_HELD_BYTES / 1024 / 1024} MiB waiting): dropping log lines until it does`);
    const lines = countLines(text);
    this.droppedSinceReport += lines;
    droppedLines.behind += lines;
  }

  private fail(error: NodeJS.ErrnoException): void {
    this.broken = true;
    droppedLines.failed += this.heldLines();
    this.chunks.length = 0;
    this.bytes = 0;
    tellStderr(`log destination failed (${error.code ?? error.message}): log lines are dropped from now on`);
  }
}

function countLines(text: string | Buffer): number {
  let lines = 0;
  for (let at = text.indexOf('\n'); at !== -1; at = text.indexOf('\n', at + 1)) lines++;
  return lines;
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function tellStderr(message: string): void {
  try {
    process.stderr.write(`${message}\n`);
  } catch {
    // stderr is gone too: nothing left to tell.
  }
}
