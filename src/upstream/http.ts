import type { Dispatcher } from 'undici';
import type { FastifyBaseLogger } from 'fastify';
import { transportFailure, UpstreamError } from '../errors.js';
import type { SourceId } from '../providers/types.js';
import type { Clock } from '../time.js';
import type { Permit } from '../budget/upstream-budget.js';

export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface UpstreamCall {
  method: 'GET' | 'POST';
  /** Path below the base URL, with the query string; never logged with its query. */
  path: string;
  query?: URLSearchParams;
  headers?: Record<string, string>;
  body?: string;
  signal: AbortSignal;
}

export interface UpstreamClientOptions {
  source: SourceId;
  baseUrl: string;
  dispatcher: Dispatcher;
  timeoutMs: number;
  /** Bytes of body read at most; past it the answer is malformed (default 32 MiB). */
  maxBodyBytes?: number;
  logger: FastifyBaseLogger;
  clock: Clock;
  /** Spent before every call (each attempt) and told how it went. */
  budget?: { admit(signal: AbortSignal): Promise<Permit> };
}

const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;

/**
 * One upstream host: sends a request through the injected dispatcher, bounds it in time
 * and size, and turns transport failures into UpstreamErrors. It logs the path, never the
 * query string or headers, since those carry the key.
 */
export class UpstreamClient {
  readonly source: SourceId;
  private readonly origin: string;
  private readonly basePath: string;

  constructor(private readonly options: UpstreamClientOptions) {
    this.source = options.source;
    const base = new URL(options.baseUrl);
    this.origin = base.origin;
    this.basePath = base.pathname.replace(/\/+$/, '');
  }

  async send(call: UpstreamCall): Promise<UpstreamResponse> {
    const { dispatcher, timeoutMs, logger, clock } = this.options;
    const maxBytes = this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([call.signal, timeout]);
    const path = this.basePath + call.path;
    const permit = await this.options.budget?.admit(signal);
    const started = clock();
    let answered: UpstreamResponse | undefined;
    try {
      const response = await dispatcher.request({
        origin: this.origin,
        path: call.query ? `${path}?${call.query.toString()}` : path,
        method: call.method,
        headers: { accept: 'application/json', 'user-agent': 'netflows-gateway', ...call.headers },
        body: call.body,
        signal,
      });
      const body = await readCapped(response.body, maxBytes, this.source);
      answered = { status: response.statusCode, headers: response.headers, body };
      logger.debug({ upstream: this.source, path, status: response.statusCode, durationMs: clock() - started }, 'upstream call');
      return answered;
    } catch (error) {
      const failure = call.signal.aborted && !timeout.aborted
        ? new UpstreamError(this.source, 'upstream_timeout', 'the request ran out of time before the upstream answered', { cause: error })
        : transportFailure(this.source, error, timeout.aborted);
      logger.debug({ upstream: this.source, path, failure: failure.failure, durationMs: clock() - started }, 'upstream call failed');
      throw failure;
    } finally {
      await permit?.settle(answered);
    }
  }
}

async function readCapped(body: Dispatcher.ResponseData['body'], maxBytes: number, source: SourceId): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      body.destroy();
      throw new UpstreamError(source, 'upstream_malformed', `the upstream answer was larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Parses a JSON body; anything else (HTML, truncated JSON) is a malformed answer. */
export function parseJsonBody(source: SourceId, response: UpstreamResponse): unknown {
  try {
    return JSON.parse(response.body);
  } catch (error) {
    throw new UpstreamError(source, 'upstream_malformed', 'the upstream answered with a body that is not JSON', { cause: error });
  }
}

export function header(response: UpstreamResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** A header holding a whole number, or undefined. */
export function wholeHeader(response: UpstreamResponse, name: string): number | undefined {
  const value = header(response, name);
  return value !== undefined && /^\s*\d{1,15}\s*$/.test(value) ? Number(value) : undefined;
}

/** `Retry-After` as seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A finite number from a number or a decimal string, else null. Never NaN or Infinity. */
export function finiteNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && /^\s*-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(value)) {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}
