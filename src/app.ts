import type { Socket } from 'node:net';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { Agent, type Dispatcher } from 'undici';
import type { Config } from './config.js';
import { ERRORS, ProblemError, problemBody, type ErrorCode } from './errors.js';
import { NetflowsService } from './netflows/service.js';
import { createCoinMetricsProvider } from './providers/coinmetrics/index.js';
import { createNansenProvider } from './providers/nansen/index.js';
import type { Provider, SourceId } from './providers/types.js';
import { catalogRoute } from './routes/catalog.js';
import { healthRoutes, type Lifecycle } from './routes/health.js';
import { netflowsRoute } from './routes/netflows.js';
import { netflowsResponseSchema, problemSchema, recordSchema } from './schema/index.js';
import { systemClock, type Clock } from './time.js';
import { UpstreamClient } from './upstream/http.js';
import { callerGuard } from './auth/guard.js';
import { createGuards, type UpstreamGuards } from './budget/index.js';
import { MemoryBudgetStore, type BudgetStore } from './budget/store.js';
import { RenderedCache } from './cache/rendered.js';
import { adminRoutes } from './routes/admin.js';
import { UpstreamCache } from './cache/upstream-cache.js';

export interface AppDeps {
  config: Config;
  /** Default: the system clock. */
  clock?: Clock;
  /** Default: an undici Agent made here and closed with the app. */
  dispatcher?: Dispatcher;
  /** Default: a silent logger. */
  logger?: Logger;
  lifecycle?: Lifecycle;
  /** Default: made here from the config. Injected by tests that need to see or clear them. */
  cache?: UpstreamCache;
  budgetStore?: BudgetStore;
  rendered?: RenderedCache;
}

/** Header and query names that carry secrets; pino prints `[redacted]` for them. */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.apikey',
  'req.headers["x-api-key"]',
  'req.query.api_key',
  'headers.authorization',
  'headers.apikey',
  'api_key',
  'apikey',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination as never);
}

/** A Fastify app with every route; no env, no listen. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const clock = deps.clock ?? systemClock;
  const lifecycle = deps.lifecycle ?? { draining: false };
  const ownDispatcher = deps.dispatcher === undefined;
  const dispatcher = deps.dispatcher ?? new Agent({ connections: 32, keepAliveTimeout: 30_000 });

  const app = Fastify({
    loggerInstance: (deps.logger ?? pino({ level: 'silent' })) as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    clientErrorHandler: answerClientError,
    // While draining, requests on open connections are still served (with Connection: close); /readyz says 503.
    return503OnClosing: false,
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (lifecycle.draining) reply.header('connection', 'close');
    return payload;
  });
  app.addHook('onClose', async () => {
    if (ownDispatcher) await dispatcher.close();
  });

  app.addSchema(problemSchema);
  app.addSchema(recordSchema);
  app.addSchema(netflowsResponseSchema);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'netflows-gateway',
        version: '1.0.0',
        description:
          'One /netflows resource over Coin Metrics exchange net flows and Nansen smart-money net flows, in one record schema. ' +
          'Sign rule: net_flow_* is the net amount flowing into the entity; positive means the entity\'s holdings grew (coins onto the exchange; smart money accumulating). ' +
          'Errors are RFC 9457 application/problem+json with a stable `code`.',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'A caller token (when CALLER_TOKENS_FILE is set), or the admin token for /admin/*.' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });

  const cache = deps.cache ?? createUpstreamCache(config, clock);
  cache.onBackgroundError((key, error) => app.log.warn({ source: key.split('|')[0], err: error }, 'background refresh failed'));
  const rendered = deps.rendered ?? new RenderedCache(renderedCacheBytes(config), clock);
  const providers: Provider[] = [];
  const disabled = new Map<SourceId, string>();
  const budgetStore = deps.budgetStore ?? new MemoryBudgetStore(clock);
  const guards = createGuards(config, budgetStore, clock);
  const retry = { attempts: config.upstreamRetries + 1, baseMs: 100, capMs: 2000, maxRetryAfterMs: config.budgetMaxWaitMs };
  const client = (source: SourceId, baseUrl: string, guard: UpstreamGuards) =>
    new UpstreamClient({
      source,
      baseUrl,
      dispatcher,
      timeoutMs: config.upstreamTimeoutMs,
      maxBodyBytes: config.upstreamMaxBodyMb * 1024 * 1024,
      logger: app.log,
      clock,
      budget: guard.budget,
      circuit: guard.circuit,
      retry,
    });
  const shared = { cache, clock, logger: app.log, loadTimeoutMs: requestDeadlineMs(config) };
  providers.push(
    createCoinMetricsProvider({ ...shared, config: config.coinmetrics, client: client('coinmetrics', config.coinmetrics.baseUrl, guards.coinmetrics) }),
  );
  if (config.nansen.apiKey && guards.nansen) {
    providers.push(
      createNansenProvider({ ...shared, config: config.nansen, apiKey: config.nansen.apiKey, client: client('nansen', config.nansen.baseUrl, guards.nansen) }),
    );
  } else {
    disabled.set('nansen', 'Nansen is disabled: no NANSEN_API_KEY is configured');
  }
  const service = new NetflowsService(providers, disabled);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const problem = toProblemError(error);
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    if (problem.extra.retryAfterS !== undefined) reply.header('retry-after', String(problem.extra.retryAfterS));
    for (const [name, value] of Object.entries(problem.extra.headers ?? {})) reply.header(name, value);
    return reply.code(problem.status).type('application/problem+json').send(JSON.stringify(problem.toProblem()));
  });
  app.setNotFoundHandler((request, reply) => {
    const body = problemBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]!.slice(0, 200)}`);
    return reply.code(404).type('application/problem+json').send(JSON.stringify(body));
  });

  await app.register(healthRoutes, { lifecycle });
  await app.register(async (data) => {
    if (config.callers) data.addHook('onRequest', callerGuard(config.callers, budgetStore, clock));
    await data.register(catalogRoute, { config });
    await data.register(netflowsRoute, { service, clock, rendered, deadlineMs: requestDeadlineMs(config), privateCache: config.callers !== undefined });
  });
  if (config.adminToken) {
    const upstreams = [guards.coinmetrics, ...(guards.nansen ? [guards.nansen] : [])];
    await app.register(adminRoutes, { adminToken: config.adminToken, upstreams, callers: config.callers ?? [], store: budgetStore, clock });
  }
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

/** The upstream cache takes seven eighths of CACHE_MAX_MB, the kept answers the rest. */
export function createUpstreamCache(config: Config, clock: Clock): UpstreamCache {
  return new UpstreamCache({
    maxBytes: config.cacheMaxMb * 1024 * 1024 - renderedCacheBytes(config),
    staleWhileRevalidateMs: config.staleWhileRevalidateS * 1000,
    staleIfErrorMs: config.staleIfErrorS * 1000,
    clock,
  });
}

function renderedCacheBytes(config: Config): number {
  return (config.cacheMaxMb * 1024 * 1024) / 8;
}

/** One whole /netflows request, every page and upstream call in it, gets this long. */
function requestDeadlineMs(config: Config): number {
  return config.upstreamTimeoutMs * 3;
}

/** Requests Node refuses before Fastify sees them (oversized headers, bad framing) still get a problem. */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const code: ErrorCode = error.code === 'HPE_HEADER_OVERFLOW' ? 'header_fields_too_large' : 'invalid_parameter';
  const body = JSON.stringify(problemBody(code, code === 'header_fields_too_large' ? 'the request line or headers are too large' : 'the request could not be parsed'));
  const { status, title } = ERRORS[code];
  socket.end(
    `HTTP/1.1 ${status} ${title}\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** Every error a route can throw, in the catalogue's terms; nothing internal leaks. */
function toProblemError(error: FastifyError): ProblemError {
  if (error instanceof ProblemError) return error;
  if (error.validation) {
    const first = error.validation[0];
    const param =
      (first?.params as { additionalProperty?: string } | undefined)?.additionalProperty ??
      first?.instancePath.replace(/^\//, '') ??
      undefined;
    if (first?.keyword === 'additionalProperties') {
      return new ProblemError('invalid_parameter', `unknown parameter \`${param}\``, { param });
    }
    if (first?.keyword === 'type' && param) {
      return new ProblemError('invalid_parameter', `\`${param}\` is given more than once; give it once (lists are comma-separated)`, { param });
    }
    return new ProblemError('invalid_parameter', `\`${param ?? 'query'}\` ${first?.message ?? 'is invalid'}`, param ? { param } : {});
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = (Object.keys(ERRORS) as ErrorCode[]).find((c) => ERRORS[c].status === status) ?? 'invalid_parameter';
    return new ProblemError(code, status === 413 ? 'the request body is too large' : 'the request could not be read');
  }
  return new ProblemError('internal_error', 'the gateway failed to answer; the error is logged', { cause: error });
}
