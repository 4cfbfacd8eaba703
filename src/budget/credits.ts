import { UpstreamError } from '../errors.js';
import { DAY_MS, isoDay, utcDayStart } from '../time.js';
import { wholeHeader, type UpstreamResponse } from '../upstream/http.js';
import type { BudgetStore } from './store.js';

export interface CreditLedgerOptions {
  store: BudgetStore;
  /** Key of this credential's ledger; never the credential. */
  key: string;
  /** Credits a call costs (Nansen netflow: 5). */
  costPerCall: number;
  /** Never let the reported balance fall below this. */
  reserve: number;
  /** Most credits to spend per UTC day; undefined = no cap. */
  dailyCap: number | undefined;
}

/** After a 403 insufficient_credits, the next credit check (one real call) waits this long. */
export const CREDIT_RECHECK_MS = 60_000;

/**
 * Nansen credits as the upstream reports them (`X-Nansen-Credits-Remaining`, `-Used`),
 * plus the credits of calls in flight. Refuses a call that would take the balance below
 * the reserve or the day's spending over the cap; after an out-of-credits 403 it refuses
 * every call until the next check, which is one real call a minute later.
 */
export class CreditLedger {
  constructor(private readonly options: CreditLedgerOptions) {}

  async check(now: number): Promise<void> {
    const { store, key, costPerCall, reserve, dailyCap } = this.options;
    const closedUntil = (await store.getNumber(`${key}:closed`)) ?? 0;
    if (closedUntil > now) {
      throw new UpstreamError('nansen', 'upstream_credits_exhausted', 'the Nansen account has no credits left', { retryAfterMs: closedUntil - now });
    }
    if (closedUntil > 0) {
      // This call is the credit check; the others wait for its answer.
      await store.setNumber(`${key}:closed`, now + CREDIT_RECHECK_MS);
      return;
    }
    const pending = (await store.getNumber(`${key}:pending`)) ?? 0;
    const remaining = await store.getNumber(`${key}:remaining`);
    if (remaining !== undefined && remaining - pending - costPerCall < reserve) {
      throw new UpstreamError('nansen', 'budget_exhausted', `the Nansen credit reserve is reached: ${remaining} credits left, reserve ${reserve}`, {
        retryAfterMs: 3_600_000,
      });
    }
    const spent = (await store.getNumber(this.spentKey(now))) ?? 0;
    if (dailyCap !== undefined && spent + pending + costPerCall > dailyCap) {
      throw new UpstreamError('nansen', 'budget_exhausted', `the daily Nansen credit cap is reached: ${spent} of ${dailyCap} spent today (UTC)`, {
        retryAfterMs: utcDayStart(now) + DAY_MS - now,
      });
    }
  }

  /** Counts a call's credits as pending until its answer says what it cost. */
  async reserve(): Promise<void> {
    await this.options.store.addNumber(`${this.options.key}:pending`, this.options.costPerCall);
  }

  /** Ends a reserved call: its credits stop being pending, and its headers update the ledger. */
  async settle(response: UpstreamResponse | undefined, now: number): Promise<void> {
    const { store, key, costPerCall } = this.options;
    await store.addNumber(`${key}:pending`, -costPerCall);
    if (!response) return;
    const used = wholeHeader(response, 'x-nansen-credits-used');
    const remaining = wholeHeader(response, 'x-nansen-credits-remaining');
    if (used !== undefined && used > 0) await store.addNumber(this.spentKey(now), used, utcDayStart(now) + 2 * DAY_MS);
    if (remaining !== undefined) await store.setNumber(`${key}:remaining`, remaining);
    if (response.status === 403 && /insufficient_credits/.test(response.body)) {
      await store.setNumber(`${key}:closed`, now + CREDIT_RECHECK_MS);
      if (remaining === undefined) await store.setNumber(`${key}:remaining`, 0);
    } else if (response.status >= 200 && response.status < 300) {
      await store.setNumber(`${key}:closed`, 0);
    }
  }

  async snapshot(now: number) {
    const { store, key, reserve, dailyCap } = this.options;
    const closedUntil = (await store.getNumber(`${key}:closed`)) ?? 0;
    return {
      remaining: (await store.getNumber(`${key}:remaining`)) ?? null,
      spent_today: (await store.getNumber(this.spentKey(now))) ?? 0,
      in_flight: (await store.getNumber(`${key}:pending`)) ?? 0,
      reserve,
      daily_cap: dailyCap ?? null,
      closed_for_s: Math.max(0, Math.ceil((closedUntil - now) / 1000)),
    };
  }

  private spentKey(now: number): string {
    return `${this.options.key}:spent:${isoDay(utcDayStart(now))}`;
  }
}
