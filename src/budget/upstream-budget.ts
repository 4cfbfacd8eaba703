import { setTimeout as sleepTimer } from 'node:timers/promises';
import type { RateLimit } from '../ratelimit.js';
import { UpstreamError } from '../errors.js';
import type { SourceId } from '../model.js';
import type { Clock } from '../time.js';
import type { CallAdmission, Permit } from '../upstream/http.js';
import type { UpstreamResponse } from '../upstream/response.js';
import { creditRefusal, creditSnapshot, type UpstreamCredits } from './credits.js';
import type { BudgetStore, Refusal, SettleRequest } from './store.js';

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
  /** The upstream's name in sentences (Nansen, Coin Metrics). */
  name: string;
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
  /** An upstream that charges credits per call. */
  credits?: UpstreamCredits;
  /** Headers of the upstream's own to record as last seen, beside the rate-limit ones and Retry-After. */
  recordedHeaders?: RegExp;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

const DEFAULT_PAUSE_MS = 1000;
const RECORDED_HEADERS = /^(x-)?ratelimit|^retry-after$/;

/**
 * One upstream credential's budget: every configured window, a cap on calls in flight, a
 * pause after a 429, and the credits of an upstream that charges them. Each call is one
 * reservation in the store, which checks all of these and takes all of them or nothing,
 * and one settlement with what its answer said; so concurrent calls, in one process or
 * across replicas, never see each other half done. A call waits briefly for budget and
 * past `maxWaitMs` is refused with the time budget returns, so the caller can answer stale
 * or 503 with Retry-After. The upstream's own headers correct the local counts.
 *
 * Windows are kept a little longer than configured (2 %, at least 100 ms): the upstream
 * counts a call when it arrives, a moment after we counted it, so an exact local window
 * would free its slot just before the upstream's does. A call answered later than that
 * margin counts again from its answer.
 */
export class UpstreamBudget implements CallAdmission {
  private readonly effective: readonly RateLimit[];
  private upstream429s = 0;
  private lastHeaders: Record<string, string> = {};
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(private readonly options: UpstreamBudgetOptions) {
    this.effective = options.limits.map((l) => ({ ...l, windowMs: l.windowMs + Math.max(100, Math.ceil(l.windowMs * 0.02)) }));
    this.sleep = options.sleep ?? ((ms, signal) => sleepTimer(ms, undefined, { signal }));
  }

  async admit(signal: AbortSignal): Promise<Permit> {
    const { store, key, clock, maxWaitMs, maxInFlight, slotLeaseMs, credits, source, name } = this.options;
    const giveUpAt = clock() + maxWaitMs;
    for (;;) {
      const now = clock();
      const reservation = await store.reserve({ key, limits: this.effective, maxInFlight, leaseUntil: now + slotLeaseMs, ...(credits ? { credits: credits.terms } : {}), now });
      if (reservation.granted) return { settle: (response) => this.settle(response, reservation.token, now) };
      const refused = credits && creditRefusal(source, name, reservation.refusal, reservation.retryAfterMs, reservation.credits, credits.terms);
      if (refused) throw refused;
      await this.waitOrRefuse(reservation.retryAfterMs, giveUpAt, signal, this.why(reservation.refusal));
    }
  }

  private why(refusal: Refusal): string {
    const { source, maxInFlight, name } = this.options;
    if (refusal === 'paused') return `${source} asked us to pause after a 429`;
    if (refusal === 'in_flight') return `${maxInFlight} calls to ${source} are already in flight`;
    if (refusal === 'credits_unknown') return `the ${name} credit balance is not known yet`;
    return `the ${source} rate-limit budget is spent`;
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

  /** Everything one answer says, applied in one step: the slot, credits, a pause, late and corrected counts. */
  private async settle(response: UpstreamResponse | undefined, token: string, admittedAt: number): Promise<void> {
    const { store, key, clock, credits } = this.options;
    if (!response) return store.release(key, token);
    const now = clock();
    this.lastHeaders = pickHeaders(response, this.options.recordedHeaders);
    const request: SettleRequest = { key, token, now, late: this.lateUses(admittedAt, now), corrections: this.corrections(response, now) };
    if (response.status === 429) {
      this.upstream429s++;
      request.pauseUntil = now + (this.options.retryAfter(response, now) ?? DEFAULT_PAUSE_MS);
    }
    if (credits) request.credits = { ...credits.terms, ...credits.read(response), succeeded: response.status >= 200 && response.status < 300 };
    await store.settle(request);
  }

  /**
   * The upstream counted this call when it arrived, at the latest when it answered. If that
   * was later than the margin our windows allow (a busy event loop, a slow connection), the
   * call also counts from its answer on, so no window frees its slot before the upstream's.
   */
  private lateUses(admittedAt: number, answeredAt: number): SettleRequest['late'] {
    return this.effective.flatMap((limit, i) => {
      const configured = this.options.limits[i]!.windowMs;
      return answeredAt - admittedAt > limit.windowMs - configured ? [{ limit, endsAt: answeredAt + configured }] : [];
    });
  }

  /** Where the upstream has fewer uses left than we count, the store counts the difference as used. */
  private corrections(response: UpstreamResponse, now: number): SettleRequest['corrections'] {
    const { limits, readLimits } = this.options;
    return readLimits(response).flatMap((reading) => {
      let index = limits.findIndex((l) => (reading.windowMs !== undefined ? l.windowMs === reading.windowMs : l.limit === reading.limit));
      if (index < 0 && reading.windowMs === undefined && limits.length === 1) index = 0;
      const limit = this.effective[index];
      return limit ? [{ limit, remaining: reading.remaining, endsAt: now + (reading.resetMs ?? limit.windowMs) }] : [];
    });
  }

  /** The budget as admission sees it now, in whatever mode the store is. */
  async snapshot() {
    const { store, key, clock, limits, maxInFlight, credits, source } = this.options;
    const now = clock();
    const state = await store.upstreamState(key, this.effective, credits !== undefined, now);
    return {
      source,
      windows: state.windows.map((w, i) => ({
        limit: limits[i]!.text,
        remaining: w.remaining,
        refills_in_s: Math.ceil(w.refillsInMs / 1000),
      })),
      in_flight: state.inFlight,
      max_in_flight: maxInFlight,
      paused_for_s: Math.max(0, Math.ceil((state.pausedUntil - now) / 1000)),
      upstream_429s: this.upstream429s,
      last_rate_limit_headers: this.lastHeaders,
      ...(credits && state.credits ? { credits: creditSnapshot(state.credits, credits.terms, now) } : {}),
    };
  }
}

function pickHeaders(response: UpstreamResponse, own: RegExp | undefined): Record<string, string> {
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined && (RECORDED_HEADERS.test(name) || own?.test(name))) picked[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return picked;
}
