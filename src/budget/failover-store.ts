import type { RateLimit } from '../config.js';
import type { RedisConnection } from '../redis/connection.js';
import { MemoryBudgetStore, type BudgetStore, type TakeResult, type WindowState } from './store.js';

/**
 * The shared store while Redis answers; the replica's own memory when it does not. On its
 * own, a replica takes only its share of every limit (limit ÷ GATEWAY_REPLICAS, at least 1),
 * so the fleet stays under the upstream's limits while degraded. Nothing here ever throws
 * because of Redis.
 */
export class FailoverBudgetStore implements BudgetStore {
  readonly local: MemoryBudgetStore;
  /** Whether the last operation went to the local store. */
  private wasLocal = false;
  /** Keys whose local windows were filled when this outage began. */
  private readonly filled = new Set<string>();
  /** The last shared answer per key: how full the fleet's windows were before an outage. */
  private readonly lastShared = new Map<string, { windows: WindowState[]; at: number }>();

  constructor(
    private readonly shared: BudgetStore,
    private readonly redis: RedisConnection,
    private readonly replicas: number,
    private readonly clock: () => number,
  ) {
    this.local = new MemoryBudgetStore(clock);
  }

  get degraded(): boolean {
    return !this.redis.up;
  }

  private async either<T>(shared: (store: BudgetStore) => Promise<T>, local: (store: MemoryBudgetStore) => Promise<T>): Promise<T> {
    if (this.redis.up) {
      try {
        if (this.wasLocal) await this.handBack();
        return await shared(this.shared);
      } catch {
        // degraded from here on; answer from the local share
      }
    }
    this.wasLocal = true;
    return local(this.local);
  }

  /**
   * Back to shared mode: the calls made on local budgets during the outage still count
   * upstream, so they are added to the shared windows before anything else is spent.
   */
  private async handBack(): Promise<void> {
    const now = this.clock();
    for (const { key, windowMs, ends } of this.local.liveUses(now)) {
      for (const end of ends) await this.shared.consume(key, { limit: 0, windowMs, text: '' }, 1, end, now);
    }
    this.local.clear();
    this.filled.clear();
    this.wasLocal = false;
  }

  /**
   * The calls the fleet made through Redis in the last window still count upstream, and
   * this replica only knows how full the windows were at its last shared answer. Its share
   * of that fullness is counted as spent until then-plus-one-window (all of its share when
   * it never had an answer), so the fleet stays under the limit. Caller quotas protect the
   * gateway itself and start afresh.
   */
  private async fill(local: MemoryBudgetStore, key: string, limits: readonly RateLimit[], shares: RateLimit[], now: number): Promise<void> {
    const last = this.lastShared.get(key);
    for (const [i, share] of shares.entries()) {
      const remaining = last?.windows[i]?.remaining;
      const used = remaining === undefined ? limits[i]!.limit : limits[i]!.limit - remaining;
      const phantom = Math.min(share.limit, Math.ceil(used / this.replicas));
      if (phantom > 0) await local.consume(key, share, phantom, (last?.at ?? now) + share.windowMs, now);
    }
  }

  private share(limits: readonly RateLimit[]): RateLimit[] {
    return limits.map((l) => ({ ...l, limit: Math.max(1, Math.floor(l.limit / this.replicas)) }));
  }

  take(key: string, limits: readonly RateLimit[], now: number): Promise<TakeResult> {
    return this.either(
      async (s) => {
        const taken = await s.take(key, limits, now);
        this.lastShared.set(key, { windows: taken.windows, at: now });
        return taken;
      },
      async (l) => {
        const shares = this.share(limits);
        if (!this.filled.has(key) && !key.startsWith('caller:')) {
          this.filled.add(key);
          await this.fill(l, key, limits, shares, now);
        }
        return l.take(key, shares, now);
      },
    );
  }

  consume(key: string, limit: RateLimit, count: number, endsAt: number, now: number): Promise<void> {
    return this.either(
      (s) => s.consume(key, limit, count, endsAt, now),
      (l) => l.consume(key, this.share([limit])[0]!, Math.ceil(count / this.replicas), endsAt, now),
    );
  }

  peek(key: string, limits: readonly RateLimit[], now: number): Promise<WindowState[]> {
    return this.either(
      (s) => s.peek(key, limits, now),
      (l) => l.peek(key, this.share(limits), now),
    );
  }

  acquireSlot(key: string, max: number, expiresAt: number, now: number): Promise<string | undefined> {
    return this.either(
      (s) => s.acquireSlot(key, max, expiresAt, now),
      (l) => l.acquireSlot(key, Math.max(1, Math.floor(max / this.replicas)), expiresAt, now),
    );
  }

  async releaseSlot(key: string, token: string): Promise<void> {
    // A slot is released where it was taken; a shared slot taken before Redis went away frees itself when its lease ends.
    if (token.startsWith('m')) return this.local.releaseSlot(key, token);
    await this.either(
      (s) => s.releaseSlot(key, token),
      async () => undefined,
    );
  }

  slots(key: string, now: number): Promise<number> {
    return this.either(
      (s) => s.slots(key, now),
      (l) => l.slots(key, now),
    );
  }

  getNumber(key: string): Promise<number | undefined> {
    return this.either(
      (s) => s.getNumber(key),
      (l) => l.getNumber(key),
    );
  }

  setNumber(key: string, value: number, expiresAt?: number): Promise<void> {
    return this.either(
      (s) => s.setNumber(key, value, expiresAt),
      (l) => l.setNumber(key, value, expiresAt),
    );
  }

  addNumber(key: string, delta: number, expiresAt?: number): Promise<number> {
    return this.either(
      (s) => s.addNumber(key, delta, expiresAt),
      (l) => l.addNumber(key, delta, expiresAt),
    );
  }
}
