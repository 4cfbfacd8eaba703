import { UpstreamError } from '../errors.js';
import type { SourceId } from '../model.js';
import type { UpstreamResponse } from '../upstream/response.js';
import type { CreditState, CreditTerms, Refusal } from './store.js';

/** After the account ran dry, the next credit check (one real call) waits this long. */
export const CREDIT_RECHECK_MS = 60_000;

/** What one answer says about credits, in the upstream's own headers and body. */
export interface CreditReading {
  /** Credits this call cost, when the upstream says. */
  used: number | undefined;
  /** Credits left on the account, when the upstream says. */
  remaining: number | undefined;
  /** The upstream refused the call because the account has no credits left. */
  exhausted: boolean;
}

/** An upstream that charges credits per call: its terms and how to read its answers. */
export interface UpstreamCredits {
  terms: CreditTerms;
  read: (response: UpstreamResponse) => CreditReading;
}

/**
 * The refusal of a call for credits, as the error the caller sees, or undefined when the
 * refusal is one to wait out (a 429 pause, a full window, the balance not yet known).
 */
export function creditRefusal(source: SourceId, name: string, refusal: Refusal, retryAfterMs: number, ledger: CreditState | undefined, terms: CreditTerms): UpstreamError | undefined {
  if (refusal === 'credits_closed') {
    return new UpstreamError(source, 'upstream_credits_exhausted', `the ${name} account has no credits left`, { retryAfterMs });
  }
  if (refusal === 'reserve') {
    const inFlight = ledger?.inFlight ? `, ${ledger.inFlight} in flight` : '';
    return new UpstreamError(source, 'budget_exhausted', `the ${name} credit reserve is reached: ${ledger?.remaining ?? 0} credits left${inFlight}, reserve ${terms.reserve}`, {
      retryAfterMs,
    });
  }
  if (refusal === 'daily_cap') {
    const spent = ledger?.spentToday ?? 0;
    const inFlight = ledger?.inFlight ? `, ${ledger.inFlight} in flight` : '';
    return new UpstreamError(source, 'budget_exhausted', `the daily ${name} credit cap is reached: ${spent} of ${terms.dailyCap} spent today (UTC)${inFlight}`, { retryAfterMs });
  }
  return undefined;
}

/** The credit ledger as /admin/budgets shows it. */
export function creditSnapshot(ledger: CreditState, terms: CreditTerms, now: number) {
  return {
    remaining: ledger.remaining,
    spent_today: ledger.spentToday,
    in_flight: ledger.inFlight,
    reserve: terms.reserve,
    daily_cap: terms.dailyCap ?? null,
    closed_for_s: Math.max(0, Math.ceil((ledger.closedUntil - now) / 1000)),
  };
}
