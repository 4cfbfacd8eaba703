import { describe, expect, it } from 'vitest';
import { WriteQueue } from '../../src/history/queue.js';

/** A write the test releases by hand; it records what each batch held. */
function gatedWriter() {
  const batches: number[][] = [];
  let failWith: unknown;
  let open!: () => void;
  let gate = new Promise<void>((resolve) => (open = resolve));
  return {
    batches,
    failNext(error: unknown) {
      failWith = error;
    },
    release() {
      open();
    },
    hold() {
      gate = new Promise<void>((resolve) => (open = resolve));
    },
    async write(batch: readonly number[]) {
      await gate;
      if (failWith !== undefined) {
        const error = failWith;
        failWith = undefined;
        throw error;
      }
      batches.push([...batch]);
      return batch.length;
    },
  };
}

const away = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
const transient = (error: unknown) => error === away;

describe('the write queue', () => {
  it('never waits: past its bound it drops and counts, and writes the rest in order, batched while a write is under way', async () => {
    const writer = gatedWriter();
    const queue = new WriteQueue<number>({ maxRows: 25, batchRows: 10, write: (b) => writer.write(b), rowsOf: () => 5, isTransient: transient });
    queue.start();
    const accepted = [1, 2, 3, 4, 5, 6, 7].map((n) => queue.push(n));
    expect(accepted).toEqual([true, true, true, true, true, false, false]);
    expect(queue.stats()).toMatchObject({ queuedItems: 5, queuedRows: 25, droppedItems: 2, droppedRows: 10 });
    writer.release();
    await queue.idle();
    expect(writer.batches).toEqual([[1], [2, 3], [4, 5]]);
    expect(queue.stats()).toMatchObject({ queuedItems: 0, queuedRows: 0, writtenRows: 25, storedRows: 5, batches: 3 });
  });

  it('writes nothing before start, then everything that waited', async () => {
    const writer = gatedWriter();
    writer.release();
    const queue = new WriteQueue<number>({ write: (b) => writer.write(b), rowsOf: () => 1, isTransient: transient });
    queue.push(1);
    queue.push(2);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writer.batches).toEqual([]);
    queue.start();
    await queue.idle();
    expect(writer.batches).toEqual([[1, 2]]);
  });

  it('keeps a batch that failed because the database is away, and writes it when it is back', async () => {
    const writer = gatedWriter();
    const errors: boolean[] = [];
    const queue = new WriteQueue<number>({ retryMinMs: 1, write: (b) => writer.write(b), rowsOf: () => 1, isTransient: transient, onError: (_e, dropped) => errors.push(dropped) });
    queue.start();
    writer.failNext(away);
    queue.push(1);
    writer.release();
    await queue.idle();
    expect(errors).toEqual([false]);
    expect(writer.batches).toEqual([[1]]);
    expect(queue.stats()).toMatchObject({ failedAttempts: 1, droppedRows: 0, writtenRows: 1 });
  });

  it('drops and counts a batch the database refuses for good, and goes on with the next', async () => {
    const writer = gatedWriter();
    const errors: boolean[] = [];
    const queue = new WriteQueue<number>({ batchRows: 1, write: (b) => writer.write(b), rowsOf: () => 1, isTransient: transient, onError: (_e, dropped) => errors.push(dropped) });
    queue.start();
    writer.failNext(Object.assign(new Error('value too long'), { code: '22001' }));
    queue.push(1);
    queue.push(2);
    writer.release();
    await queue.idle();
    expect(errors).toEqual([true]);
    expect(writer.batches).toEqual([[2]]);
    expect(queue.stats()).toMatchObject({ droppedItems: 1, droppedRows: 1, writtenRows: 1 });
  });

  it('on close, lets the batch under way finish and drops what still waits', async () => {
    const writer = gatedWriter();
    const queue = new WriteQueue<number>({ batchRows: 1, write: (b) => writer.write(b), rowsOf: () => 1, isTransient: transient });
    queue.start();
    queue.push(1);
    queue.push(2);
    const closed = queue.close();
    expect(queue.push(3)).toBe(false);
    writer.release();
    await closed;
    expect(writer.batches).toEqual([[1]]);
    expect(queue.stats()).toMatchObject({ queuedRows: 0, writtenRows: 1, droppedRows: 2 });
  });
});
