import type { Dispatcher } from 'undici';
import type { FastifyBaseLogger } from 'fastify';
import { UpstreamError } from '../errors.js';
import { transportFailure } from './failures.js';
import type { SourceId } from '../model.js';
import type { Clock } from '../time.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CircuitBreaker } from './circuit.js';
import { header, retryAfterMs, type UpstreamResponse } from './response.js';

/**
 * The port the client needs from a budget: admission before every attempt, and a permit
 * that is told how the attempt went. The budget implements it; the client owns it.
 */
export interface CallAdmission {
  admit(signal: AbortSignal): Promise<Permit>;
}

/** One admitted call: hand it the response (or nothing, on a transport failure) when it is over. */
export interface Permit {
  settle(response: UpstreamResponse | undefined): Promise<void>;
}

/** The port a tracer implements: one span per attempt. Absent, nothing is traced. */
export interface AttemptTracer {
  start(source: SourceId, attempt: number): AttemptSpan;
}

/** One attempt's span: active while the attempt runs, so the HTTP client's own span nests in it. */
export interface AttemptSpan {
  within<T>(work: () => Promise<T>): Promise<T>;
  /** How long the budget held the attempt before admitting or refusing it (ms). */
  waited(budgetWaitMs: number): void;
  /** The attempt's outcome, as `onAttempt` names it; ends the span. */
  end(outcome: string): void;
}

export interface UpstreamCall {
  method: 'GET' | 'POST';
  /** Path below the base URL, with the query string; never logged with its query. */
  path: string;
  query?: URLSearchParams;
  headers?: Record<string, string>;
  body?: string;
  signal: AbortSignal;
  /** Told of every answer an attempt got, retried ones included (what each one cost). */
  onAnswer?: (response: UpstreamResponse) => void;
}

export interface UpstreamClientOptions {
  source: SourceId;
  baseUrl: string;
  dispatcher: Dispatcher;
  /** Bound on one attempt, headers and body (ms). */
  timeoutMs: number;
  /** Bytes of body read at most; past it the answer is malformed (default 32 MiB). */
  maxBodyBytes?: number;
  logger: FastifyBaseLogger;
  clock: Clock;
  /** Spent before every attempt and told how it went. */
  budget?: CallAdmission;
  circuit?: CircuitBreaker;
  retry?: RetryPolicy;
  /** Fields of its own for the log line of an answered call (what the answer says it cost). */
  describeAnswer?: (response: UpstreamResponse) => Record<string, unknown>;
  /** Told of every attempt: its outcome (2xx, 4xx, 429, 5xx, timeout, unreachable, too_large; refused and circuit_open without a time). */
  onAttempt?: (outcome: string, durationMs: number | undefined) => void;
  /** Traces every attempt (with OTEL_EXPORTER_OTLP_ENDPOINT); absent: no tracing code runs. */
  tracer?: AttemptTracer;
}

export interface RetryPolicy {
  /** Attempts in all, the first included (default 3). */
  attempts: number;
  /** Backoff before retry n is a random time up to min(capMs, baseMs · 2^(n-1)) (full jitter). */
  baseMs: number;
  capMs: number;
  /** A 429 is retried only when its Retry-After is at most this (ms): the budget waits that long anyway. */
  maxRetryAfterMs: number;
  random?: () => number;
}

const DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024;
const RETRYABLE_STATUSES = new Set([502, 503, 504]);

type Attempt = { response: UpstreamResponse; error?: undefined } | { response?: undefined; error: UpstreamError };

/**
 * One upstream host: sends a request through the injected dispatcher, bounds each attempt
 * in time and size, retries what can succeed on retry, keeps the circuit, and turns
 * transport failures into UpstreamErrors. It logs the path, never the query string or
 * headers, since those carry the key.
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

  /**
   * Resolves with the final response, whatever its status (the provider maps statuses);
   * rejects with an UpstreamError when no response came. Retried: connection resets and
   * refusals, 502/503/504, and a 429 whose Retry-After the budget can wait out; never a
   * timeout (it already took the whole bound) nor any other 4xx.
   */
  async send(call: UpstreamCall): Promise<UpstreamResponse> {
    const { circuit, retry, clock } = this.options;
    const attempts = retry?.attempts ?? 1;
    for (let attempt = 1; ; attempt++) {
      const outcome = await this.tracedAttempt(call, attempt);
      if (circuit && countsForCircuit(outcome, call.signal)) await circuit.record(outcome.response !== undefined && outcome.response.status < 500);
      if (attempt >= attempts || call.signal.aborted || !this.retryable(outcome, clock())) {
        if (outcome.error) throw outcome.error;
        return outcome.response;
      }
      const backoff = Math.floor((retry!.random ?? Math.random)() * Math.min(retry!.capMs, retry!.baseMs * 2 ** (attempt - 1)));
      this.options.logger.debug({ upstream: this.source, attempt, backoffMs: backoff }, 'upstream retry');
      await sleep(backoff, undefined, { signal: call.signal }).catch(() => undefined);
    }
  }

  /** One attempt behind the circuit (an open one throws), in a span of its own when traced. */
  private tracedAttempt(call: UpstreamCall, attempt: number): Promise<Attempt> {
    const span = this.options.tracer?.start(this.source, attempt);
    const guarded = async () => {
      try {
        await this.options.circuit?.check();
      } catch (error) {
        this.report('circuit_open', undefined, span);
        throw error;
      }
      return this.attempt(call, span);
    };
    return span ? span.within(guarded) : guarded();
  }

  private report(outcome: string, durationMs: number | undefined, span: AttemptSpan | undefined): void {
    this.options.onAttempt?.(outcome, durationMs);
    span?.end(outcome);
  }

  /** The budget's permit; the time it took goes on the span. */
  private async admit(signal: AbortSignal, span: AttemptSpan | undefined): Promise<Permit | undefined> {
    const { budget } = this.options;
    if (!budget) return undefined;
    const asked = performance.now();
    try {
      return await budget.admit(signal);
    } finally {
      span?.waited(performance.now() - asked);
    }
  }

  private retryable(outcome: Attempt, now: number): boolean {
    if (outcome.error) return outcome.error.options.retryable === true && outcome.error.failure === 'upstream_unreachable';
    const { status } = outcome.response;
    if (RETRYABLE_STATUSES.has(status)) return true;
    if (status !== 429) return false;
    const wait = retryAfterMs(header(outcome.response, 'retry-after'), now);
    return wait !== undefined && wait <= (this.options.retry?.maxRetryAfterMs ?? 0);
  }

  private async attempt(call: UpstreamCall, span: AttemptSpan | undefined): Promise<Attempt> {
    const { dispatcher, timeoutMs, logger } = this.options;
    const maxBytes = this.options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    const path = this.basePath + call.path;
    let permit: Permit | undefined;
    try {
      permit = await this.admit(call.signal, span);
    } catch (error) {
      this.report('refused', undefined, span);
      return { error: error as UpstreamError };
    }
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = AbortSignal.any([call.signal, timeout]);
    // Durations are measured, not taken from the injected clock (which tests may freeze).
    const started = performance.now();
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
      call.onAnswer?.(answered);
      const durationMs = Math.round(performance.now() - started);
      this.report(statusClass(response.statusCode), durationMs, span);
      // An answer with an error status (a rejected key, a 429, a 5xx) is a failed call.
      const level = response.statusCode >= 400 ? 'warn' : 'info';
      logger[level]({ upstream: this.source, path, status: response.statusCode, durationMs, bytes: body.length, ...this.options.describeAnswer?.(answered) }, 'upstream call');
      return { response: answered };
    } catch (error) {
      const failure =
        call.signal.aborted && !timeout.aborted
          ? new UpstreamError(this.source, 'upstream_timeout', 'the request ran out of time before the upstream answered', { cause: error })
          : transportFailure(this.source, error, timeout.aborted);
      const durationMs = Math.round(performance.now() - started);
      this.report(failureOutcome(failure), durationMs, span);
      logger.warn({ upstream: this.source, path, failure: failure.failure, durationMs }, 'upstream call failed');
      return { error: failure };
    } finally {
      await permit?.settle(answered);
    }
  }
}

function statusClass(status: number): string {
  return status === 429 ? '429' : `${Math.floor(status / 100)}xx`;
}

function failureOutcome(error: UpstreamError): string {
  if (error.failure === 'upstream_timeout') return 'timeout';
  if (error.failure === 'upstream_malformed') return 'too_large';
  return 'unreachable';
}

/** A refusal of our own budget, a caller that gave up, or a 429 says nothing about the upstream's health. */
function countsForCircuit(outcome: Attempt, signal: AbortSignal): boolean {
  if (outcome.response) return outcome.response.status !== 429;
  return !signal.aborted && outcome.error.failure !== 'budget_exhausted' && outcome.error.failure !== 'upstream_credits_exhausted';
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
