import { setTimeout as sleep } from 'node:timers/promises';
import { constants } from 'node:zlib';
import compress from '@fastify/compress';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { answerClientError, answerWithProblems, requireHost } from './plugins/problems.js';
import { trackConnections } from './lifecycle.js';
import pino, { type Logger } from 'pino';
import { Agent, type Dispatcher } from 'undici';
import type { Config } from './config.js';
import { NetflowsService } from './netflows/service.js';
import { createCoinMetricsProvider } from './providers/coinmetrics/index.js';
import { createNansenProvider } from './providers/nansen/index.js';
import type { Provider, SourceId } from './model.js';
import { catalogRoute } from './routes/catalog.js';
import { healthRoutes, type Lifecycle } from './routes/health.js';
import { netflowsRoute } from './routes/netflows.js';
import { netflowsResponseSchema, problemSchema, recordSchema } from './schema/index.js';
import { systemClock, type Clock } from './time.js';
import { UpstreamClient } from './upstream/http.js';
import type { CallerToken } from './auth/callers.js';
import { callerGuard, operatorGuard } from './auth/guard.js';
import { createGuards, type UpstreamGuards } from './budget/index.js';
import { CallerCredits } from './budget/allowance.js';
import { MemoryBudgetStore } from './budget/memory-store.js';
import type { BudgetStore } from './budget/store.js';
import { RenderedCache } from './cache/rendered.js';
import { adminRoutes } from './routes/admin.js';
import { explorerRoutes } from './explorer/plugin.js';
import { UpstreamCache, type SharedCacheTier } from './cache/upstream-cache.js';
import { FailoverBudgetStore } from './budget/failover-store.js';
import { RedisBudgetStore } from './redis/budget-store.js';
import { RedisCacheTier } from './redis/cache-tier.js';
import { RedisConnection } from './redis/connection.js';
import { Metrics } from './metrics.js';
import { registerStateGauges } from './plugins/gauges.js';
import { COMPRESSIBLE_TYPES, varyOnEncoding } from './plugins/vary.js';
import { OneLinePerRequest, observability, requestId } from './plugins/observability.js';

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
  metrics?: Metrics;
}

/** Where replicas meet, when REDIS_URL is set. */
interface Shared {
  redis: RedisConnection;
  store: FailoverBudgetStore;
  tier: RedisCacheTier;
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

/** JSON lines; pretty and coloured only when a person watches a terminal. */
export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (!destination && process.stdout.isTTY) return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } });
  return pino(options, destination as never);
}

/** A Fastify app with every route; no env, no listen. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const clock = deps.clock ?? systemClock;
  const lifecycle = deps.lifecycle ?? { draining: false };
  const ownDispatcher = deps.dispatcher === undefined;
  const dispatcher = deps.dispatcher ?? new Agent({ connections: 32, keepAliveTimeout: 30_000 });

  const metrics = deps.metrics ?? new Metrics();
  const app = Fastify({
    loggerInstance: (deps.logger ?? pino({ level: 'silent' })) as FastifyBaseLogger,
    logController: new OneLinePerRequest(),
    genReqId: requestId,
    bodyLimit: 64 * 1024,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    clientErrorHandler: answerClientError,
    // Every socket has a timeout: its headers, the whole request, idle keep-alive, and no traffic at all.
    requestTimeout: config.requestTimeoutMs,
    keepAliveTimeout: config.keepAliveTimeoutMs,
    connectionTimeout: config.connectionTimeoutMs,
    http: {
      headersTimeout: config.headersTimeoutMs,
      // Node checks the two timeouts above on this interval (30 s by default), so it bounds how late they fire.
      connectionsCheckingInterval: Math.min(1000, Math.ceil(config.headersTimeoutMs / 2)),
      // Node would answer a bare 400; requireHost() answers a problem instead.
      requireHostHeader: false,
    },
    // While draining, requests on open connections are still served (with Connection: close); /readyz says 503.
    return503OnClosing: false,
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (lifecycle.draining) reply.header('connection', 'close');
    return payload;
  });
  trackConnections(app);
  app.addHook('onClose', async () => {
    if (!ownDispatcher) return;
    // Upstream calls still under way belong to nobody now (background refreshes): give them
    // a moment, then cut them, so shutdown never waits on a slow upstream.
    const closed = dispatcher.close().then(() => true);
    if (!(await Promise.race([closed, sleep(UPSTREAM_CLOSE_MS).then(() => false)]))) await dispatcher.destroy();
  });

  if (config.corsOrigins.length > 0) {
    await app.register(cors, {
      origin: config.corsOrigins.includes('*') ? '*' : [...config.corsOrigins],
      methods: ['GET', 'HEAD'],
      allowedHeaders: ['authorization', 'accept', 'if-none-match', 'x-request-id'],
      exposedHeaders: CORS_EXPOSED_HEADERS,
      maxAge: 600,
    });
  }
  varyOnEncoding(app, COMPRESS_THRESHOLD_BYTES);
  await app.register(compress, {
    global: true,
    threshold: COMPRESS_THRESHOLD_BYTES,
    customTypes: COMPRESSIBLE_TYPES,
    encodings: ['br', 'gzip', 'deflate'],
    brotliOptions: { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } },
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
      servers: [{ url: '/' }],
      tags: [
        { name: 'netflows', description: 'Net flows from both upstreams in one record schema.' },
        { name: 'operations', description: 'Probes and metrics for the people who run the gateway.' },
        { name: 'admin', description: 'Budgets and quotas; admin token only.' },
      ],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'A caller token (when CALLER_TOKENS_FILE is set); the admin token for /admin/*; the admin token or METRICS_TOKEN for /metrics when caller tokens are on.' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: true } });
  // Before any route, so every route's errors are problems (/metrics's 401 among them).
  answerWithProblems(app);
  requireHost(app);
  await app.register(observability, { metrics, ...(config.callers ? { metricsGuard: metricsGuard(config, config.callers) } : {}) });

  const shared = config.redisUrl ? connectShared(config, app.log, clock) : undefined;
  if (shared) {
    app.addHook('onReady', () => shared.redis.waitUntilReady(2000));
    app.addHook('onClose', () => shared.redis.close());
  }
  const cache = deps.cache ?? createUpstreamCache(config, clock, shared?.tier);
  cache.onBackgroundError((key, error) =>
    app.log.warn({ source: sourceOfKey(key), failure: (error as { failure?: string }).failure ?? String(error) }, 'background refresh failed'),
  );
  cache.onDrop((key, reason) => {
    if (reason === 'evict') metrics.cacheEvictions.inc({ source: sourceOfKey(key) });
  });
  const rendered = deps.rendered ?? new RenderedCache(config.renderedCacheBytes, clock);
  const providers: Provider[] = [];
  const disabled = new Map<SourceId, string>();
  const budgetStore = deps.budgetStore ?? shared?.store ?? new MemoryBudgetStore();
  const guards = createGuards(config, budgetStore, clock);
  const callerCredits = new CallerCredits(budgetStore, clock, config.allowanceLeaseMs);
  const callersByName = new Map((config.callers ?? []).map((c) => [c.name, c]));
  const retry = { attempts: config.upstreamRetries + 1, baseMs: 100, capMs: 2000, maxRetryAfterMs: config.budgetMaxWaitMs };
  const client = (source: SourceId, baseUrl: string, guard: UpstreamGuards) =>
    new UpstreamClient({
      source,
      baseUrl,
      dispatcher,
      timeoutMs: config.upstreamTimeoutMs,
      maxBodyBytes: config.upstreamMaxBodyBytes,
      logger: app.log,
      clock,
      budget: guard.budget,
      circuit: guard.circuit,
      retry,
      onAttempt: (outcome, durationMs) => {
        metrics.upstreamRequests.inc({ source, outcome });
        if (durationMs !== undefined) metrics.upstreamDuration.observe({ source }, durationMs / 1000);
      },
    });
  const common = { cache, clock, logger: app.log, loadTimeoutMs: config.requestDeadlineMs };
  providers.push(
    createCoinMetricsProvider({ ...common, config: config.coinmetrics, client: client('coinmetrics', config.coinmetrics.baseUrl, guards.coinmetrics) }),
  );
  if (config.nansen.apiKey && guards.nansen) {
    providers.push(
      createNansenProvider({ ...common, config: config.nansen, apiKey: config.nansen.apiKey, client: client('nansen', config.nansen.baseUrl, guards.nansen) }),
    );
  } else {
    disabled.set('nansen', 'Nansen is disabled: no NANSEN_API_KEY is configured');
  }
  const service = new NetflowsService(providers, disabled, (source, outcome) => metrics.sourceAnswers.inc({ source, outcome }));
  const upstreams = [guards.coinmetrics, ...(guards.nansen ? [guards.nansen] : [])];
  const sharedMode = () => (shared ? (shared.store.degraded ? 'degraded' : 'shared') : 'off');
  registerStateGauges(metrics, { cache, rendered, upstreams, callers: config.callers ?? [], callerCredits, store: budgetStore, clock, sharedMode });

  await app.register(healthRoutes, { lifecycle });
  await app.register(async (data) => {
    if (config.callers) data.addHook('onRequest', callerGuard(config.callers, budgetStore, clock));
    await data.register(catalogRoute, { config });
    await data.register(netflowsRoute, {
      service,
      clock,
      rendered,
      deadlineMs: config.requestDeadlineMs,
      privateCache: config.callers !== undefined,
      onKeptAnswer: (hit) => metrics.responseCache.inc({ outcome: hit ? 'hit' : 'miss' }),
      admit: (caller) => (planned) => callerCredits.admit(caller === undefined ? undefined : callersByName.get(caller), planned.credits),
    });
  });
  if (config.adminToken) {
    await app.register(adminRoutes, { adminToken: config.adminToken, upstreams, callers: config.callers ?? [], callerCredits, store: budgetStore, clock, sharedMode });
  }
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  if (config.explorer) await app.register(explorerRoutes);
  return app;
}

const UPSTREAM_CLOSE_MS = 1000;
const COMPRESS_THRESHOLD_BYTES = 1024;

/** The headers a browser dashboard may read from an answer. */
export const CORS_EXPOSED_HEADERS = ['etag', 'link', 'cache-status', 'age', 'ratelimit', 'ratelimit-policy', 'retry-after', 'x-request-id', 'netflows-complete', 'netflows-sources'];

/** With caller tokens on, /metrics (it names callers and budgets) needs the admin token or METRICS_TOKEN. */
function metricsGuard(config: Config, callers: readonly CallerToken[]) {
  const tokens = [config.adminToken, config.metricsToken].filter((token) => token !== undefined);
  return operatorGuard(tokens, callers, {
    forbidden: '/metrics needs the admin token or METRICS_TOKEN',
    unauthenticated: '/metrics needs Authorization: Bearer <METRICS_TOKEN or admin token>',
    realm: 'netflows-metrics',
  });
}

function sourceOfKey(key: string): string {
  return key.slice(0, key.indexOf('|'));
}

/** The upstream cache, in its share of CACHE_MAX_MB; with a shared tier, a load's lease lasts a request's deadline. */
export function createUpstreamCache(config: Config, clock: Clock, shared?: SharedCacheTier): UpstreamCache {
  return new UpstreamCache({
    maxBytes: config.upstreamCacheBytes,
    staleWhileRevalidateMs: config.staleWhileRevalidateMs,
    staleIfErrorMs: config.staleIfErrorMs,
    clock,
    ...(shared ? { shared, leaseMs: config.requestDeadlineMs } : {}),
  });
}

/** One Redis connection per process, the shared budget store (with its local fallback) and the cache tier. */
function connectShared(config: Config, logger: FastifyBaseLogger, clock: Clock): Shared {
  const redis = new RedisConnection({ url: config.redisUrl!, keyPrefix: config.redisKeyPrefix, logger });
  return {
    redis,
    store: new FailoverBudgetStore(new RedisBudgetStore(redis), redis, config.gatewayReplicas, clock),
    tier: new RedisCacheTier(redis),
  };
}
