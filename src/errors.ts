import type { SourceId } from './model.js';

/** The one catalogue of errors a caller can see: status and title per stable code. */
export const ERRORS = {
  invalid_parameter: { status: 400, title: 'Invalid parameter' },
  bad_request: { status: 400, title: 'Bad request' },
  unauthenticated: { status: 401, title: 'Unauthenticated' },
  forbidden: { status: 403, title: 'Forbidden' },
  not_found: { status: 404, title: 'Not found' },
  method_not_allowed: { status: 405, title: 'Method not allowed' },
  not_acceptable: { status: 406, title: 'Not acceptable' },
  request_timeout: { status: 408, title: 'Request timeout' },
  payload_too_large: { status: 413, title: 'Payload too large' },
  uri_too_long: { status: 414, title: 'URI too long' },
  rate_limited: { status: 429, title: 'Rate limited' },
  header_fields_too_large: { status: 431, title: 'Request header fields too large' },
  internal_error: { status: 500, title: 'Internal error' },
  upstream_error: { status: 502, title: 'Upstream error' },
  upstream_unavailable: { status: 503, title: 'Upstream unavailable' },
  history_unavailable: { status: 503, title: 'History unavailable' },
  upstream_timeout: { status: 504, title: 'Upstream timeout' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** RFC 9457 body. `type` is a URN, stable per code. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: ErrorCode;
  param?: string;
}

export class ProblemError extends Error {
  readonly status: number;

  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly extra: { param?: string; retryAfterS?: number; headers?: Record<string, string>; cause?: unknown } = {},
  ) {
    super(detail, { cause: extra.cause });
    this.name = 'ProblemError';
    this.status = ERRORS[code].status;
  }

  toProblem(): Problem {
    return problemBody(this.code, this.detail, this.extra.param);
  }
}

/** The body of a problem. Whatever reached `detail` and `param` unescaped is escaped here too. */
export function problemBody(code: ErrorCode, detail: string, param?: string): Problem {
  const { status, title } = ERRORS[code];
  return {
    type: `urn:netflows:problem:${code}`,
    title,
    status,
    detail: escapeNonPrintable(detail),
    code,
    ...(param ? { param: escapeNonPrintable(param) } : {}),
  };
}

/** Longest echo of a caller's value in an error, in characters (before escaping). */
export const ECHO_MAX_CHARS = 64;
/** What a terminal or a log viewer could act on or hide: C0, DEL and C1 controls, format characters (bidi overrides), line and paragraph separators, surrogates, private use. */
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Zl}\p{Zp}]/gu;

/** A caller's value as an error may show it: cut to `max` characters, then every non-printable character escaped (`\u001b`). */
export function echo(value: string, max = ECHO_MAX_CHARS): string {
  const chars = [...value];
  return escapeNonPrintable(chars.length > max ? `${chars.slice(0, max).join('')}…` : value);
}

function escapeNonPrintable(text: string): string {
  return text.replace(NON_PRINTABLE, (c) => {
    const code = c.codePointAt(0)!;
    return code > 0xffff ? `\\u{${code.toString(16)}}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

export function invalidParameter(param: string, detail: string): ProblemError {
  return new ProblemError('invalid_parameter', detail, { param });
}

/** What went wrong with one source's answer (an upstream call, or the history store it needed), in terms a caller may see. */
export type UpstreamFailure =
  | 'upstream_timeout'
  | 'upstream_unreachable'
  | 'upstream_rate_limited'
  | 'upstream_error'
  | 'upstream_malformed'
  | 'upstream_rejected_key'
  | 'upstream_credits_exhausted'
  | 'budget_exhausted'
  | 'circuit_open'
  | 'history_unavailable';

const FAILURE_TO_CODE: Record<UpstreamFailure, ErrorCode> = {
  upstream_timeout: 'upstream_timeout',
  upstream_unreachable: 'upstream_unavailable',
  upstream_rate_limited: 'upstream_unavailable',
  upstream_error: 'upstream_error',
  upstream_malformed: 'upstream_error',
  upstream_rejected_key: 'upstream_error',
  upstream_credits_exhausted: 'upstream_unavailable',
  budget_exhausted: 'upstream_unavailable',
  circuit_open: 'upstream_unavailable',
  history_unavailable: 'history_unavailable',
};

/**
 * A failed upstream call, or a source's answer that needed the history store while it was
 * away. `message` is written for callers: it never holds an upstream URL, body or key. The
 * original error, if any, is the `cause`.
 */
export class UpstreamError extends Error {
  constructor(
    readonly source: SourceId,
    readonly failure: UpstreamFailure,
    message: string,
    readonly options: { cause?: unknown; status?: number; retryAfterMs?: number; retryable?: boolean } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'UpstreamError';
  }

  get code(): ErrorCode {
    return FAILURE_TO_CODE[this.failure];
  }
}

/** The one mapping of upstream failures into the catalogue. */
export function upstreamProblem(errors: readonly UpstreamError[]): ProblemError {
  const first = errors[0]!;
  const retryAfters = errors.map((e) => e.options.retryAfterMs).filter((ms): ms is number => ms !== undefined);
  const retryAfterS = ERRORS[first.code].status === 503 ? Math.max(1, Math.ceil(Math.max(1000, ...retryAfters) / 1000)) : undefined;
  const detail = errors.map((e) => `${e.source}: ${e.message}`).join('; ');
  return new ProblemError(first.code, detail, { retryAfterS, cause: first });
}

/** Why stale data stood in for a source: its failure, in the words a caller may see. */
export interface StaleReason {
  code: string;
  detail: string;
}

export function staleReason(error: unknown): StaleReason {
  if (error instanceof UpstreamError) return { code: error.failure, detail: error.message };
  const reason = error as Partial<StaleReason> | null;
  if (typeof reason?.code === 'string' && typeof reason.detail === 'string') return { code: reason.code, detail: reason.detail };
  return { code: 'upstream_error', detail: 'the upstream call failed' };
}
