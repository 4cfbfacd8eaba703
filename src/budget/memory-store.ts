import type { RateLimit } from '../ratelimit.js';
import { DAY_MS, isoDay, utcDayStart } from '../time.js';
import {
  CREDITS_UNKNOWN_RETRY_MS,
  RESERVE_RETRY_MS,
  SLOT_POLL_MS,
  type AllowanceRequest,
  type AllowanceReservation,
  type AllowanceState,
  type BudgetStore,
  type CircuitState,
  type CreditState,
  type CreditTerms,
  type ReserveRequest,
  type Reservation,
  type SettleRequest,
  type TakeResult,
  type UpstreamState,
  type WindowState,
} from './store.js';

interface Lease {
  expiresAt: number;
  cost: number;
  /** The ledger's settled total when the lease was taken. */
  settledAt?: number;
}

/**
 * The budget store of one process. Every method body is synchronous (no `await` between
 * a read and its write), so each is atomic however many requests run at once. Sliding
 * windows are kept as the times each use stops counting: exact, and small at these limits.
 */
export class MemoryBudgetStore implements BudgetStore {
  private readonly uses = new Map<string, number[]>();
  private readonly leaseSets = new Map<string, Map<string, Lease>>();
  private readonly numbers = new Map<string, { value: number; expiresAt: number }>();
  private nextToken = 0;

  clear(): void {
    this.uses.clear();
    this.leaseSets.clear();
    this.numbers.clear();
  }

  async take(key: string, limits: readonly RateLimit[], now: number): Promise<TakeResult> {
    const windows = limits.map((limit) => this.window(key, limit, now));
    const retryAfterMs = fullFor(windows, now);
    if (retryAfterMs === 0) for (const w of windows) insertSorted(w.ends, now + w.limit.windowMs, 1);
    return { granted: retryAfterMs === 0, retryAfterMs, windows: windows.map((w) => state(w.limit, w.ends, now)) };
  }

  async peek(key: string, limits: readonly RateLimit[], now: number): Promise<WindowState[]> {
    return limits.map((limit) => state(limit, this.window(key, limit, now).ends, now));
  }

  async consume(key: string, limit: RateLimit, count: number, endsAt: number, now: number): Promise<void> {
    insertSorted(this.window(key, limit, now).ends, endsAt, Math.min(count, limit.limit));
  }

  async reserve(request: ReserveRequest): Promise<Reservation> {
    const { key, limits, maxInFlight, leaseUntil, credits, now } = request;
    const pausedUntil = this.number(`${key}:paused`, now);
    if (pausedUntil > now) return { granted: false, refusal: 'paused', retryAfterMs: pausedUntil - now };
    const slots = this.leases(`${key}:slots`, now);
    const ledger = credits ? this.credits(key, now) : undefined;
    if (ledger && credits) {
      const refused = creditRefusal(ledger, credits, now);
      if (refused) return { ...refused, credits: ledger };
    }
    if (slots.size >= maxInFlight) return { granted: false, refusal: 'in_flight', retryAfterMs: SLOT_POLL_MS };
    const windows = limits.map((limit) => this.window(key, limit, now));
    const retryAfterMs = fullFor(windows, now);
    if (retryAfterMs > 0) return { granted: false, refusal: 'rate', retryAfterMs };
    for (const w of windows) insertSorted(w.ends, now + w.limit.windowMs, 1);
    const token = `m${++this.nextToken}`;
    slots.set(token, { expiresAt: leaseUntil, cost: credits?.cost ?? 0, settledAt: this.number(`${key}:credits:settled`, now) });
    if (!ledger || !credits) return { granted: true, token };
    // After the account ran dry this call is the one credit check; the others wait for its answer.
    const closedUntil = ledger.closedUntil > 0 ? now + credits.recheckMs : 0;
    if (closedUntil > 0) this.set(`${key}:credits:closed`, closedUntil);
    return { granted: true, token, credits: { ...ledger, inFlight: ledger.inFlight + credits.cost, closedUntil } };
  }

  async settle(request: SettleRequest): Promise<void> {
    const { key, token, now, credits } = request;
    const slots = this.leases(`${key}:slots`, now);
    const lease = slots.get(token);
    slots.delete(token);
    if (credits) this.settleCredits(key, credits, lease, now);
    if (request.pauseUntil !== undefined && request.pauseUntil > this.number(`${key}:paused`, now)) {
      this.set(`${key}:paused`, request.pauseUntil, request.pauseUntil);
    }
    for (const late of request.late) insertSorted(this.window(key, late.limit, now).ends, late.endsAt, 1);
    for (const reading of request.corrections) {
      const { ends } = this.window(key, reading.limit, now);
      const missing = Math.min(reading.limit.limit, reading.limit.limit - ends.length - reading.remaining);
      if (missing > 0) insertSorted(ends, reading.endsAt, missing);
    }
  }

  /**
   * Spent grows by what the call cost. The balance is the upstream's report when no other
   * call settled since this one was admitted; otherwise those calls may have reached the
   * upstream after this one, and the balance only falls (by what this call cost, or to the
   * report), so a late answer never raises it past what is true.
   */
  private settleCredits(key: string, credits: NonNullable<SettleRequest['credits']>, lease: Lease | undefined, now: number): void {
    const spent = credits.used ?? (credits.succeeded ? (lease?.cost ?? credits.cost) : 0);
    const settled = this.number(`${key}:credits:settled`, now);
    const known = this.numbers.get(`${key}:credits:remaining`)?.value;
    let remaining = credits.remaining;
    const othersSettled = lease?.settledAt === undefined ? undefined : settled - lease.settledAt;
    if (remaining !== undefined && othersSettled !== 0 && known !== undefined) remaining = Math.min(remaining, known - spent);
    else if (remaining !== undefined && othersSettled !== undefined) remaining -= othersSettled;
    else if (remaining === undefined && known !== undefined) remaining = known - spent;
    if (credits.exhausted && credits.remaining === undefined) remaining = 0;
    if (remaining !== undefined) this.set(`${key}:credits:remaining`, Math.max(0, remaining));
    if (spent > 0) {
      this.add(spentKey(key, now), spent, now, utcDayStart(now) + 2 * DAY_MS);
      this.set(`${key}:credits:settled`, settled + spent);
    }
    if (credits.exhausted) this.set(`${key}:credits:closed`, now + credits.recheckMs);
    else if (credits.succeeded) this.set(`${key}:credits:closed`, 0);
  }

  async release(key: string, token: string): Promise<void> {
    this.leaseSets.get(`${key}:slots`)?.delete(token);
  }

  async upstreamState(key: string, limits: readonly RateLimit[], credits: boolean, now: number): Promise<UpstreamState> {
    return {
      windows: limits.map((limit) => state(limit, this.window(key, limit, now).ends, now)),
      inFlight: this.leases(`${key}:slots`, now).size,
      pausedUntil: this.number(`${key}:paused`, now),
      ...(credits ? { credits: this.credits(key, now) } : {}),
    };
  }

  async reserveAllowance({ key, amount, allowance, leaseUntil, now }: AllowanceRequest): Promise<AllowanceReservation> {
    const held = this.allowance(key, now);
    if (held.spentToday + held.inFlight + amount > allowance) return { granted: false, ...held };
    const token = `m${++this.nextToken}`;
    this.leases(`${key}:reserved`, now).set(token, { expiresAt: leaseUntil, cost: amount });
    return { granted: true, token, spentToday: held.spentToday, inFlight: held.inFlight + amount };
  }

  async settleAllowance(key: string, token: string | undefined, spent: number, now: number): Promise<void> {
    if (token !== undefined) this.leaseSets.get(`${key}:reserved`)?.delete(token);
    if (spent > 0) this.add(spentKey(key, now), spent, now, utcDayStart(now) + 2 * DAY_MS);
  }

  async allowanceState(key: string, now: number): Promise<AllowanceState> {
    return this.allowance(key, now);
  }

  /**
   * The spending of a daily counter as another store knew it, so a store that takes over
   * (a replica whose Redis went away) starts from there rather than from nothing.
   */
  seedSpent(key: string, spentToday: number, now: number): void {
    if (spentToday > this.number(spentKey(key, now), now)) this.set(spentKey(key, now), spentToday, utcDayStart(now) + 2 * DAY_MS);
  }

  /** The credit balance as another store last knew it, when this one knows none. */
  seedRemaining(key: string, remaining: number): void {
    if (!this.numbers.has(`${key}:credits:remaining`)) this.set(`${key}:credits:remaining`, remaining);
  }

  async circuitCheck(key: string, cooldownMs: number, now: number): Promise<number> {
    const openUntil = this.number(`${key}:open-until`, now);
    if (openUntil === 0) return 0;
    if (now < openUntil) return openUntil - now;
    if (this.number(`${key}:probe-until`, now) > now) return 1000;
    this.set(`${key}:probe-until`, now + cooldownMs);
    return 0;
  }

  async circuitRecord(key: string, ok: boolean, threshold: number, cooldownMs: number, now: number): Promise<void> {
    if (ok) {
      for (const name of ['failures', 'open-until', 'probe-until']) this.set(`${key}:${name}`, 0);
      return;
    }
    const failures = this.add(`${key}:failures`, 1, now);
    if (this.number(`${key}:open-until`, now) > 0 || failures >= threshold) {
      this.set(`${key}:open-until`, now + cooldownMs);
      this.set(`${key}:probe-until`, 0);
    }
  }

  async circuitState(key: string, now: number): Promise<CircuitState> {
    const openUntil = this.number(`${key}:open-until`, now);
    if (openUntil === 0) return 'closed';
    return now < openUntil ? 'open' : 'half_open';
  }

  private credits(key: string, now: number): CreditState {
    const remaining = this.numbers.get(`${key}:credits:remaining`);
    let inFlight = 0;
    for (const lease of this.leases(`${key}:slots`, now).values()) inFlight += lease.cost;
    return {
      remaining: remaining ? remaining.value : null,
      spentToday: this.number(spentKey(key, now), now),
      inFlight,
      closedUntil: this.number(`${key}:credits:closed`, now),
    };
  }

  private allowance(key: string, now: number): AllowanceState {
    let inFlight = 0;
    for (const lease of this.leases(`${key}:reserved`, now).values()) inFlight += lease.cost;
    return { spentToday: this.number(spentKey(key, now), now), inFlight };
  }

  private window(key: string, limit: RateLimit, now: number) {
    const id = `${key}|${limit.windowMs}`;
    let ends = this.uses.get(id);
    if (!ends) this.uses.set(id, (ends = []));
    let expired = 0;
    while (expired < ends.length && ends[expired]! <= now) expired++;
    if (expired > 0) ends.splice(0, expired);
    return { limit, ends };
  }

  private leases(key: string, now: number): Map<string, Lease> {
    let leases = this.leaseSets.get(key);
    if (!leases) this.leaseSets.set(key, (leases = new Map()));
    for (const [token, lease] of leases) if (lease.expiresAt <= now) leases.delete(token);
    return leases;
  }

  private number(key: string, now: number): number {
    const held = this.numbers.get(key);
    if (!held) return 0;
    if (held.expiresAt <= now) {
      this.numbers.delete(key);
      return 0;
    }
    return held.value;
  }

  private set(key: string, value: number, expiresAt = Number.POSITIVE_INFINITY): void {
    this.numbers.set(key, { value, expiresAt });
  }

  private add(key: string, delta: number, now: number, expiresAt = Number.POSITIVE_INFINITY): number {
    const value = this.number(key, now) + delta;
    this.numbers.set(key, { value, expiresAt });
    return value;
  }
}

/** The counter of what a ledger spent on the UTC day of `now`. */
export function spentKey(key: string, now: number): string {
  return `${key}:spent:${isoDay(utcDayStart(now))}`;
}

/** Why a call's credits cannot be reserved now, or undefined when they can. */
function creditRefusal(ledger: CreditState, terms: CreditTerms, now: number): Extract<Reservation, { granted: false }> | undefined {
  if (ledger.closedUntil > now) return { granted: false, refusal: 'credits_closed', retryAfterMs: ledger.closedUntil - now };
  // After the account ran dry, this call is the one credit check: no other test applies.
  if (ledger.closedUntil > 0) return undefined;
  if (ledger.remaining === null && terms.reserve > 0 && ledger.inFlight > 0) {
    return { granted: false, refusal: 'credits_unknown', retryAfterMs: CREDITS_UNKNOWN_RETRY_MS };
  }
  if (ledger.remaining !== null && ledger.remaining - ledger.inFlight - terms.cost < terms.reserve) {
    return { granted: false, refusal: 'reserve', retryAfterMs: RESERVE_RETRY_MS };
  }
  if (terms.dailyCap !== undefined && ledger.spentToday + ledger.inFlight + terms.cost > terms.dailyCap) {
    return { granted: false, refusal: 'daily_cap', retryAfterMs: utcDayStart(now) + DAY_MS - now };
  }
  return undefined;
}

/** 0 when every window has room, else how long until they all have (ms, at least 1). */
function fullFor(windows: readonly { limit: RateLimit; ends: number[] }[], now: number): number {
  let wait = 0;
  for (const w of windows) {
    if (w.ends.length >= w.limit.limit) wait = Math.max(wait, w.ends[w.ends.length - w.limit.limit]! - now, 1);
  }
  return wait;
}

function state(limit: RateLimit, ends: readonly number[], now: number): WindowState {
  return {
    limit: limit.limit,
    windowMs: limit.windowMs,
    remaining: Math.max(0, limit.limit - ends.length),
    refillsInMs: ends.length > 0 ? Math.max(0, ends[0]! - now) : 0,
  };
}

function insertSorted(list: number[], value: number, count: number): void {
  let i = list.length;
  while (i > 0 && list[i - 1]! > value) i--;
  // Nearly always one use at the end (times only grow): no array made, nothing moved.
  if (i === list.length && count === 1) list.push(value);
  else list.splice(i, 0, ...Array<number>(count).fill(value));
}
