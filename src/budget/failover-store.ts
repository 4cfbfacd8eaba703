import type { RateLimit } from '../ratelimit.js';
import type { RedisConnection } from '../redis/connection.js';
import { MemoryBudgetStore } from './memory-store.js';
import type {
  AllowanceRequest,
  AllowanceReservation,
  AllowanceState,
  BudgetStore,
  CircuitState,
  CreditState,
  CreditTerms,
  ReserveRequest,
  Reservation,
  SettleRequest,
  TakeResult,
  UpstreamState,
  WindowState,
} from './store.js';

/**
 * The shared store while Redis answers; the replica's own memory when it does not. On its
 * own, a replica takes only its share of every limit (limit ÷ GATEWAY_REPLICAS, at least 1):
 * rate windows, calls in flight, what is left of the daily credit cap and of each caller's
 * allowance (from the spending last seen in Redis), and it keeps the credit reserve clear
 * of what the other replicas may have in flight. On entering degraded mode this replica's
 * share counts as spent for one window, since what the others did is not known; back in
 * shared mode, see `rejoin`. Nothing here ever throws because of Redis.
 */
export class FailoverBudgetStore implements BudgetStore {
  readonly local: MemoryBudgetStore;
  /** Whether the last operation went to the local store. */
  private wasLocal = false;
  /** Keys whose local windows were filled when this outage began. */
  private readonly filled = new Set<string>();
  /** Upstream budget keys this replica spent on its own in this outage: Redis does not know of those calls. */
  private readonly spentLocally = new Set<string>();
  private connectedBefore: boolean;
  /** The connection was lost and made again: Redis may have restarted without its counts. */
  private reconnected = false;
  /** The windows of every upstream budget key seen, to block them at a change of mode. */
  private readonly limitsByKey = new Map<string, readonly RateLimit[]>();
  /** Daily spending (and the credit balance) last read from Redis, per key: where a local share starts. */
  private readonly lastSpent = new Map<string, number>();
  private readonly lastRemaining = new Map<string, number>();

  constructor(
    private readonly shared: BudgetStore,
    private readonly redis: RedisConnection,
    private readonly replicas: number,
    private readonly clock: () => number,
  ) {
    this.local = new MemoryBudgetStore();
    this.connectedBefore = redis.client.status === 'ready';
    redis.client.on('ready', () => {
      if (this.connectedBefore) this.reconnected = true;
      this.connectedBefore = true;
    });
  }

  get degraded(): boolean {
    return !this.redis.up;
  }

  private async either<T>(shared: (store: BudgetStore) => Promise<T>, local: (store: MemoryBudgetStore) => Promise<T>): Promise<T> {
    if (this.redis.up) {
      try {
        if (this.wasLocal || this.reconnected) await this.rejoin();
        return await shared(this.shared);
      } catch {
        // degraded from here on; answer from the local share
      }
    }
    this.wasLocal = true;
    return local(this.local);
  }

  /**
   * Back to shared mode. What a replica spent on its own is not in Redis, and the replicas do
   * not all return at the same moment: one that spent on its own counts a whole window of
   * those upstream limits as spent, so for one window the fleet calls nothing new there
   * rather than risk going over. After a lost connection Redis may have restarted empty, so
   * every limit counts as spent. A slow moment in which this replica spent nothing on its
   * own (a busy host) blocks nothing.
   */
  private async rejoin(): Promise<void> {
    const now = this.clock();
    const unknown = this.reconnected ? [...this.limitsByKey.keys()] : [...this.spentLocally];
    for (const key of unknown) {
      for (const limit of this.limitsByKey.get(key) ?? []) await this.shared.consume(key, limit, limit.limit, now + limit.windowMs, now);
    }
    this.local.clear();
    this.filled.clear();
    this.spentLocally.clear();
    this.wasLocal = false;
    this.reconnected = false;
  }

  private share(limits: readonly RateLimit[]): RateLimit[] {
    return limits.map((l) => ({ ...l, limit: this.part(l.limit) }));
  }

  private part(limit: number): number {
    return Math.max(1, Math.floor(limit / this.replicas));
  }

  /**
   * The first local use of an upstream key in an outage: what the fleet spent through Redis
   * in the current window is unknown here, so this replica's share counts as spent for one
   * window, and the day's spending starts where Redis last had it.
   */
  private enterLocal(key: string, shares: readonly RateLimit[], now: number): void {
    if (this.filled.has(key)) return;
    this.filled.add(key);
    for (const share of shares) void this.local.consume(key, share, share.limit, now + share.windowMs, now);
    this.local.seedSpent(key, this.lastSpent.get(key) ?? 0, now);
    const remaining = this.lastRemaining.get(key);
    if (remaining !== undefined) this.local.seedRemaining(key, remaining);
  }

  private remember(key: string, credits: CreditState | undefined): void {
    if (!credits) return;
    this.lastSpent.set(key, credits.spentToday);
    if (credits.remaining !== null) this.lastRemaining.set(key, credits.remaining);
  }

  /** A daily limit while on our own: what Redis last saw spent, plus our share of the rest. */
  private dailyShare(key: string, limit: number): number {
    const spent = this.lastSpent.get(key) ?? 0;
    return spent + Math.floor(Math.max(0, limit - spent) / this.replicas);
  }

  private localCredits(key: string, credits: CreditTerms, maxInFlight: number): CreditTerms {
    // The others may each have their share of calls in flight, which this replica cannot see.
    const othersInFlight = (this.replicas - 1) * this.part(maxInFlight) * credits.cost;
    return {
      ...credits,
      reserve: credits.reserve + othersInFlight,
      dailyCap: credits.dailyCap === undefined ? undefined : this.dailyShare(key, credits.dailyCap),
    };
  }

  take(key: string, limits: readonly RateLimit[], now: number): Promise<TakeResult> {
    // Caller quotas protect the gateway itself and start afresh on their own.
    return this.either(
      (s) => s.take(key, limits, now),
      (l) => l.take(key, this.share(limits), now),
    );
  }

  peek(key: string, limits: readonly RateLimit[], now: number): Promise<WindowState[]> {
    return this.either(
      (s) => s.peek(key, limits, now),
      (l) => l.peek(key, this.share(limits), now),
    );
  }

  consume(key: string, limit: RateLimit, count: number, endsAt: number, now: number): Promise<void> {
    return this.either(
      (s) => s.consume(key, limit, count, endsAt, now),
      async (l) => {
        this.spentLocally.add(key);
        await l.consume(key, this.share([limit])[0]!, Math.ceil(count / this.replicas), endsAt, now);
      },
    );
  }

  reserve(request: ReserveRequest): Promise<Reservation> {
    const { key, limits, maxInFlight, credits, now } = request;
    this.limitsByKey.set(key, limits);
    return this.either(
      async (s) => {
        const reservation = await s.reserve(request);
        this.remember(key, reservation.credits);
        return reservation;
      },
      async (l) => {
        const shares = this.share(limits);
        this.enterLocal(key, shares, now);
        const reservation = await l.reserve({
          ...request,
          limits: shares,
          maxInFlight: this.part(maxInFlight),
          ...(credits ? { credits: this.localCredits(key, credits, maxInFlight) } : {}),
        });
        if (reservation.granted) this.spentLocally.add(key);
        return reservation;
      },
    );
  }

  async settle(request: SettleRequest): Promise<void> {
    // A slot is freed where it was taken; a shared one taken before Redis went away frees itself when its lease ends.
    const local = (l: MemoryBudgetStore) => l.settle({ ...request, corrections: request.corrections.map((c) => ({ ...c, limit: this.share([c.limit])[0]! })) });
    if (request.token.startsWith('m')) return local(this.local);
    await this.either((s) => s.settle(request), local);
  }

  async release(key: string, token: string): Promise<void> {
    if (token.startsWith('m')) return this.local.release(key, token);
    await this.either(
      (s) => s.release(key, token),
      async () => undefined,
    );
  }

  upstreamState(key: string, limits: readonly RateLimit[], credits: boolean, now: number): Promise<UpstreamState> {
    return this.either(
      async (s) => {
        const state = await s.upstreamState(key, limits, credits, now);
        this.remember(key, state.credits);
        return state;
      },
      async (l) => {
        // Admission fills the first window of an outage; so does reading it, so both show the same numbers.
        const shares = this.share(limits);
        this.enterLocal(key, shares, now);
        return l.upstreamState(key, shares, credits, now);
      },
    );
  }

  reserveAllowance(request: AllowanceRequest): Promise<AllowanceReservation> {
    return this.either(
      async (s) => {
        const reservation = await s.reserveAllowance(request);
        this.lastSpent.set(request.key, reservation.spentToday);
        return reservation;
      },
      async (l) => {
        if (!this.filled.has(request.key)) {
          this.filled.add(request.key);
          l.seedSpent(request.key, this.lastSpent.get(request.key) ?? 0, request.now);
        }
        return l.reserveAllowance({ ...request, allowance: this.dailyShare(request.key, request.allowance) });
      },
    );
  }

  async settleAllowance(key: string, token: string | undefined, spent: number, now: number): Promise<void> {
    if (token?.startsWith('m')) return this.local.settleAllowance(key, token, spent, now);
    await this.either(
      (s) => s.settleAllowance(key, token, spent, now),
      (l) => l.settleAllowance(key, undefined, spent, now),
    );
  }

  allowanceState(key: string, now: number): Promise<AllowanceState> {
    return this.either(
      (s) => s.allowanceState(key, now),
      (l) => l.allowanceState(key, now),
    );
  }

  circuitCheck(key: string, cooldownMs: number, now: number): Promise<number> {
    return this.either(
      (s) => s.circuitCheck(key, cooldownMs, now),
      (l) => l.circuitCheck(key, cooldownMs, now),
    );
  }

  circuitRecord(key: string, ok: boolean, threshold: number, cooldownMs: number, now: number): Promise<void> {
    return this.either(
      (s) => s.circuitRecord(key, ok, threshold, cooldownMs, now),
      (l) => l.circuitRecord(key, ok, threshold, cooldownMs, now),
    );
  }

  circuitState(key: string, now: number): Promise<CircuitState> {
    return this.either(
      (s) => s.circuitState(key, now),
      (l) => l.circuitState(key, now),
    );
  }
}
