import type { RateLimit } from '../ratelimit.js';

/** One window of a budget as it stands now. */
export interface WindowState {
  limit: number;
  windowMs: number;
  /** Uses still allowed in the window now. */
  remaining: number;
  /** When the next use leaves the window (ms from now; 0 when none is counted). */
  refillsInMs: number;
}

export interface TakeResult {
  granted: boolean;
  /** When not granted: how long until every window has room again (ms). */
  retryAfterMs: number;
  windows: WindowState[];
}

/** The credit terms of an upstream that charges per call (Nansen). */
export interface CreditTerms {
  /** Credits one call is reserved at. */
  cost: number;
  /** Never let the reported balance fall below this. */
  reserve: number;
  /** Most credits to spend per UTC day; undefined = no cap. */
  dailyCap: number | undefined;
  /** After the account ran dry, the next call (one credit check) waits this long (ms). */
  recheckMs: number;
}

/** One call asking for budget: every check of the upstream's budget at once. */
export interface ReserveRequest {
  /** The credential's budget key; never the credential. */
  key: string;
  /** Windows as counted locally (a little longer than configured). */
  limits: readonly RateLimit[];
  maxInFlight: number;
  /** The call slot frees itself then if the call never settles (a replica died), ms. */
  leaseUntil: number;
  credits?: CreditTerms;
  now: number;
}

export type Refusal = 'paused' | 'credits_closed' | 'credits_unknown' | 'reserve' | 'daily_cap' | 'in_flight' | 'rate';

/** The credit ledger of an upstream as it stands. */
export interface CreditState {
  /** As the upstream last reported; null before its first answer. */
  remaining: number | null;
  spentToday: number;
  /** Credits reserved by calls under way. */
  inFlight: number;
  /** Until then every call is refused (the account ran dry); 0 when open. */
  closedUntil: number;
}

/** With credit terms, `credits` is the ledger as the reservation found it (plus this call's credits when granted). */
export type Reservation =
  | { granted: true; token: string; credits?: CreditState }
  | { granted: false; refusal: Refusal; retryAfterMs: number; credits?: CreditState };

/** What one answer (or its absence) says, applied to the budget in one step. */
export interface SettleRequest {
  key: string;
  token: string;
  now: number;
  credits?: CreditTerms & {
    /** `…-Credits-Used`, when sent; else a 2xx costs the reserved credits and anything else none. */
    used: number | undefined;
    /** `…-Credits-Remaining`, when sent. */
    remaining: number | undefined;
    succeeded: boolean;
    /** The upstream said the account has no credits left. */
    exhausted: boolean;
  };
  /** A 429 asked us to pause until then (ms). */
  pauseUntil?: number;
  /** Uses to count in a window without asking: a late answer counts once more, until `endsAt`. */
  late: { limit: RateLimit; endsAt: number }[];
  /** What the upstream says is left in a window: the difference counts as used until `endsAt`. */
  corrections: { limit: RateLimit; remaining: number; endsAt: number }[];
}

/** A budget as admission sees it. */
export interface UpstreamState {
  windows: WindowState[];
  inFlight: number;
  pausedUntil: number;
  credits?: CreditState;
}

/** A daily allowance (a caller's Nansen credits): what is spent today and what is reserved. */
export interface AllowanceState {
  spentToday: number;
  inFlight: number;
}

export interface AllowanceRequest {
  key: string;
  amount: number;
  allowance: number;
  /** The reservation frees itself then if it is never settled (ms). */
  leaseUntil: number;
  now: number;
}

export type AllowanceReservation = ({ granted: true; token: string } | { granted: false }) & AllowanceState;

export type CircuitState = 'closed' | 'open' | 'half_open';

/**
 * Where budgets live: rate windows, calls in flight, pauses, credits, caller quotas and
 * allowances, circuits. Every method is one atomic operation of the store, so replicas
 * (Redis) and concurrent requests (memory) never lose an update between a read and its
 * write: a reservation checks everything and takes everything, or nothing.
 */
export interface BudgetStore {
  /** Takes one use from every window of `key`, or none if any window is full (caller quotas). */
  take(key: string, limits: readonly RateLimit[], now: number): Promise<TakeResult>;
  peek(key: string, limits: readonly RateLimit[], now: number): Promise<WindowState[]>;
  /** Counts `count` uses in one window that end at `endsAt`, without asking. */
  consume(key: string, limit: RateLimit, count: number, endsAt: number, now: number): Promise<void>;

  /** Pause, credits, a call slot and every window, checked and taken together. */
  reserve(request: ReserveRequest): Promise<Reservation>;
  /** Ends a reserved call with what its answer said. */
  settle(request: SettleRequest): Promise<void>;
  /** Ends a reserved call that got no answer: its slot and credits are freed. */
  release(key: string, token: string): Promise<void>;
  upstreamState(key: string, limits: readonly RateLimit[], credits: boolean, now: number): Promise<UpstreamState>;

  /** Reserves `amount` of a daily allowance if spent + reserved + amount stays within it. */
  reserveAllowance(request: AllowanceRequest): Promise<AllowanceReservation>;
  /** Frees a reservation (when `token` is given) and counts what was really spent. */
  settleAllowance(key: string, token: string | undefined, spent: number, now: number): Promise<void>;
  allowanceState(key: string, now: number): Promise<AllowanceState>;

  /** 0 when a call may go (it may be the one probe of a half-open circuit), else ms to wait. */
  circuitCheck(key: string, cooldownMs: number, now: number): Promise<number>;
  circuitRecord(key: string, ok: boolean, threshold: number, cooldownMs: number, now: number): Promise<void>;
  circuitState(key: string, now: number): Promise<CircuitState>;
}

/** After a refusal for the credit balance or the daily cap, how long until a retry makes sense (ms). */
export const RESERVE_RETRY_MS = 3_600_000;
/** While the balance is unknown, calls wait for the answer of the one that learns it (ms). */
export const CREDITS_UNKNOWN_RETRY_MS = 20;
export const SLOT_POLL_MS = 10;
