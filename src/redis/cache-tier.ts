import { randomUUID } from 'node:crypto';
import type { SharedCacheTier, SharedEntry, ValueCodec } from '../cache/upstream-cache.js';
import type { StaleReason } from '../errors.js';
import type { RedisConnection } from './connection.js';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** The entry as stored: `v`alue (in its prefix's codec's form, if any), `s`ize in memory (bytes), `t`imes. */
interface StoredForm {
  v: unknown;
  s: number;
  t: [storedAt: number, freshUntil: number];
}

/**
 * The shared cache tier in Redis: entries as JSON with their freshness and size (the value
 * is data in our terms, never a key), in a codec's compact form where its prefix has one,
 * bounded in size, kept for their fresh and stale windows; one GET reads an entry. And a
 * lease per key (SET NX PX) for cross-replica single-flight. Any Redis trouble reads as a
 * miss and grants the lease, so every replica can always answer on its own.
 */
export class RedisCacheTier implements SharedCacheTier {
  constructor(
    private readonly redis: RedisConnection,
    /** Larger entries stay in the replica's own memory only (bytes of JSON). */
    private readonly maxEntryBytes = 8 * 1024 * 1024,
    /** By key prefix. */
    private readonly codecs: ReadonlyMap<string, ValueCodec> = new Map(),
  ) {}

  async get<V>(key: string): Promise<SharedEntry<V> | undefined> {
    try {
      const text = await this.redis.run((c) => c.get(entryKey(key)));
      if (text === null) return undefined;
      const stored = JSON.parse(text) as StoredForm;
      const codec = this.codecOf(key);
      return { value: (codec ? codec.decode(stored.v) : stored.v) as V, storedAt: stored.t[0], freshUntil: stored.t[1], sizeBytes: stored.s };
    } catch {
      return undefined;
    }
  }

  async set<V>(key: string, entry: SharedEntry<V>, keepForMs: number): Promise<void> {
    const codec = this.codecOf(key);
    const stored: StoredForm = { v: codec ? codec.encode(entry.value) : entry.value, s: entry.sizeBytes, t: [entry.storedAt, entry.freshUntil] };
    const text = JSON.stringify(stored);
    if (text.length > this.maxEntryBytes) return;
    try {
      await this.redis.run((c) => c.set(entryKey(key), text, 'PX', Math.max(1, Math.ceil(keepForMs))));
    } catch {
      // the entry stays local; the next replica to miss loads it again
    }
  }

  private codecOf(key: string): ValueCodec | undefined {
    const bar = key.indexOf('|');
    return bar < 0 ? undefined : this.codecs.get(key.slice(0, bar));
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

/**
 * `v3`: the stored form above with the Nansen page's numbers as doubles; replicas of an
 * earlier form (`cache:`, `cache:v2:`) and of this one never read each other's entries.
 */
function entryKey(key: string): string {
  return `cache:v3:${key}`;
}
