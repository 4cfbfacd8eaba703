import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseRateLimits } from '../../src/config.js';
import { FailoverBudgetStore } from '../../src/budget/failover-store.js';
import { MemoryBudgetStore, type BudgetStore } from '../../src/budget/store.js';
import { RedisBudgetStore } from '../../src/redis/budget-store.js';
import { RedisCacheTier } from '../../src/redis/cache-tier.js';
import { RedisConnection } from '../../src/redis/connection.js';
import { TestRedis } from '../processes.js';

let redis: TestRedis;
let connection: RedisConnection;
let prefix = 0;
beforeAll(async () => {
  redis = await TestRedis.start();
  connection = new RedisConnection({ url: redis.url, keyPrefix: 'store-test:', logger: pino({ level: 'silent' }) });
  await connection.waitUntilReady(2000);
});
afterAll(async () => {
  await connection.close();
  await redis.kill();
});

const limits = parseRateLimits('3/1s,5/10s')!;
const stores: [string, () => BudgetStore][] = [
  ['memory', () => new MemoryBudgetStore()],
  ['redis', () => new RedisBudgetStore(connection)],
];

describe.each(stores)('%s budget store', (_name, make) => {
  it('takes from every window or none, and says when budget returns', async () => {
    const store = make();
    const key = `k${++prefix}`;
    const t0 = 1_000_000;
    for (let i = 0; i < 3; i++) expect((await store.take(key, limits, t0 + i)).granted).toBe(true);
    const refused = await store.take(key, limits, t0 + 10);
    expect(refused).toMatchObject({ granted: false, retryAfterMs: 990 });
    expect(refused.windows.map((w) => w.remaining)).toEqual([0, 2]);
    expect((await store.take(key, limits, t0 + 1000)).granted).toBe(true);
    expect((await store.take(key, limits, t0 + 1001)).granted).toBe(true);
    const tenSecond = await store.take(key, limits, t0 + 1002);
    expect(tenSecond).toMatchObject({ granted: false, retryAfterMs: 10_000 - 1002 });
    expect((await store.peek(key, limits, t0 + 1002)).map((w) => [w.remaining, w.refillsInMs])).toEqual([
      [1, 998],
      [0, 8998],
    ]);
  });

  it('counts uses the upstream reported', async () => {
    const store = make();
    const key = `k${++prefix}`;
    await store.consume(key, limits[0]!, 2, 5000, 1000);
    expect((await store.take(key, limits, 1000)).windows[0]!.remaining).toBe(0);
    expect((await store.take(key, limits, 1001)).granted).toBe(false);
  });

  it('caps slots, frees them on release and when their lease ends', async () => {
    const store = make();
    const key = `s${++prefix}`;
    const t0 = Date.now();
    const a = await store.acquireSlot(key, 2, t0 + 10_000, t0);
    const b = await store.acquireSlot(key, 2, t0 + 5_000, t0);
    expect(a && b).toBeTruthy();
    expect(await store.acquireSlot(key, 2, t0 + 10_000, t0 + 1)).toBeUndefined();
    await store.releaseSlot(key, a!);
    expect(await store.slots(key, t0 + 2)).toBe(1);
    expect(await store.slots(key, t0 + 5_000)).toBe(0);
  });

  it('keeps numbers, with expiry', async () => {
    const store = make();
    const key = `n${++prefix}`;
    await store.setNumber(key, 42);
    expect(await store.addNumber(key, -5)).toBe(37);
    expect(await store.getNumber(key)).toBe(37);
    expect(await store.getNumber(`${key}-none`)).toBeUndefined();
  });
});

describe('RedisCacheTier', () => {
  it('stores entries with their freshness and grants one lease at a time', async () => {
    const tier = new RedisCacheTier(connection);
    await tier.set('entry', { value: { rows: [1, 2] }, storedAt: 1, freshUntil: 2 }, 60_000);
    expect(await tier.get('entry')).toEqual({ value: { rows: [1, 2] }, storedAt: 1, freshUntil: 2 });
    const token = await tier.lease('entry', 5000);
    expect(token).toBeDefined();
    expect(await tier.lease('entry', 5000)).toBeUndefined();
    await tier.unlease('entry', 'not-mine');
    expect(await tier.lease('entry', 5000)).toBeUndefined();
    await tier.unlease('entry', token!);
    expect(await tier.lease('entry', 5000)).toBeDefined();
  });

  it('keeps entries over its size bound local', async () => {
    const tier = new RedisCacheTier(connection, 100);
    await tier.set('big', { value: 'x'.repeat(200), storedAt: 1, freshUntil: 2 }, 60_000);
    expect(await tier.get('big')).toBeUndefined();
  });
});

describe('FailoverBudgetStore', () => {
  it('answers from its share when Redis is away and blocks one window at each change of mode', async () => {
    const own = await TestRedis.start();
    const conn = new RedisConnection({ url: own.url, keyPrefix: 'failover:', logger: pino({ level: 'silent' }) });
    await conn.waitUntilReady(2000);
    let now = Date.now();
    const store = new FailoverBudgetStore(new RedisBudgetStore(conn), conn, 3, () => now);
    const window = parseRateLimits('9/10s')!;
    const granted = async () => (await store.take('up', window, now)).granted;
    try {
      for (let i = 0; i < 4; i++) expect(await granted()).toBe(true);
      expect(store.degraded).toBe(false);
      await own.kill();
      for (let i = 0; i < 40 && !store.degraded; i++) await new Promise((resolve) => setTimeout(resolve, 50));
      expect(store.degraded).toBe(true);
      // what the others spent is unknown: the first window on its own is spent
      expect(await granted()).toBe(false);
      now += 10_001;
      // then this replica's share: 9 / 3
      expect([await granted(), await granted(), await granted(), await granted()]).toEqual([true, true, true, false]);
      // caller quotas start afresh, at their full share
      expect((await store.take('caller:grafana', window, now)).granted).toBe(true);

      await own.up();
      await conn.waitUntilReady(3000);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      // back in shared mode, one window counts as spent before the fleet calls again
      expect(await granted()).toBe(false);
      expect(store.degraded).toBe(false);
      now += 10_001;
      expect(await granted()).toBe(true);
      expect((await store.peek('up', window, now))[0]!.remaining).toBe(8);
    } finally {
      await conn.close();
      await own.kill();
    }
  });
});
