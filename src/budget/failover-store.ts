import type { RateLimit } from '../config.js';
import type { RedisConnection } from '../redis/connection.js';
import { MemoryBudgetStore, type BudgetStore, type TakeResult, type WindowState } from './store.js';

/**
 * The shared store while Redis answers; the replica's own memory when it does not. On its
 * own, a replica takes only its share of every limit (limit ÷ GATEWAY_REPLICAS, at least 1),
 * so the fleet stays under the upstream's limits while degraded; around each change of
 * mode one window of every upstream limit counts as spent, since what the others did is
 * not known. Nothing here ever throws because of Redis.
 */
export class FailoverBudgetStore implements BudgetStore {
  readonly local: MemoryBudgetStore;
  /** Whether the last operation went to the local store. */
  private wasLocal = false;
  /** Keys whose local windows were filled when this outage began. */
  private readonly filled = new Set<string>();
  /** The windows of every upstream budget key seen, to block them at a change of mode. */
  private readonly limitsByKey = new Map<string, readonly RateLimit[]>();

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
        if (this.wasLocal) await this.rejoin();
        return await shared(this.shared);
      } catch {
        // degraded from here on; answer from the local share
      }
    }
    this.wasLocal = true;
    return local(this.local);
  }

  /**
   * Back to shared mode. Whatever the replicas spent on their own during the outage is not
   * in Redis (which may even have restarted empty), and they do not all return at the same
   * moment: each counts a whole window of every upstream limit as spent, so for one window
   * after an outage the fleet calls nothing new rather than risk going over.
   */
  private async rejoin(): Promise<void> {
    const now = this.clock();
    for (const [key, limits] of this.limitsByKey) {
      for (const limit of limits) await this.shared.consume(key, limit, limit.limit, now + limit.windowMs, now);
    }
    this.local.clear();
    this.filled.clear();
    this.wasLocal = false;
  }

  private share(limits: readonly RateLimit[]): RateLimit[] {
    return limits.map((l) => ({ ...l, limit: Math.max(1, Math.floor(l.limit / this.replicas)) }));
  }

  take(key: string, limits: readonly RateLimit[], now: number): Promise<TakeResult> {
    const upstream = !key.startsWith('caller:');
    if (upstream) this.limitsByKey.set(key, limits);
    return this.either(
      (s) => s.take(key, limits, now),
      async (l) => {
        const shares = this.share(limits);
        // What the fleet spent through Redis in the current window is unknown here, so this
        // replica's share counts as spent for one window. Caller quotas protect the gateway
        // itself and start afresh.
        if (upstream && !this.filled.has(key)) {
          this.filled.add(key);
          for (const share of shares) await l.consume(key, share, share.limit, now + share.windowMs, now);
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
