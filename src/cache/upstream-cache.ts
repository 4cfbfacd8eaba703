import { setTimeout as sleep } from 'node:timers/promises';
import { LRUCache } from 'lru-cache';
import { staleReason, type StaleReason } from '../errors.js';
import type { CacheOutcome } from '../model.js';
import type { Clock } from '../time.js';

/** One cached upstream answer, already in our terms. Timestamps are ms since the epoch. */
export interface CacheEntry<V> {
  value: V;
  storedAt: number;
  /** Until then the entry is served as is. */
  freshUntil: number;
  /** Set once a refresh of this entry failed: every answer from it is stale until a refresh succeeds. */
  refreshFailed?: StaleReason;
}

/** An entry as the shared tier holds it: with the size the replica that loaded it counted, so a reader need not measure it again. */
export type SharedEntry<V> = CacheEntry<V> & { sizeBytes: number };

/**
 * How the values under one key prefix (the text before the first `|`) are held in the shared tier:
 * a smaller form that parses into fewer objects. `decode` throws on a shape it does not know.
 */
export interface ValueCodec<V = unknown> {
  encode(value: V): unknown;
  decode(encoded: unknown): V;
}

/** What a loader hands back: the value, how long it stays fresh, and its size for the memory bound. */
export interface Loaded<V> {
  value: V;
  freshForMs: number;
  sizeBytes: number;
}

/**
 * A tier behind the in-process one (Redis): read on a local miss before the upstream is
 * called, written after every upstream answer, and the place of a short lease per key so
 * that one replica loads while the others wait for its answer. Optional. Its methods never
 * throw: a tier in trouble reads as empty and grants every lease (each replica then loads
 * for itself).
 */
export interface SharedCacheTier {
  get<V>(key: string): Promise<SharedEntry<V> | undefined>;
  set<V>(key: string, entry: SharedEntry<V>, keepForMs: number): Promise<void>;
  /** The right to load `key` for `ms`: a token, or undefined while another replica holds it. */
  lease(key: string, ms: number): Promise<string | undefined>;
  unlease(key: string, token: string): Promise<void>;
  /** Tells every replica that refreshing the entry stored at `storedAt` failed. */
  markFailed(key: string, storedAt: number, reason: StaleReason, keepForMs: number): Promise<void>;
  /** Why refreshing the entry stored at `storedAt` failed, if it did. */
  failure(key: string, storedAt: number): Promise<StaleReason | undefined>;
}

export interface UpstreamCacheOptions {
  /** Memory bound of every entry together, bytes. */
  maxBytes: number;
  /** Expired entries within this window are served at once while one refresh runs (ms). */
  staleWhileRevalidateMs: number;
  /** Expired entries within this window stand in for a failing upstream (ms). */
  staleIfErrorMs: number;
  clock: Clock;
  shared?: SharedCacheTier;
  /** How long a load may hold its lease in the shared tier, and others wait for it (ms; default 30000). */
  leaseMs?: number;
}

const LEASE_POLL_MS = 25;
/** Expired entries are swept at most this often (clock ms), when a key is asked for. */
const SWEEP_EVERY_MS = 10_000;

export type Usability = 'fresh' | 'revalidate' | 'stale-if-error' | 'expired';

export interface CacheResult<V> {
  entry: CacheEntry<V>;
  outcome: CacheOutcome;
  /** Set when `outcome` is stale because a refresh failed: why. */
  error?: StaleReason;
}

type Load = () => Promise<Loaded<unknown>>;
/** `fetched`: this replica called the upstream for it (a miss), rather than finding it in the shared tier. */
type StoredEntry = CacheEntry<unknown> & { sizeBytes: number; fetched?: boolean };

/**
 * The upstream cache: lru-cache bounded by size, with single-flight through `fetch()`
 * (concurrent misses of one key make one load), stale-while-revalidate and stale-if-error.
 * Errors are never stored; a failed refresh leaves the previous entry in place.
 */
export class UpstreamCache {
  private readonly lru: LRUCache<string, StoredEntry, Load>;
  private readonly dropListeners: ((key: string, reason: 'evict' | 'expire' | 'delete') => void)[] = [];
  private readonly backgroundErrorListeners: ((key: string, error: unknown) => void)[] = [];
  private lastSweep: number;

  constructor(private readonly options: UpstreamCacheOptions) {
    const { clock } = options;
    this.lastSweep = clock();
    this.lru = new LRUCache<string, StoredEntry, Load>({
      maxSize: Math.max(1, options.maxBytes),
      sizeCalculation: (entry, key) => entryBytes(key, entry.sizeBytes),
      // lru-cache's own clock only decides when to drop an entry; freshness is ours.
      perf: { now: clock },
      ttlResolution: 0,
      allowStale: true,
      noDeleteOnStaleGet: true,
      noDeleteOnFetchRejection: true,
      dispose: (_value, key, reason) => {
        if (reason === 'evict' || reason === 'expire' || reason === 'delete') {
          for (const listener of this.dropListeners) listener(key, reason);
        }
      },
      fetchMethod: async (key, _stale, { options: setOptions, context: load }) => {
        const entry = options.shared ? await this.loadShared(key, load, options.shared) : await this.loadHere(key, load);
        setOptions.ttl = this.keepForMs(entry.freshUntil - clock());
        return entry;
      },
    });
  }

  /** Hears of every entry that leaves the cache (evicted for room, expired or deleted); not of replacements. */
  onDrop(listener: (key: string, reason: 'evict' | 'expire' | 'delete') => void): void {
    this.dropListeners.push(listener);
  }

  /** Hears of background refreshes that failed; the entry stays as it was. */
  onBackgroundError(listener: (key: string, error: unknown) => void): void {
    this.backgroundErrorListeners.push(listener);
  }

  /** How an entry may be used now. */
  usability(entry: CacheEntry<unknown>): Usability {
    const age = this.options.clock() - entry.freshUntil;
    if (age < 0) return 'fresh';
    if (age < this.options.staleWhileRevalidateMs) return 'revalidate';
    if (age < this.options.staleIfErrorMs) return 'stale-if-error';
    return 'expired';
  }

  /** The local entry, or else a usable one from the shared tier (kept locally from then on). */
  async adopt<V>(key: string): Promise<CacheEntry<V> | undefined> {
    const local = this.peek<V>(key);
    if (local || !this.options.shared) return local;
    const shared = await this.options.shared.get<V>(key);
    if (!shared || this.usability(shared) === 'expired') return undefined;
    const failed = this.usability(shared) === 'fresh' ? undefined : await this.options.shared.failure(key, shared.storedAt);
    const entry: StoredEntry = failed ? { ...shared, refreshFailed: failed } : shared;
    this.lru.set(key, entry, { ttl: this.keepForMs(shared.freshUntil - this.options.clock()) });
    return entry as CacheEntry<V>;
  }

  /** The entry held for `key`, however old, without touching recency; undefined when none. */
  peek<V>(key: string): CacheEntry<V> | undefined {
    const entry = this.lru.peek(key, { allowStale: true });
    return entry && this.usability(entry) !== 'expired' ? (entry as CacheEntry<V>) : undefined;
  }

  /**
   * Loads `key` (once, however many callers ask at the same time) and stores the result.
   * Rejects with the loader's error; the previous entry, if any, stays.
   */
  async load<V>(key: string, load: () => Promise<Loaded<V>>): Promise<CacheEntry<V> & { fetched?: boolean }> {
    const entry = await this.lru.fetch(key, { forceRefresh: true, allowStale: false, context: load as Load });
    if (!entry) throw new Error(`cache load of ${key} gave nothing`);
    return entry as CacheEntry<V>;
  }

  /** Stores a value loaded alongside another one (one upstream answer, two freshness classes). */
  put<V>(key: string, loaded: Loaded<V>): CacheEntry<V> {
    const now = this.options.clock();
    const entry: StoredEntry = { value: loaded.value, storedAt: now, freshUntil: now + loaded.freshForMs, sizeBytes: loaded.sizeBytes };
    const ttl = this.keepForMs(loaded.freshForMs);
    this.lru.set(key, entry, { ttl });
    void this.options.shared?.set(key, { value: entry.value, storedAt: now, freshUntil: entry.freshUntil, sizeBytes: entry.sizeBytes }, ttl).catch(() => undefined);
    return entry as CacheEntry<V>;
  }

  /**
   * Starts a refresh that nobody waits for; a failure is reported, never thrown, and marks
   * the entries it was to replace (`covers`, by default the key's own) as failed.
   */
  refreshInBackground<V>(key: string, load: () => Promise<Loaded<V>>, covers: readonly string[] = [key]): void {
    this.load(key, load).catch((error: unknown) => {
      this.markFailed(covers, error);
      for (const listener of this.backgroundErrorListeners) listener(key, error);
    });
  }

  /** Marks the entries held for `keys` as failed to refresh, here and in the shared tier. */
  markFailed(keys: readonly string[], error: unknown): void {
    const reason = staleReason(error);
    for (const key of keys) {
      const entry = this.lru.peek(key, { allowStale: true });
      if (!entry) continue;
      entry.refreshFailed = reason;
      void this.options.shared?.markFailed(key, entry.storedAt, reason, this.keepForMs(entry.freshUntil - this.options.clock())).catch(() => undefined);
    }
  }

  /** Why the held entry failed to refresh, as this replica or another one found, if it did. */
  private async refreshFailure(key: string, entry: CacheEntry<unknown>): Promise<StaleReason | undefined> {
    if (entry.refreshFailed || !this.options.shared) return entry.refreshFailed;
    const failed = await this.options.shared.failure(key, entry.storedAt);
    if (failed) entry.refreshFailed = failed;
    return failed;
  }

  /**
   * The whole policy for one key: fresh → hit; expired within the revalidate window →
   * served at once and refreshed once in the background (stale with the failure once a
   * refresh has failed); otherwise loaded, and if that fails, an entry within the
   * stale-if-error window is served instead.
   */
  async get<V>(key: string, load: () => Promise<Loaded<V>>): Promise<CacheResult<V>> {
    this.sweepIfDue();
    const held = await this.adopt<V>(key);
    const usability = held ? this.usability(held) : 'expired';
    if (held && usability === 'fresh') {
      this.lru.get(key);
      return { entry: held, outcome: 'hit' };
    }
    if (held && usability === 'revalidate') {
      const failed = await this.refreshFailure(key, held);
      this.refreshInBackground(key, load);
      return { entry: held, outcome: 'stale', ...(failed ? { error: failed } : {}) };
    }
    try {
      const entry = await this.load(key, load);
      return { entry, outcome: entry.fetched ? 'miss' : 'hit' };
    } catch (error) {
      this.markFailed([key], error);
      const fallback = this.peek<V>(key);
      if (fallback) return { entry: fallback, outcome: 'stale', error: staleReason(error) };
      throw error;
    }
  }

  get sizeBytes(): number {
    return this.lru.calculatedSize;
  }

  get entries(): number {
    return this.lru.size;
  }

  clear(): void {
    this.lru.clear();
  }

  /** Entries past their stale windows leave at most SWEEP_EVERY_MS after, whether or not anyone asks for them. */
  private sweepIfDue(): void {
    const now = this.options.clock();
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    this.lru.purgeStale();
  }

  /** lru-cache keeps an entry for its freshness plus the longer stale window. */
  private keepForMs(freshForMs: number): number {
    return Math.max(1, freshForMs + Math.max(this.options.staleWhileRevalidateMs, this.options.staleIfErrorMs));
  }

  private async loadHere(key: string, load: Load): Promise<StoredEntry> {
    const loaded = await load();
    const now = this.options.clock();
    const entry: StoredEntry = { value: loaded.value, storedAt: now, freshUntil: now + loaded.freshForMs, sizeBytes: loaded.sizeBytes, fetched: true };
    if (this.options.shared) {
      await this.options.shared.set(key, { value: entry.value, storedAt: entry.storedAt, freshUntil: entry.freshUntil, sizeBytes: entry.sizeBytes }, this.keepForMs(loaded.freshForMs));
    }
    return entry;
  }

  /**
   * Across replicas: a fresh entry another replica stored is taken as is; otherwise the
   * replica that wins the lease loads and stores, and the others poll the shared tier for
   * its answer. If the holder dies, its lease runs out and another replica takes over;
   * waiting is bounded by the lease (real time, whatever the injected clock says).
   */
  private async loadShared(key: string, load: Load, shared: SharedCacheTier): Promise<StoredEntry> {
    const leaseMs = this.options.leaseMs ?? 30_000;
    const giveUpAt = performance.now() + leaseMs + 1000;
    const freshStored = async () => {
      const stored = await shared.get<unknown>(key);
      return stored && stored.freshUntil > this.options.clock() ? stored : undefined;
    };
    for (;;) {
      const stored = await freshStored();
      if (stored) return stored;
      const token = await shared.lease(key, leaseMs);
      if (token !== undefined) {
        try {
          // The holder before us may have stored its answer between our read and our lease.
          return (await freshStored()) ?? (await this.loadHere(key, load));
        } finally {
          await shared.unlease(key, token);
        }
      }
      if (performance.now() > giveUpAt) return this.loadHere(key, load);
      await sleep(LEASE_POLL_MS);
    }
  }
}

/** What an entry costs besides its value and key: lru-cache's slot and map entry, and the entry object. */
export const ENTRY_OVERHEAD_BYTES = 256;

/** Bytes an entry holds: its value's size, its key as UTF-16 (two bytes a character at worst), the overhead. */
export function entryBytes(key: string, valueBytes: number): number {
  return Math.max(1, valueBytes) + key.length * 2 + ENTRY_OVERHEAD_BYTES;
}

/** Bytes a value takes in memory, roughly: its JSON text as UTF-16, plus object overhead. */
export function approximateSize(value: unknown): number {
  return JSON.stringify(value).length * 2 + 64;
}

/** Several cache results as one: stale if any part was stale, else miss if any part was fetched, else hit. */
export function combineOutcomes(outcomes: readonly CacheOutcome[]): CacheOutcome {
  if (outcomes.includes('stale')) return 'stale';
  return outcomes.includes('miss') ? 'miss' : 'hit';
}
