import { UpstreamError } from '../errors.js';
import type { SourceId } from '../model.js';
import { isRecord, type UpstreamResponse } from './response.js';

/** What differs between upstreams in how their error answers read; each provider declares one. */
export interface FailurePolicy {
  source: SourceId;
  /** The upstream's name in sentences (Coin Metrics, Nansen). */
  title: string;
  /** Where the parsed error body names its code (Coin Metrics `error.type`, Nansen `code`); never its message. */
  errorCode(body: unknown): unknown;
  /** How long a 429 asks us to wait (ms), from its headers. */
  retryAfter(response: UpstreamResponse, now: number): number | undefined;
  /** The answer of an account without credits, for an upstream that charges them. */
  outOfCredits?: { status: number; code: string };
}

/** After an upstream said the account has no credits, callers are told to come back in an hour. */
export const CREDITS_EXHAUSTED_RETRY_MS = 3_600_000;
const RETRYABLE_STATUSES = new Set([502, 503, 504]);

/** The one mapping of an upstream's error status to a failure: status and body code, never the body's message. */
export function statusFailure(response: UpstreamResponse, policy: FailurePolicy, now: number): UpstreamError {
  const { status } = response;
  const { source, title } = policy;
  const code = errorCode(response, policy);
  const named = code ? ` (${code})` : '';
  if (status === 401) return new UpstreamError(source, 'upstream_rejected_key', `${title} rejected the gateway's credentials${named}`, { status });
  if (isOutOfCredits(response, policy)) {
    return new UpstreamError(source, 'upstream_credits_exhausted', `the ${title} account has no credits left`, { status, retryAfterMs: CREDITS_EXHAUSTED_RETRY_MS });
  }
  if (status === 429) {
    return new UpstreamError(source, 'upstream_rate_limited', `${title} rate limit reached`, {
      status,
      retryAfterMs: policy.retryAfter(response, now) ?? 1000,
      retryable: true,
    });
  }
  if (status >= 500) return new UpstreamError(source, 'upstream_error', `${title} answered ${status}${named}`, { status, retryable: RETRYABLE_STATUSES.has(status) });
  return new UpstreamError(source, 'upstream_error', `${title} refused the request with ${status}${named}`, { status });
}

/** Whether the answer says the account has no credits left (never retried; the budget closes the upstream). */
export function isOutOfCredits(response: UpstreamResponse, policy: FailurePolicy): boolean {
  const { outOfCredits } = policy;
  return outOfCredits !== undefined && response.status === outOfCredits.status && errorCode(response, policy) === outOfCredits.code;
}

/** The code an error body names, when it is a short snake_case word; anything else is not repeated. */
function errorCode(response: UpstreamResponse, policy: FailurePolicy): string | undefined {
  let body: unknown;
  try {
    body = JSON.parse(response.body);
  } catch {
    return undefined;
  }
  const code = isRecord(body) ? policy.errorCode(body) : undefined;
  return typeof code === 'string' && /^[a-z_]{1,40}$/.test(code) ? code : undefined;
}

const RETRYABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/** Maps a transport error (undici or socket) to an UpstreamError. */
export function transportFailure(source: SourceId, error: unknown, timedOut: boolean): UpstreamError {
  if (error instanceof UpstreamError) return error;
  const code = (error as { code?: string } | null)?.code ?? '';
  if (timedOut || code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new UpstreamError(source, 'upstream_timeout', 'the upstream did not answer in time', { cause: error, retryable: true });
  }
  if (code === 'UND_ERR_RES_EXCEEDED_MAX_SIZE') {
    return new UpstreamError(source, 'upstream_malformed', 'the upstream answer was larger than allowed', { cause: error });
  }
  return new UpstreamError(source, 'upstream_unreachable', 'the upstream could not be reached', {
    cause: error,
    retryable: RETRYABLE_SOCKET_CODES.has(code),
  });
}
