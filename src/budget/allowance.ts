import type { CallerToken } from '../auth/callers.js';
import { ProblemError } from '../errors.js';
import type { CreditMeter } from '../model.js';
import { DAY_MS, utcDayStart, type Clock } from '../time.js';
import type { BudgetStore } from './store.js';

/** The credits one request caused upstream, charged to its caller's allowance. */
export interface CallerCharge extends CreditMeter {
  /** Ends the reservation: what was planned stops being in flight, what was charged is spent. */
  settle(): Promise<void>;
}

const NO_CHARGE: CallerCharge = { charge: () => undefined, settle: async () => undefined };

/**
 * Per-caller daily Nansen credit allowances, in the budget store. A request reserves its
 * planned cost before its first upstream call (429 when that would overrun what is left of
 * the allowance), is charged what its upstream answers say they cost, and settles: the
 * reservation ends and the charges count as spent. Credits of a load that outlives its
 * request (a background refresh) are counted when they arrive.
 */
export class CallerCredits {
  constructor(
    private readonly store: BudgetStore,
    private readonly clock: Clock,
    /** A reservation frees itself after this long if its request never settles (ms). */
    private readonly leaseMs: number,
  ) {}

  async admit(caller: CallerToken | undefined, planned: number): Promise<CallerCharge> {
    const allowance = caller?.nansenDailyCredits;
    if (!caller || allowance === undefined || planned === 0) return NO_CHARGE;
    const key = creditsKey(caller);
    const now = this.clock();
    const reservation = await this.store.reserveAllowance({ key, amount: planned, allowance, leaseUntil: now + this.leaseMs, now });
    if (!reservation.granted) {
      const retryAfterS = Math.max(1, Math.ceil((utcDayStart(now) + DAY_MS - now) / 1000));
      const inFlight = reservation.inFlight > 0 ? `, ${reservation.inFlight} in flight` : '';
      throw new ProblemError(
        'rate_limited',
        `this request may cost ${planned} Nansen credits, more than is left of the daily Nansen credit allowance of caller ${caller.name}: ${reservation.spentToday} of ${allowance} spent today (UTC)${inFlight}`,
        { retryAfterS },
      );
    }
    let charged = 0;
    let settled = false;
    return {
      charge: (credits) => {
        if (credits <= 0) return;
        if (!settled) charged += credits;
        else void this.store.settleAllowance(key, undefined, credits, this.clock()).catch(() => undefined);
      },
      settle: async () => {
        settled = true;
        await this.store.settleAllowance(key, reservation.token, charged, this.clock());
      },
    };
  }

  /** What /admin/budgets and /metrics show of a caller's allowance, or undefined when it has none. */
  async snapshot(caller: CallerToken) {
    if (caller.nansenDailyCredits === undefined) return undefined;
    const state = await this.store.allowanceState(creditsKey(caller), this.clock());
    return { allowance: caller.nansenDailyCredits, spent_today: state.spentToday, in_flight: state.inFlight };
  }
}

function creditsKey(caller: CallerToken): string {
  return `caller:${caller.name}:nansen-credits`;
}
