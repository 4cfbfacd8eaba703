import { randomUUID } from 'node:crypto';
import type { CacheEntry, SharedCacheTier } from '../cache/upstream-cache.js';
import type { StaleReason } from '../errors.js';
import type { RedisConnection } from './connection.js';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * The shared cache tier in Redis: entries as JSON with their freshness (the value is data
 * in our terms, never a key), bounded in size, kept for their fresh and stale windows;
 * and a lease per key (SET NX PX) for cross-replica single-flight. Any Redis trouble reads
 * as a miss and grants the lease, so every replica can always answer on its own.
 */
export class RedisCacheTier implements SharedCacheTier {
  constructor(
    private readonly redis: RedisConnection,
    /** Larger entries stay in the replica's own memory only (bytes of JSON). */
    private readonly maxEntryBytes = 8 * 1024 * 1024,
  ) {}

  async get<V>(key: string): Promise<CacheEntry<V> | undefined> {
    try {
      const text = await this.redis.run((c) => c.get(`cache:${key}`));
      return text === null ? undefined : (JSON.parse(text) as CacheEntry<V>);
    } catch {
      return undefined;
    }
  }

  async set<V>(key: string, entry: CacheEntry<V>, keepForMs: number): Promise<void> {
    const text = JSON.stringify(entry);
    if (text.length > this.maxEntryBytes) return;
    try {
      await this.redis.run((c) => c.set(`cache:${key}`, text, 'PX', Math.max(1, Math.ceil(keepForMs))));
    } catch {
      // the entry stays local; the next replica to miss loads it again
    }
  }

  async lease(key: string, ms: number): Promise<string | undefined> {
    const token = randomUUID();
    try {
      const granted = await this.redis.run((c) => c.set(`lease:${key}`, token, 'PX', Math.max(1, Math.ceil(ms)), 'NX'));
      return granted === 'OK' ? token : undefined;
    } catch {
      return 'local';
    }
  }

  async markFailed(key: string, storedAt: number, reason: StaleReason, keepForMs: number): Promise<void> {
    try {
      await this.redis.run((c) => c.set(`failed:${key}`, JSON.stringify({ storedAt, ...reason }), 'PX', Math.max(1, Math.ceil(keepForMs))));
    } catch {
      // other replicas find out by failing themselves
    }
  }

  async failure(key: string, storedAt: number): Promise<StaleReason | undefined> {
    try {
      const text = await this.redis.run((c) => c.get(`failed:${key}`));
      const mark = text === null ? undefined : (JSON.parse(text) as StaleReason & { storedAt: number });
      return mark?.storedAt === storedAt ? { code: mark.code, detail: mark.detail } : undefined;
    } catch {
      return undefined;
    }
  }

  async unlease(key: string, token: string): Promise<void> {
    if (token === 'local') return;
    try {
      await this.redis.run((c) => c.eval(RELEASE, 1, `lease:${key}`, token));
    } catch {
      // the lease runs out by itself
    }
  }
}
