import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Metrics } from '../metrics.js';
import { plainProblemResponses, problemResponses } from '../schema/index.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** How /netflows found its data (hit, miss, stale, or a mix per source), for the request log line. */
    cacheOutcome?: string;
    /** What /netflows planned its upstream cost at before the first call, for the log line. */
    plannedCost?: { calls: number; credits: number };
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** An incoming `X-Request-Id` is kept when it is a sane token; otherwise a new UUID. */
export function requestId(raw: IncomingMessage): string {
  const incoming = raw.headers['x-request-id'];
  return typeof incoming === 'string' && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

/** One log line per request, written when it is answered (Fastify's two default lines are off). */
export class OneLinePerRequest extends LogController {
  constructor() {
    super({ requestIdLogLabel: 'reqId' });
  }

  override incomingRequest(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const level = reply.statusCode === 500 ? 'error' : reply.statusCode >= 500 ? 'warn' : 'info';
    if (!levelEnabled(reply.log, level)) return;
    const line = {
      method: request.method,
      route: routeOf(request),
      path: request.url.split('?', 1)[0]!.slice(0, 200),
      status: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
      cache: request.cacheOutcome,
      ...(request.plannedCost?.calls ? { planned: request.plannedCost } : {}),
    };
    reply.log[level]({ ...line, ...(error && level === 'error' ? { err: error } : {}) }, 'request');
  }
}

/** pino answers this cheaply; the line is not built when nobody would read it. */
function levelEnabled(logger: unknown, level: string): boolean {
  return (logger as { isLevelEnabled?: (level: string) => boolean }).isLevelEnabled?.(level) ?? true;
}

export function routeOf(request: FastifyRequest): string {
  return request.routeOptions.url ?? 'not_found';
}

export interface ObservabilityOptions {
  metrics: Metrics;
  /** Who may read /metrics; absent: anyone (no caller tokens configured). */
  metricsGuard?: (request: FastifyRequest) => Promise<void>;
}

/** Echoes the request id, counts every request (hooks at the root, so for every route), and serves /metrics. */
export const observability = fp<ObservabilityOptions>(async (app, { metrics, metricsGuard }) => {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = routeOf(request);
    metrics.httpRequests.inc({ route, method: request.method, status: String(reply.statusCode), caller: request.caller ?? 'none' });
    metrics.httpDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });
  app.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics: requests, latency, cache, upstream calls, budgets, credits, circuits, the Node process',
        operationId: 'getMetrics',
        description: 'Open when no caller tokens are configured; with caller tokens, needs the admin token or METRICS_TOKEN as a bearer token (it names callers and budgets).',
        tags: ['operations'],
        security: [{ bearer: [] }, {}],
        querystring: { type: 'object', additionalProperties: false, properties: {} },
        response: {
          200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...plainProblemResponses,
          401: problemResponses[401],
          403: problemResponses[403],
        },
      },
      ...(metricsGuard ? { onRequest: metricsGuard } : {}),
    },
    async (_request, reply) => reply.type(metrics.contentType).send(await metrics.text()),
  );
});
