import sonicBoom from 'sonic-boom';

/** Most a turn's lines may hold before they are written without waiting for the turn to end (characters). */
const BATCH_CHARS = 64 * 1024;
/** How long the exit waits for a destination that is full (a reader that stopped reading). */
const EXIT_FLUSH_MS = 2000;

/**
 * A SonicBoom stream to `dest` (a file descriptor or path), handed the lines of one turn of
 * the event loop at once instead of line by line: under load a turn answers many requests,
 * and each write is a system call that wakes another thread. A line waits at most for the
 * rest of its turn; what is still held at exit is written synchronously, for at most
 * EXIT_FLUSH_MS. A destination that fails (stdout whose reader has gone: EPIPE) is given up
 * with one line on stderr: the gateway goes on serving without its log rather than stopping.
 */
export function batchedDestination(dest: number | string): NodeJS.WritableStream {
  let exitDeadline = Infinity;
  const stream = new sonicBoom.SonicBoom({ dest, sync: false, retryEAGAIN: () => Date.now() < exitDeadline });
  let pending = '';
  let broken = false;
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (broken) return;
    broken = true;
    try {
      process.stderr.write(`log destination failed (${error.code ?? error.message}): log lines are dropped from now on\n`);
    } catch {
      // stderr is gone too: nothing left to tell.
    }
  });
  const flush = () => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    if (!broken) stream.write(text);
  };
  process.once('exit', () => {
    flush();
    if (broken) return;
    exitDeadline = Date.now() + EXIT_FLUSH_MS;
    try {
      stream.flushSync();
    } catch {
      // Not open yet, closed, or failing: nothing more can be written.
    }
  });
  const batched = {
    write(line: string): boolean {
      if (broken) return true;
      if (pending === '') setImmediate(flush);
      pending += line;
      if (pending.length >= BATCH_CHARS) flush();
      return true;
    },
  };
  return batched as unknown as NodeJS.WritableStream;
}
