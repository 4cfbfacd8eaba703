import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { CallerMemo, CallerToken } from '../auth/callers.js';
import { bearerToken } from '../auth/callers.js';
import { rateLimitHeaders, TAKEN_EARLY } from '../auth/guard.js';
import type { BudgetStore, TakeResult } from '../budget/store.js';
import type { KeptAnswer, RenderedCache } from '../cache/rendered.js';
import type { Metrics } from '../metrics.js';
import { requestId } from '../plugins/observability.js';
import type { Lifecycle } from '../routes/health.js';
import type { Clock } from '../time.js';
import type { LaneSpan } from '../tracing/tracing.js';
import { formatOf } from './format.js';
import { laneHeaders, notModified } from './headers.js';
import { hitLogger } from './log-line.js';
import { MetricChildren } from './metric-children.js';

/** Fastify's own handler: everything the lane does not answer goes there, untouched. */
export type RawHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface EarlyLaneOptions {
  rendered: RenderedCache;
  clock: Clock;
  /** Caller tokens are on: answers are private, and every request needs a known token within its quota. */
  callers?: { memo: CallerMemo; store: BudgetStore };
  lifecycle: Lifecycle;
  metrics: Metrics;
  /** The app's root logger: the lane's log line carries the request id itself, no child logger per request. */
  logger: Logger;
  /** Bodies this long or longer would be compressed for a caller who asks (so their answers Vary on Accept-Encoding). */
  compressAbove: number;
  /** Counts the lane's requests on their connections, so a drain never cuts one under way. */
  countRequest: (socket: Socket, delta: number) => void;
  /** With tracing on: the request's server span, made here since Fastify's instrumentation never sees it. */
  span?: (req: IncomingMessage, startedAt: number) => LaneSpan;
}

const ROUTE = '/netflows';

/**
 * Answers a kept /netflows answer before Fastify routes, validates or runs a hook: the
 * same bytes and headers as the route would send (the route put them in the rendered
 * cache), the caller's token and quota, the request id, metrics and the log line. Anything
 * it is not sure of (no kept answer, an unknown token, a refused quota, compression,
 * draining, an unusual URL) goes on to Fastify, which answers as it always has.
 */
export function earlyLane(options: EarlyLaneOptions, next: RawHandler): RawHandler {
  const { rendered, callers, lifecycle, countRequest } = options;
  const finish = finisher(options);
  return (req, res) => {
    const started = performance.now();
    const kept = eligible(req, lifecycle) ? keptFor(req, rendered) : undefined;
    if (!kept) return next(req, res);
    if (!callers) return finish(req, res, kept, started, undefined, undefined, next);
    const caller = callers.memo.identify(bearerToken(req.headers.authorization));
    if (!caller) return next(req, res);
    // Under way while the quota is asked (a Redis round trip with REDIS_URL): counted, as Fastify counts its own.
    countRequest(req.socket, 1);
    callers.store.take(`caller:${caller.name}`, caller.rateLimits, options.clock()).then(
      (taken) => {
        countRequest(req.socket, -1);
        if (!taken.granted) return handOn(req, res, taken, next);
        finish(req, res, kept, started, caller, taken, next);
      },
      () => {
        countRequest(req.socket, -1);
        next(req, res);
      },
    );
  };
}

/** GET or HEAD of /netflows with nothing the lane leaves to Fastify: compression, a missing Host, shutdown. */
function eligible(req: IncomingMessage, lifecycle: Lifecycle): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const url = req.url!;
  if (!url.startsWith(ROUTE) || (url.length > ROUTE.length && url.charCodeAt(ROUTE.length) !== 63 /* ? */)) return false;
  const encoding = req.headers['accept-encoding'];
  if (encoding !== undefined && encoding !== '' && encoding !== 'identity') return false;
  if (req.headers.host === undefined && req.httpVersion === '1.1') return false;
  return !lifecycle.draining;
}

/** The kept answer of this URL in its negotiated format, as the route keys it; fresh, or none. */
function keptFor(req: IncomingMessage, rendered: RenderedCache): KeptAnswer | undefined {
  const format = formatOf(req.url!, req.headers.accept);
  return format === undefined ? undefined : rendered.get(`${format}\n${req.url}`);
}

/** A refused quota is answered by Fastify (a 429 problem), with the quota as taken here. */
function handOn(req: IncomingMessage, res: ServerResponse, taken: TakeResult, next: RawHandler): void {
  req[TAKEN_EARLY] = taken;
  next(req, res);
}

type Finish = (req: IncomingMessage, res: ServerResponse, kept: KeptAnswer, started: number, caller: CallerToken | undefined, taken: TakeResult | undefined, next: RawHandler) => void;

/** Writes the answer (or its 304) in one writeHead and one end, then counts and logs it. */
function finisher({ clock, callers, metrics, logger, span, compressAbove, countRequest }: EarlyLaneOptions): Finish {
  const children = new MetricChildren(metrics, ROUTE);
  const log = hitLogger(logger, ROUTE);
  const cacheControl = callers ? 'private, max-age=' : 'max-age=';
  return (req, res, kept, started, caller, taken, next) => {
    const now = clock();
    // The quota's answer may come a moment later: what is stale by now is not served as fresh.
    if (kept.freshUntil <= now) return taken ? handOn(req, res, taken, next) : next(req, res);
    const answer = kept.answer;
    const block = laneHeaders(answer, compressAbove);
    const id = requestId(req);
    const path = pathOf(req.url!);
    const traced = span?.(req, started);
    const headers: string[] = ['x-request-id', id];
    if (caller && taken) {
      const limits = rateLimitHeaders(caller, taken.windows);
      headers.push('ratelimit-policy', limits['ratelimit-policy']!, 'ratelimit', limits.ratelimit!);
    }
    headers.push(
      'age', String(Math.max(0, Math.floor((now - answer.storedAt) / 1000))),
      'cache-control', cacheControl + Math.max(0, Math.floor((answer.freshUntil - now) / 1000)),
    );
    const unchanged = notModified(req.headers['if-none-match'], answer);
    const status = unchanged ? 304 : 200;
    res.writeHead(status, headers.concat(unchanged ? block.notModified : block.ok));
    const socket = req.socket;
    countRequest(socket, 1);
    res.end(unchanged || req.method === 'HEAD' ? undefined : answer.body, () => countRequest(socket, -1));
    const callerName = caller?.name ?? 'none';
    const durationMs = performance.now() - started;
    children.count(req.method!, status, callerName, durationMs / 1000);
    children.hit();
    traced?.end(status);
    log({ reqId: id, caller: caller?.name, method: req.method!, path, status, durationMs: Math.round(durationMs * 100) / 100, ids: traced });
  };
}

function pathOf(url: string): string {
  const query = url.indexOf('?');
  return (query === -1 ? url : url.slice(0, query)).slice(0, 200);
}
