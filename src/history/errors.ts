import { UpstreamError } from '../errors.js';
import type { SourceId } from '../model.js';

/**
 * The history store cannot answer now (still opening, unreachable, or too slow). The
 * route maps it to 503 `history_unavailable` with `Retry-After`; the cause is kept for
 * logs and never shown to a caller.
 */
export class HistoryUnavailable extends Error {
  readonly code = 'history_unavailable';

  constructor(
    message: string,
    /** When asking again makes sense (ms). */
    readonly retryAfterMs: number,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
    this.name = 'HistoryUnavailable';
  }
}

/** A read the answer of `source` needed, refused by the store, as that source's failure: 503 `history_unavailable` with `Retry-After`. */
export function sourceFailure(source: SourceId, error: HistoryUnavailable): UpstreamError {
  return new UpstreamError(source, 'history_unavailable', error.message, { cause: error, retryAfterMs: error.retryAfterMs });
}

/** The store cannot be used at all (a corrupt or foreign data directory, a newer schema): the start stops. */
export class HistoryOpenError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    this.name = 'HistoryOpenError';
  }
}

/** SQLSTATE classes of trouble with the server rather than with our SQL: connection, resources, operator intervention, system errors. */
const TRANSIENT_CLASSES = new Set(['08', '53', '57', '58']);
/** Serialization failure and deadlock: a concurrent writer won; trying again succeeds. */
const RETRYABLE_STATES = new Set(['40001', '40P01']);

const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/** node-postgres says these in words only: a lost or timed-out connection, a pool that could not connect. */
const DRIVER_MESSAGES = /connection terminated|connection ended|timeout exceeded when trying to connect|query read timeout|connection error/i;

/**
 * True when an error means the database is away, slow or busy (so waiting helps), false
 * when it is about our SQL or data (so waiting does not).
 */
export function isTransient(error: unknown): boolean {
  if (error instanceof HistoryUnavailable) return true;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    return TRANSIENT_CLASSES.has(code.slice(0, 2)) || RETRYABLE_STATES.has(code);
  }
  if (typeof code === 'string' && SOCKET_CODES.has(code)) return true;
  return error instanceof Error && DRIVER_MESSAGES.test(error.message);
}
