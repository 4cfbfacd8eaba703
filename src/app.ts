import { createServer as createHttpServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { constants } from 'node:zlib';
import compress from '@fastify/compress';
import cors from '@fastify/cors';
import swagger, { type SwaggerOptions } from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import pino, { type Logger } from 'pino';
import { Agent, type Dispatcher } from 'undici';
import type { CallerToken } from './auth/callers.js';
import { CallerMemo } from './auth/callers.js';
import { callerGuard, operatorGuard } from './auth/guard.js';
import { CallerCredits } from './budget/allowance.js';
import type { CreditReading } from './budget/credits.js';
import { FailoverBudgetStore } from './budget/failover-store.js';
import { createGuards, type UpstreamGuards } from './budget/index.js';
import { MemoryBudgetStore } from './budget/memory-store.js';
import type { BudgetStore } from './budget/store.js';
import { RenderedCache } from './cache/rendered.js';
import { UpstreamCache, type SharedCacheTier } from './cache/upstream-cache.js';
import { sourceConfig, type Config } from './config.js';
import { explorerRoutes } from './explorer/plugin.js';
import type { History } from './history/history.js';
import type { Recorder } from './history/recorder.js';
import { wireHistory } from './history/wiring.js';
import { earlyLane, type RawHandler } from './lane/early-lane.js';
import { batchedDestination } from './log-destination.js';
import { countRequests, trackConnections } from './lifecycle.js';
import { Metrics } from './metrics.js';
import type { Provider, SourceId } from './model.js';
import { queryRules } from './netflows/query.js';
import { NetflowsService } from './netflows/service.js';
import { registerStateGauges } from './plugins/gauges.js';
import { OneLinePerRequest, observability, requestId } from './plugins/observability.js';
import { answerClientError, answerWithProblems, requireHost } from './plugins/problems.js';
import { COMPRESSIBLE_TYPES, varyOnEncoding } from './plugins/vary.js';
import type { Registry } from './providers/descriptor.js';
import { PROVIDERS } from './providers/index.js';
import { RedisBudgetStore } from './redis/budget-store.js';
import { RedisCacheTier } from './redis/cache-tier.js';
import { RedisConnection } from './redis/connection.js';
import { adminRoutes } from './routes/admin.js';
import { adminHistoryRoute } from './routes/admin-history.js';
import { catalogRoute } from './routes/catalog.js';
import { healthRoutes, type Lifecycle } from './routes/health.js';
import { netflowsRoute } from './routes/netflows.js';
import { netflowsQuerySchema, netflowsResponseSchema, problemSchema, recordSchema, signRule, wideRowSchema } from './schema/index.js';
import { markCommaLists } from './schema/params.js';
import { systemClock, systemTimer, type Clock, type Timer } from './time.js';
import type { Tracing } from './tracing/tracing.js';
import { UpstreamClient, type AttemptTracer } from './upstream/http.js';
import type { UpstreamResponse } from './upstream/response.js';

export interface AppDeps {
  /** Read with the same registry as `registry`. */
  config: Config<Registry>;
  /** The upstreams to serve; default: PROVIDERS. A test may register more. */
  registry?: Registry;
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
  /** With OTEL_EXPORTER_OTLP_ENDPOINT: spans of our own (see src/tracing/); absent: no tracing code runs. */
  tracing?: Tracing;
  /** The history store the shell opened (`openHistory`); absent: nothing is recorded or answered from history, as with HISTORY=off. The shell closes it. */
  history?: History;
  /** Schedules the recorder and the retention job; default: unref'd setTimeout. */
  timer?: Timer;
  /** This replica's name in the recorder's log; default: host name and process id. */
  replica?: string;
}

/** Where replicas meet, when REDIS_URL is set. */
interface Shared {
  redis: RedisConnection;
  store: FailoverBudgetStore;
  tier: RedisCacheTier;
}

/** What the upstreams and the routes share: caches, the budget store, the metrics. */
interface SharedState {
  config: Config<Registry>;
  registry: Registry;
  clock: Clock;
  metrics: Metrics;
  cache: UpstreamCache;
  rendered: RenderedCache;
  budgetStore: BudgetStore;
  /** With caller tokens: who a token is, remembered once checked (the guard and the early lane share it). */
  callerMemo: CallerMemo | undefined;
  callerCredits: CallerCredits;
  sharedMode: () => 'off' | 'shared' | 'degraded';
  history: History | undefined;
}

/** The registered sources as wired: providers of the enabled ones, why the others are off, and every budget. */
interface Upstreams {
  providers: Provider[];
  disabled: Map<SourceId, string>;
  guards: UpstreamGuards[];
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

/** JSON lines (to stdout, written once per event-loop turn); pretty and coloured only when a person watches a terminal. `fields` go on every line (a traced request's ids). */
export function createLogger(level: string, destination?: NodeJS.WritableStream, fields?: () => Record<string, string>): Logger {
  const options = { level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, ...(fields ? { mixin: fields } : {}) };
  if (!destination && process.stdout.isTTY) return pino({ ...options, transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l' } } });
  return pino(options, (destination ?? batchedDestination(1)) as never);
}

/** A Fastify app with every route; no env, no listen. */
export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { config } = deps;
  const registry = deps.registry ?? PROVIDERS;
  const clock = deps.clock ?? systemClock;
  const lifecycle = deps.lifecycle ?? { draining: false };
  const metrics = deps.metrics ?? new Metrics();
  const front: Front = {};
  const app = createServer(config, deps.logger, lifecycle, front);
  const dispatcher = dispatcherFor(app, deps.dispatcher);
  if (deps.tracing) await app.register(deps.tracing.requestSpans);
  await registerPlugins(app, config, registry, metrics);
  const state = sharedState(app, deps, registry, clock, metrics);
  const upstreams = wireUpstreams(app, state, dispatcher, deps.tracing?.upstream);
  const service = new NetflowsService(registry, upstreams.providers, upstreams.disabled, (source, outcome) => metrics.sourceAnswers.inc({ source, outcome }));
  registerStateGauges(metrics, { ...state, upstreams: upstreams.guards, creditSources: creditSources(state), callers: config.callers ?? [], store: state.budgetStore });
  const recorder = wireHistory(app, {
    history: state.history,
    providers: upstreams.providers,
    metrics,
    clock,
    timer: deps.timer ?? systemTimer,
    retentionMs: config.history.retentionMs,
    logger: app.log,
    ...(deps.replica ? { replica: deps.replica } : {}),
  });
  await registerRoutes(app, state, service, upstreams, lifecycle, recorder);
  front.lane = laneFor(app, state, lifecycle, deps.tracing);
  return app;
}

/** What the HTTP server calls before Fastify's handler; set once the app is wired. */
interface Front {
  lane?: (next: RawHandler) => RawHandler;
}

/**
 * The early lane for kept /netflows answers (src/lane/). Not with CORS on: its headers
 * depend on the caller's Origin, and those requests are Fastify's.
 */
function laneFor(app: FastifyInstance, state: SharedState, lifecycle: Lifecycle, tracing: Tracing | undefined): Front['lane'] {
  const { config, rendered, clock, metrics, callerMemo, budgetStore } = state;
  if (config.corsOrigins.length > 0) return undefined;
  return (next) =>
    earlyLane(
      {
        rendered,
        clock,
        lifecycle,
        metrics,
        logger: app.log as unknown as Logger,
        compressAbove: COMPRESS_THRESHOLD_BYTES,
        countRequest: countRequests(app),
        ...(callerMemo ? { callers: { memo: callerMemo, store: budgetStore } } : {}),
        ...(tracing ? { span: tracing.laneSpan } : {}),
      },
      next,
    );
}

/** Fastify with every socket bounded in time, problems for client errors, and a drain that says Connection: close. */
function createServer(config: Config<Registry>, logger: Logger | undefined, lifecycle: Lifecycle, front: Front): FastifyInstance {
  const app = Fastify({
    serverFactory: (handler, options) => {
      let lane: RawHandler | undefined;
      // Fastify's own server, as it would make it, with the early lane in front of its handler.
      const server = createHttpServer(options.http ?? {}, (req, res) => {
        lane ??= front.lane?.(handler) ?? handler;
        lane(req, res);
      });
      server.keepAliveTimeout = config.keepAliveTimeoutMs;
      server.requestTimeout = config.requestTimeoutMs;
      server.setTimeout(config.connectionTimeoutMs);
      return server;
    },
    loggerInstance: (logger ?? pino({ level: 'silent' })) as FastifyBaseLogger,
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
  return app;
}

/** The injected dispatcher, or one of our own that closes with the app. */
function dispatcherFor(app: FastifyInstance, injected: Dispatcher | undefined): Dispatcher {
  if (injected) return injected;
  const dispatcher = new Agent({ connections: 32, keepAliveTimeout: 30_000 });
  app.addHook('onClose', async () => {
    // Upstream calls still under way belong to nobody now (background refreshes): give them
    // a moment, then cut them, so shutdown never waits on a slow upstream.
    const closed = dispatcher.close().then(() => true);
    if (!(await Promise.race([closed, sleep(UPSTREAM_CLOSE_MS).then(() => false)]))) await dispatcher.destroy();
  });
  return dispatcher;
}

/** CORS, compression, the schemas and the OpenAPI document, problems, logs and metrics: before any route. */
async function registerPlugins(app: FastifyInstance, config: Config<Registry>, registry: Registry, metrics: Metrics): Promise<void> {
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
  app.addSchema(recordSchema(registry));
  app.addSchema(wideRowSchema);
  app.addSchema(netflowsResponseSchema(registry));
  await app.register(swagger, openApiOptions(registry));
  await app.register(swaggerUi, { routePrefix: '/docs', uiConfig: { docExpansion: 'list', deepLinking: true, tryItOutEnabled: true } });
  // Before any route, so every route's errors are problems (/metrics's 401 among them).
  answerWithProblems(app);
  requireHost(app);
  await app.register(observability, { metrics, ...(config.callers ? { metricsGuard: metricsGuard(config, config.callers) } : {}) });
}

/** The OpenAPI document's frame; the routes fill in its paths. */
function openApiOptions(registry: Registry): SwaggerOptions {
  return {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'netflows-gateway',
        version: '1.0.0',
        description:
          'One /netflows resource over Coin Metrics exchange net flows and Nansen smart-money net flows, in one record schema. ' +
          `Sign rule: ${signRule(registry)} ` +
          'Errors are RFC 9457 application/problem+json with a stable `code`.',
      },
      servers: [{ url: '/' }],
      tags: [
        { name: 'netflows', description: 'Net flows from both upstreams in one record schema.' },
        { name: 'operations', description: 'Probes and metrics for the people who run the gateway.' },
        { name: 'admin', description: 'Budgets, quotas and history; admin token only.' },
      ],
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'A caller token (when CALLER_TOKENS_FILE is set); the admin token for /admin/*; the admin token or METRICS_TOKEN for /metrics when caller tokens are on.' },
        },
      },
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    transformObject: (documentObject) => ('openapiObject' in documentObject ? markCommaLists(documentObject.openapiObject) : documentObject.swaggerObject),
  };
}

/** The shared tier (with REDIS_URL), the caches, the budget store and the caller allowances. */
function sharedState(app: FastifyInstance, deps: AppDeps, registry: Registry, clock: Clock, metrics: Metrics): SharedState {
  const { config } = deps;
  const shared = config.redisUrl ? connectShared(config, registry, app.log, clock) : undefined;
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
  const budgetStore = deps.budgetStore ?? shared?.store ?? new MemoryBudgetStore();
  return {
    config,
    registry,
    clock,
    metrics,
    cache,
    rendered: deps.rendered ?? new RenderedCache(config.renderedCacheBytes, clock),
    budgetStore,
    callerMemo: config.callers ? new CallerMemo(config.callers) : undefined,
    callerCredits: new CallerCredits(budgetStore, clock, config.allowanceLeaseMs),
    sharedMode: () => (shared ? (shared.store.degraded ? 'degraded' : 'shared') : 'off'),
    history: deps.history,
  };
}

/** Per registered source: a budget, a circuit, a client bound to both, and its provider; or why it is off. */
function wireUpstreams(app: FastifyInstance, state: SharedState, dispatcher: Dispatcher, tracer: AttemptTracer | undefined): Upstreams {
  const { config, registry, clock, metrics, cache } = state;
  const upstreams: Upstreams = { providers: [], disabled: new Map(), guards: [] };
  const retry = { attempts: config.upstreamRetries + 1, baseMs: 100, capMs: 2000, maxRetryAfterMs: config.budgetMaxWaitMs };
  for (const descriptor of registry) {
    const sourceConfigBlock = sourceConfig(config, descriptor);
    const status = descriptor.status(sourceConfigBlock);
    if (!status.enabled) {
      upstreams.disabled.set(descriptor.id, `${descriptor.title} is disabled: ${status.because}`);
      continue;
    }
    const source = descriptor.id;
    const policy = descriptor.budget(sourceConfigBlock);
    const guards = createGuards({ source, title: descriptor.title, apiKey: sourceConfigBlock.apiKey, rateLimits: sourceConfigBlock.rateLimits, policy }, config, state.budgetStore, clock);
    const client = new UpstreamClient({
      source,
      baseUrl: sourceConfigBlock.baseUrl,
      dispatcher,
      timeoutMs: config.upstreamTimeoutMs,
      maxBodyBytes: config.upstreamMaxBodyBytes,
      logger: app.log,
      clock,
      budget: guards.budget,
      circuit: guards.circuit,
      retry,
      ...(policy.credits ? { describeAnswer: creditsUsed(policy.credits.read) } : {}),
      ...(tracer ? { tracer } : {}),
      onAttempt: (outcome, durationMs) => {
        metrics.upstreamRequests.inc({ source, outcome });
        if (durationMs !== undefined) metrics.upstreamDuration.observe({ source }, durationMs / 1000);
      },
    });
    upstreams.guards.push(guards);
    upstreams.providers.push(
      descriptor.create({ config: sourceConfigBlock, client, cache, clock, logger: app.log, loadTimeoutMs: config.requestDeadlineMs, history: state.history }),
    );
  }
  return upstreams;
}

/** What the log line of an upstream call says of its credits: what the answer says it cost. */
function creditsUsed(read: (response: UpstreamResponse) => CreditReading) {
  return (response: UpstreamResponse) => {
    const { used } = read(response);
    return used !== undefined ? { creditsUsed: used } : {};
  };
}

/** The sources whose budget charges credits, whether on or not: their credit gauges exist either way. */
function creditSources({ config, registry }: SharedState): { source: SourceId; title: string }[] {
  return registry.filter((d) => d.budget(sourceConfig(config, d)).credits !== undefined).map((d) => ({ source: d.id, title: d.title }));
}

/** Health, the data routes behind the caller guard, admin, the document, the explorer. */
async function registerRoutes(
  app: FastifyInstance,
  state: SharedState,
  service: NetflowsService,
  { guards, providers }: Upstreams,
  lifecycle: Lifecycle,
  recorder: Recorder | undefined,
): Promise<void> {
  const { config, registry, clock, metrics, rendered, budgetStore, callerMemo, callerCredits, sharedMode, history } = state;
  const callersByName = new Map((config.callers ?? []).map((c) => [c.name, c]));
  await app.register(healthRoutes, { lifecycle });
  await app.register(async (data) => {
    if (callerMemo) data.addHook('onRequest', callerGuard(callerMemo, budgetStore, clock));
    await data.register(catalogRoute, { config, registry, providers, history: history !== undefined });
    await data.register(netflowsRoute, {
      service,
      clock,
      rendered,
      deadlineMs: config.requestDeadlineMs,
      privateCache: config.callers !== undefined,
      querySchema: netflowsQuerySchema(registry),
      rules: queryRules(registry),
      signRule: signRule(registry),
      onKeptAnswer: (hit) => metrics.responseCache.inc({ outcome: hit ? 'hit' : 'miss' }),
      admit: (caller) => (planned) => callerCredits.admit(caller === undefined ? undefined : callersByName.get(caller), planned.credits),
    });
  });
  if (config.adminToken) {
    await app.register(adminRoutes, { adminToken: config.adminToken, upstreams: guards, callers: config.callers ?? [], callerCredits, store: budgetStore, clock, sharedMode });
    const retentionDays = config.history.retentionMs / 86_400_000;
    await app.register(adminHistoryRoute, { adminToken: config.adminToken, callers: config.callers ?? [], history, recorder, retentionDays, clock });
  }
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  if (config.explorer) await app.register(explorerRoutes);
}

const UPSTREAM_CLOSE_MS = 1000;
const COMPRESS_THRESHOLD_BYTES = 1024;

/** The headers a browser dashboard may read from an answer. */
export const CORS_EXPOSED_HEADERS = ['etag', 'link', 'cache-status', 'age', 'ratelimit', 'ratelimit-policy', 'retry-after', 'x-request-id', 'netflows-complete', 'netflows-sources'];

/** With caller tokens on, /metrics (it names callers and budgets) needs the admin token or METRICS_TOKEN. */
function metricsGuard(config: Config<Registry>, callers: readonly CallerToken[]) {
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
export function createUpstreamCache(config: Config<Registry>, clock: Clock, shared?: SharedCacheTier): UpstreamCache {
  return new UpstreamCache({
    maxBytes: config.upstreamCacheBytes,
    staleWhileRevalidateMs: config.staleWhileRevalidateMs,
    staleIfErrorMs: config.staleIfErrorMs,
    clock,
    ...(shared ? { shared, leaseMs: config.requestDeadlineMs } : {}),
  });
}

/** One Redis connection per process, the shared budget store (with its local fallback) and the cache tier. */
function connectShared(config: Config<Registry>, registry: Registry, logger: FastifyBaseLogger, clock: Clock): Shared {
  const redis = new RedisConnection({ url: config.redisUrl!, keyPrefix: config.redisKeyPrefix, commandTimeoutMs: config.redisCommandTimeoutMs, logger });
  return {
    redis,
    store: new FailoverBudgetStore(new RedisBudgetStore(redis), redis, config.gatewayReplicas, clock),
    tier: new RedisCacheTier(redis, undefined, new Map(registry.flatMap((d) => (d.cacheCodec ? [[d.id, d.cacheCodec] as const] : [])))),
  };
}
