import pino from 'pino';

/** Most a turn's lines may hold before they are written without waiting for the turn to end (characters). */
const BATCH_CHARS = 64 * 1024;

/**
 * pino's stream (SonicBoom) to `dest` (a file descriptor or path), handed the lines of one
 * turn of the event loop at once instead of line by line: under load a turn answers many
 * requests, and each write is a system call that wakes another thread. A line waits at most
 * for the rest of its turn; what is still held at exit is written synchronously.
 */
export function batchedDestination(dest: number | string): NodeJS.WritableStream {
  const stream = pino.destination({ dest, sync: false });
  let pending = '';
  const flush = () => {
    if (pending === '') return;
    const text = pending;
    pending = '';
    stream.write(text);
  };
  process.once('exit', () => {
    flush();
    try {
      stream.flushSync();
    } catch {
      // Not open yet, or closed: nothing more can be written.
    }
  });
  const batched = {
    write(line: string): boolean {
      if (pending === '') setImmediate(flush);
      pending += line;
      if (pending.length >= BATCH_CHARS) flush();
      return true;
    },
  };
  return batched as unknown as NodeJS.WritableStream;
}
