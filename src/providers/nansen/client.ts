import { UpstreamError } from '../../errors.js';
import { isOutOfCredits, statusFailure, type FailurePolicy } from '../../upstream/failures.js';
import type { Secret } from '../../secret.js';
import type { CreditReading } from '../../budget/credits.js';
import type { RateLimitReading } from '../../budget/upstream-budget.js';
import type { CreditMeter } from '../../model.js';
import { header, isRecord, parseJsonBody, retryAfterMs, wholeHeader, type UpstreamResponse } from '../../upstream/response.js';
import { type UpstreamClient } from '../../upstream/http.js';

/** A `smart-money/netflow` request body; its shape is the upstream's strict schema. */
export interface NetflowRequestBody {
  chains: string[];
  filters?: {
    include_smart_money_labels?: string[];
    token_address?: string[];
    include_stablecoins?: boolean;
    include_native_tokens?: boolean;
    token_sector?: string[];
    trader_count?: { min?: number; max?: number };
    token_age_days?: { min?: number; max?: number };
    market_cap_usd?: { min?: number; max?: number };
  };
  pagination: { page: number; per_page: number };
  order_by?: { field: string; direction: 'ASC' | 'DESC' }[];
}

export interface NetflowPage {
  rows: unknown[];
  isLastPage: boolean;
  /** `X-Nansen-Credits-Remaining`, when sent. */
  creditsRemaining: number | undefined;
  /** Size of the answer as received, bytes. */
  bytes: number;
}

export const NETFLOW_PATH = '/api/v1/smart-money/netflow';
/** Nansen charges 5 credits for a smart-money/netflow page. */
export const NANSEN_CREDITS_PER_CALL = 5;

export async function fetchNetflowPage(
  client: UpstreamClient,
  apiKey: Secret,
  body: NetflowRequestBody,
  signal: AbortSignal,
  now: number,
  meter?: CreditMeter,
): Promise<NetflowPage> {
  const response = await client.send({
    method: 'POST',
    path: NETFLOW_PATH,
    headers: { apikey: apiKey.reveal(), 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal,
    onAnswer: (answer) => meter?.charge(creditsCharged(answer)),
  });
  if (response.status !== 200) throw statusFailure(response, NANSEN_FAILURES, now);
  const parsed = parseJsonBody('nansen', response);
  if (!isRecord(parsed) || !Array.isArray(parsed.data)) {
    throw new UpstreamError('nansen', 'upstream_malformed', 'the Nansen answer has no data array');
  }
  const pagination = isRecord(parsed.pagination) ? parsed.pagination : {};
  if (typeof pagination.is_last_page !== 'boolean') {
    throw new UpstreamError('nansen', 'upstream_malformed', 'the Nansen answer has no pagination.is_last_page');
  }
  return { rows: parsed.data, isLastPage: pagination.is_last_page, creditsRemaining: creditsRemaining(response), bytes: response.body.length };
}

export function creditsRemaining(response: UpstreamResponse): number | undefined {
  return wholeHeader(response, 'x-nansen-credits-remaining');
}

/** What an answer cost: `X-Nansen-Credits-Used`, or a page's price when a 2xx does not say. */
export function creditsCharged(response: UpstreamResponse): number {
  return wholeHeader(response, 'x-nansen-credits-used') ?? (response.status >= 200 && response.status < 300 ? NANSEN_CREDITS_PER_CALL : 0);
}

/** `X-Nansen-Credits-Used` and `-Remaining`, and whether the answer is the 403 of an account without credits. */
export function readNansenCredits(response: UpstreamResponse): CreditReading {
  return {
    used: wholeHeader(response, 'x-nansen-credits-used'),
    remaining: creditsRemaining(response),
    exhausted: isOutOfCredits(response, NANSEN_FAILURES),
  };
}

/** `X-RateLimit-{Limit,Remaining}-{Second,Minute}` (Kong's convention), for the budget. */
export function readNansenLimits(response: UpstreamResponse): RateLimitReading[] {
  const readings: RateLimitReading[] = [];
  for (const [suffix, windowMs] of [['second', 1000], ['minute', 60_000]] as const) {
    const remaining = wholeHeader(response, `x-ratelimit-remaining-${suffix}`);
    const limit = wholeHeader(response, `x-ratelimit-limit-${suffix}`);
    if (remaining !== undefined) readings.push({ windowMs, remaining, ...(limit !== undefined ? { limit } : {}) });
  }
  return readings;
}

/** How Nansen's error answers read: the envelope's `code`; a 403 `insufficient_credits` means the account ran dry. */
export const NANSEN_FAILURES: FailurePolicy = {
  source: 'nansen',
  title: 'Nansen',
  errorCode: (body) => (isRecord(body) ? body.code : undefined),
  retryAfter: (response, now) => retryAfterMs(header(response, 'retry-after'), now),
  outOfCredits: { status: 403, code: 'insufficient_credits' },
};
