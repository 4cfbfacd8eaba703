import type { IncomingMessage } from 'node:http';
import { performance } from 'node:perf_hooks';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type Tracer } from '@opentelemetry/api';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { SqlDatabase, SqlRunner } from '../history/sql.js';
import type { SourceId } from '../model.js';
import type { AttemptSpan, AttemptTracer } from '../upstream/http.js';
import type { LaneSpan } from './tracing.js';

/** Attribute names of our own spans; the HTTP, Redis and database spans use the semantic conventions. */
export const ATTR = {
  source: 'netflows.source',
  attempt: 'netflows.upstream.attempt',
  budgetWaitMs: 'netflows.upstream.budget_wait_ms',
  outcome: 'netflows.upstream.outcome',
  cache: 'netflows.cache',
  keptAnswer: 'netflows.kept_answer',
} as const;

/** For pino's mixin: the active span's ids, so every line of a traced request names its trace. */
export function activeSpanIds(): Record<string, string> {
  const span = trace.getSpan(context.active());
  if (!span) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

/** `upstream <source>`: one attempt, from the budget's admission to the last byte of the answer. */
export function attemptTracer(tracer: Tracer): AttemptTracer {
  return {
    start(source: SourceId, attempt: number): AttemptSpan {
      const span = tracer.startSpan(`upstream ${source}`, { attributes: { [ATTR.source]: source, [ATTR.attempt]: attempt } });
      let ended = false;
      return {
        within: (work) => context.with(trace.setSpan(context.active(), span), work).finally(() => endOnce('unknown')),
        waited: (ms) => span.setAttribute(ATTR.budgetWaitMs, Math.round(ms)),
        end: (outcome) => endOnce(outcome),
      };
      function endOnce(outcome: string): void {
        if (ended) return;
        ended = true;
        span.setAttribute(ATTR.outcome, outcome);
        if (outcome !== '2xx') span.setStatus({ code: SpanStatusCode.ERROR, message: outcome });
        span.end();
      }
    },
  };
}

/** The server span (made by @fastify/otel) named `<method> <route>`, and its path without the query. */
export function serverSpanName(span: Span, request: FastifyRequest): void {
  span.updateName(`${request.method} ${request.routeOptions.url ?? 'not_found'}`);
  span.setAttribute('url.path', request.url.split('?', 1)[0]!.slice(0, 200));
}

const KEPT_ANSWER: Attributes = { [ATTR.cache]: 'hit', [ATTR.keptAnswer]: true };
/** The one route whose answers are kept and served by the early lane. */
export const KEPT_ANSWER_ROUTE = '/netflows';
/** A kept answer's span name, by method: made once, not on every hit. */
export const KEPT_ANSWER_SPAN_NAME = { GET: `GET ${KEPT_ANSWER_ROUTE}`, HEAD: `HEAD ${KEPT_ANSWER_ROUTE}` } as const;

/** A kept answer's server span attributes, as the route's span would have them, but its status code. */
export function keptAnswerAttributes(method: string): Attributes {
  return { 'http.request.method': method, 'http.route': KEPT_ANSWER_ROUTE, 'url.path': KEPT_ANSWER_ROUTE, ...KEPT_ANSWER };
}

/**
 * On /netflows, the cache outcome on the server span: the one string the request's log line
 * carries, whether a kept answer served it, and (when one did not) each source's status and
 * cache. A kept answer is complete and every source in it a hit, so the cheapest path says
 * only that. The active span here is the server span: @fastify/otel runs the request in its
 * context and gives hooks and handler no spans of their own.
 */
export const requestSpans: FastifyPluginAsync = fp(async (app) => {
  app.addHook('onSend', (request, reply, payload, done) => {
    const outcome = request.cacheOutcome;
    if (outcome !== undefined) trace.getActiveSpan()?.setAttributes(outcome === 'hit' ? KEPT_ANSWER : cacheAttributes(outcome, reply));
    done(null, payload);
  });
});

function cacheAttributes(outcome: string, reply: FastifyReply): Attributes {
  const attributes: Attributes = { [ATTR.cache]: outcome, [ATTR.keptAnswer]: false };
  const sources = reply.getHeader('netflows-sources');
  if (typeof sources !== 'string') return attributes;
  // `coinmetrics;status=ok;cache=hit, nansen;status=skipped`
  for (const member of sources.split(', ')) {
    const [source, ...params] = member.split(';');
    for (const param of params) {
      const [name, value] = param.split('=');
      if ((name === 'status' || name === 'cache') && value) attributes[`netflows.source.${source}.${name}`] = value;
    }
  }
  return attributes;
}

/**
 * The server span of a kept answer served by the early lane, as @fastify/otel would make it
 * for the route (name, kind, the caller's `traceparent` as parent, method, route, path,
 * status) with the kept-answer attributes, through the SDK: for OTLP/JSON, where
 * kept-spans.ts's protobuf encoding does not apply.
 */
export function laneSpans(tracer: Tracer): (req: IncomingMessage, startedAt: number) => LaneSpan {
  return (req, startedAt) => {
    // No trace context sent (most callers): nothing to extract.
    const parent = req.headers.traceparent === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, req.headers);
    const attributes = keptAnswerAttributes(req.method!);
    const name = KEPT_ANSWER_SPAN_NAME[req.method === 'HEAD' ? 'HEAD' : 'GET'];
    const span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes, startTime: performance.timeOrigin + startedAt }, parent);
    const { traceId, spanId } = span.spanContext();
    return {
      trace_id: traceId,
      span_id: spanId,
      end: (status) => {
        span.setAttribute('http.response.status_code', status);
        span.end();
      },
    };
  };
}

/** `history query` / `history transaction`: a span per statement and per transaction, and the statement's first word. */
export function tracedDatabase(database: SqlDatabase, tracer: Tracer): SqlDatabase {
  const system = database.location.kind === 'embedded' ? 'pglite' : 'postgresql';
  const inSpan = <T>(name: string, attributes: Attributes, work: () => Promise<T>): Promise<T> => {
    // As pg's instrumentation does: only inside a trace, never a trace of its own for a background write.
    if (trace.getSpan(context.active()) === undefined) return work();
    return tracer.startActiveSpan(name, { attributes: { 'db.system.name': system, ...attributes } }, (span) =>
      work().then(
        (result) => {
          span.end();
          return result;
        },
        (error: unknown) => {
          // The SQLSTATE, not the message: a message may quote a value.
          span.setStatus({ code: SpanStatusCode.ERROR, message: String((error as { code?: unknown }).code ?? 'failed') });
          span.end();
          throw error;
        },
      ),
    );
  };
  const runner = (inner: SqlRunner): SqlRunner => ({
    query: (text, params) => inSpan('history query', { 'db.operation.name': operationOf(text) }, () => inner.query(text, params)),
  });
  return {
    location: database.location,
    query: runner(database).query,
    transaction: (work) => inSpan('history transaction', {}, () => database.transaction((tx) => work(runner(tx)))),
    close: () => database.close(),
  };
}

/** SELECT, INSERT, WITH, …: the statement's first word, never its values. */
function operationOf(text: string): string {
  return /^\s*([A-Za-z]+)/.exec(text)?.[1]?.toUpperCase() ?? 'SQL';
}
