import { setTimeout as sleepTimer } from 'node:timers/promises';
import type { RateLimit } from '../config.js';
import { UpstreamError } from '../errors.js';
import type { SourceId } from '../providers/types.js';
import type { Clock } from '../time.js';
import type { UpstreamResponse } from '../upstream/http.js';
import type { CreditLedger } from './credits.js';
import type { BudgetStore, WindowState } from './store.js';

/** What an upstream's own headers say about one of its windows. */
export interface RateLimitReading {
  /** The window it describes, when the header says (Nansen's -Second/-Minute); else matched by limit. */
  windowMs?: number;
  limit?: number;
  remaining: number;
  resetMs?: number;
}

export interface UpstreamBudgetOptions {
  source: SourceId;
  /** Key of this credential's budget; never the credential itself. */
  key: string;
  limits: readonly RateLimit[];
  maxInFlight: number;
  /** A call slot frees itself after this long if its call never settles (a replica died), ms. */
  slotLeaseMs: number;
  /** Longest wait for budget before giving up (ms). */
  maxWaitMs: number;
  store: BudgetStore;
  clock: Clock;
  /** The upstream's rate-limit headers, read. */
  readLimits: (response: UpstreamResponse) => RateLimitReading[];
  /** How long a 429 asks us to pause (ms), from its headers. */
  retryAfter: (response: UpstreamResponse, now: number) => number | undefined;
  credits?: CreditLedger;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

/** One admitted call: hand it the response (or nothing, on a transport failure) when it is over. */
export interface Permit {
  settle(response: UpstreamResponse | undefined): Promise<void>;
}

const SLOT_POLL_MS = 10;
const DEFAULT_PAUSE_MS = 1000;
const RECORDED_HEADERS = /^(x-)?ratelimit|^retry-after$|^x-nansen-credits|^x-nansen-ratelimit-scope$/;

/**
 * One upstream credential's budget: every configured window, a cap on calls in flight, a
 * pause after a 429, and (Nansen) the credit ledger. A call waits briefly for budget and
 * past `maxWaitMs` is refused with the time budget returns, so the caller can answer
 * stale or 503 with Retry-After. The upstream's own headers correct the local counts.
 *
 * Windows are kept a little longer than configured (2 %, at least 100 ms): the upstream
 * counts a call when it arrives, a moment after we counted it, so an exact local window
 * would free its slot just before the upstream's does. A call answered later than that
 * margin counts again from its answer.
 */
export class UpstreamBudget {
  private readonly effective: readonly RateLimit[];
  private upstream429s = 0;
  private lastHeaders: Record<string, string> = {};
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(private readonly options: UpstreamBudgetOptions) {
    this.effective = options.limits.map((l) => ({ ...l, windowMs: l.windowMs + Math.max(100, Math.ceil(l.windowMs * 0.02)) }));
    this.sleep = options.sleep ?? ((ms, signal) => sleepTimer(ms, undefined, { signal }));
  }

  async admit(signal: AbortSignal): Promise<Permit> {
    const { store, key, clock, maxWaitMs, maxInFlight, credits } = this.options;
    const giveUpAt = clock() + maxWaitMs;
    for (;;) {
      const now = clock();
      const pausedUntil = (await store.getNumber(`${key}:paused`)) ?? 0;
      if (pausedUntil > now) {
        await this.waitOrRefuse(pausedUntil - now, giveUpAt, signal, `${this.options.source} asked us to pause after a 429`);
        continue;
      }
      await credits?.check(now);
      const slot = await store.acquireSlot(`${key}:slots`, maxInFlight, now + this.options.slotLeaseMs, now);
      if (slot === undefined) {
        await this.waitOrRefuse(SLOT_POLL_MS, giveUpAt, signal, `${maxInFlight} calls to ${this.options.source} are already in flight`);
        continue;
      }
      const taken = await store.take(key, this.effective, now);
      if (!taken.granted) {
        await store.releaseSlot(`${key}:slots`, slot);
        await this.waitOrRefuse(taken.retryAfterMs, giveUpAt, signal, `the ${this.options.source} rate-limit budget is spent`);
        continue;
      }
      await credits?.reserve();
      return { settle: (response) => this.settle(response, slot, now) };
    }
  }

  private async waitOrRefuse(waitMs: number, giveUpAt: number, signal: AbortSignal, why: string): Promise<void> {
    const now = this.options.clock();
    if (now + waitMs > giveUpAt || signal.aborted) {
      throw new UpstreamError(this.options.source, 'budget_exhausted', `${why}; budget returns in ${Math.ceil(waitMs / 1000)} s`, {
        retryAfterMs: Math.max(waitMs, 1000),
      });
    }
    await this.sleep(Math.max(1, waitMs), signal).catch(() => undefined);
  }

  private async settle(response: UpstreamResponse | undefined, slot: string, admittedAt: number): Promise<void> {
    const { store, key, clock, credits } = this.options;
    await store.releaseSlot(`${key}:slots`, slot);
    await credits?.settle(response, clock());
    if (!response) return;
    const now = clock();
    await this.countLateArrival(admittedAt, now);
    this.lastHeaders = pickHeaders(response);
    if (response.status === 429) {
      this.upstream429s++;
      const pauseMs = this.options.retryAfter(response, now) ?? DEFAULT_PAUSE_MS;
      await store.setNumber(`${key}:paused`, now + pauseMs, now + pauseMs);
    }
    for (const reading of this.options.readLimits(response)) await this.correct(reading, now);
  }

  /**
   * The upstream counted this call when it arrived, at the latest when it answered. If that
   * was later than the margin our windows allow (a busy event loop, a slow connection), the
   * call also counts from its answer on, so no window frees its slot before the upstream's.
   */
  private async countLateArrival(admittedAt: number, answeredAt: number): Promise<void> {
    for (const [i, limit] of this.effective.entries()) {
      const margin = limit.windowMs - this.options.limits[i]!.windowMs;
      if (answeredAt - admittedAt > margin) await this.options.store.consume(this.options.key, limit, 1, answeredAt + this.options.limits[i]!.windowMs, answeredAt);
    }
  }

  /** When the upstream has fewer uses left than we think, count the difference as used. */
  private async correct(reading: RateLimitReading, now: number): Promise<void> {
    const { limits } = this.options;
    let index = limits.findIndex((l) => (reading.windowMs !== undefined ? l.windowMs === reading.windowMs : l.limit === reading.limit));
    if (index < 0 && reading.windowMs === undefined && limits.length === 1) index = 0;
    const limit = this.effective[index];
    if (!limit) return;
    const [local] = await this.options.store.peek(this.options.key, [limit], now);
    const missing = Math.min(limit.limit, (local?.remaining ?? 0) - reading.remaining);
    if (missing <= 0) return;
    await this.options.store.consume(this.options.key, limit, missing, now + (reading.resetMs ?? limit.windowMs), now);
  }

  async snapshot() {
    const { store, key, clock, limits, maxInFlight, credits, source } = this.options;
    const now = clock();
    const windows: WindowState[] = await store.peek(key, this.effective, now);
    const pausedUntil = (await store.getNumber(`${key}:paused`)) ?? 0;
    return {
      source,
      windows: windows.map((w, i) => ({
        limit: limits[i]!.text,
        remaining: w.remaining,
        refills_in_s: Math.ceil(w.refillsInMs / 1000),
      })),
      in_flight: await store.slots(`${key}:slots`, now),
      max_in_flight: maxInFlight,
      paused_for_s: Math.max(0, Math.ceil((pausedUntil - now) / 1000)),
      upstream_429s: this.upstream429s,
      last_rate_limit_headers: this.lastHeaders,
      ...(credits ? { credits: await credits.snapshot(now) } : {}),
    };
  }
}

function pickHeaders(response: UpstreamResponse): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined && RECORDED_HEADERS.test(name)) picked[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return picked;
}
