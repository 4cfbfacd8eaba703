import { readFileSync } from 'node:fs';
import { parseCallerTokens, type CallerToken } from './auth/callers.js';
import { EnvReader, type Env, type ReadFile } from './env.js';
import { readHistoryConfig, type HistoryConfig } from './history/config.js';
import type { SourceId } from './model.js';
import type { ProviderDescriptor, Registry, SourceConfigs, UpstreamConfig } from './providers/descriptor.js';
import { PROVIDERS, type DefaultRegistry } from './providers/index.js';
import type { Secret } from './secret.js';
import { readTracingSettings, type TracingSettings } from './tracing/settings.js';

/** The whole configuration: the gateway's own settings, and each registered source's block under `sources`. */
export interface Config<R extends Registry = DefaultRegistry> {
  host: string;
  port: number;
  logLevel: string;
  /** Each provider's own block, as its descriptor read it. */
  sources: SourceConfigs<R>;
  /** Bound on one upstream request, headers and body, ms (default 10000). */
  upstreamTimeoutMs: number;
  /** Retries after a failure that can succeed on retry (default 2). */
  upstreamRetries: number;
  /** Bytes of an upstream body read at most (UPSTREAM_MAX_BODY_MB, default 32 MiB). */
  upstreamMaxBodyBytes: number;
  /** Consecutive upstream failures that open its circuit (default 5). */
  circuitFailures: number;
  /** How long an open circuit refuses calls before one probe, ms (CIRCUIT_COOLDOWN_S, default 30 s). */
  circuitCooldownMs: number;
  /** Time for a request's headers to arrive, ms (default 10000); past it a 408. */
  headersTimeoutMs: number;
  /** Time for a whole request, headers and body, to arrive, ms (default 30000); past it a 408. */
  requestTimeoutMs: number;
  /** How long an idle keep-alive connection stays open, ms (default 72000). */
  keepAliveTimeoutMs: number;
  /** A connection with no traffic either way for this long is closed, ms (default: the /netflows deadline + 30000). */
  connectionTimeoutMs: number;
  /** How long in-flight requests may take to finish after SIGTERM, ms (default 10000). */
  shutdownGraceMs: number;
  /** Memory bound of both caches together, bytes (CACHE_MAX_MB, default 256 MiB). */
  cacheMaxBytes: number;
  /** The upstream cache's share of `cacheMaxBytes`: seven eighths. */
  upstreamCacheBytes: number;
  /** The kept answers' share of `cacheMaxBytes`: one eighth. */
  renderedCacheBytes: number;
  /** How long an expired entry is served while one refresh runs, ms (STALE_WHILE_REVALIDATE_S, default 30 s). */
  staleWhileRevalidateMs: number;
  /** How long an expired entry may stand in for a failing upstream, ms (STALE_IF_ERROR_S, default 3600 s). */
  staleIfErrorMs: number;
  /** Longest wait for upstream budget before answering stale or 503, ms (default 2000). */
  budgetMaxWaitMs: number;
  /** Bound on a whole /netflows request, every page and upstream call in it: three upstream timeouts (ms). */
  requestDeadlineMs: number;
  /** An upstream call slot frees itself after this long if its call never settles: longer than any attempt can take (ms). */
  slotLeaseMs: number;
  /** A caller's credit reservation frees itself after this long if its request never settles (ms). */
  allowanceLeaseMs: number;
  adminToken: Secret | undefined;
  /** With caller tokens on, /metrics needs this or the admin token (for Prometheus). */
  metricsToken: Secret | undefined;
  /** Unset: one process on its own. Set: replicas share cache, single-flight and budgets here. */
  redisUrl: string | undefined;
  /** Prefix of every Redis key, so several gateways can share one Redis (default `netflows:`). */
  redisKeyPrefix: string;
  redisCommandTimeoutMs: number;
  /** Replicas expected; while Redis is away each takes 1/N of every limit (default 1). */
  gatewayReplicas: number;
  /** Browser origins allowed to read answers (CORS); empty = none, `*` = any. */
  corsOrigins: readonly string[];
  /** From CALLER_TOKENS_FILE; undefined = data routes are open. */
  callers: readonly CallerToken[] | undefined;
  /** EXPLORER: the web page at `/` (default on); off removes the route. */
  explorer: boolean;
  /** With an OTLP endpoint set: traces are exported (see src/tracing/); undefined: no tracing code is loaded. */
  tracing: TracingSettings | undefined;
  /** HISTORY, DATABASE_URL, HISTORY_DIR and the rest: where the gateway keeps what it fetched. */
  history: HistoryConfig;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Reads and validates every variable once, the gateway's own and each registered
 * source's block (its descriptor's `readConfig`); lists every problem in one error.
 */
export function loadConfig<R extends Registry = DefaultRegistry>(
  env: Env,
  readFile: ReadFile = (p) => readFileSync(p, 'utf8'),
  registry: R = PROVIDERS as unknown as R,
): Config<R> {
  const problems: string[] = [];
  const read = new EnvReader(env, readFile, problems);

  const upstreamTimeoutMs = read.integer('UPSTREAM_TIMEOUT_MS', 10_000, 100, 300_000);
  const config: Config<R> = {
    host: read.string('HOST', '0.0.0.0'),
    port: read.integer('PORT', 8080, 0, 65_535),
    logLevel: read.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    sources: Object.fromEntries(registry.map((descriptor) => [descriptor.id, descriptor.readConfig(read)])) as SourceConfigs<R>,
  upstreamTimeoutMs,
    upstreamRetries: read.integer('UPSTREAM_RETRIES', 2, 0, 5),
    upstreamMaxBodyBytes: read.mebibytes('UPSTREAM_MAX_BODY_MB', 32, 1, 1024),
    circuitFailures: read.integer('CIRCUIT_FAILURES', 5, 1, 1000),
    circuitCooldownMs: read.seconds('CIRCUIT_COOLDOWN_S', 30, 1, 3600),
    ...serverTimeouts(read, upstreamTimeoutMs, problems),
    shutdownGraceMs: read.integer('SHUTDOWN_GRACE_MS', 10_000, 0, 300_000),
    ...cacheShares(read.mebibytes('CACHE_MAX_MB', 256, 1, 65_536)),
    staleWhileRevalidateMs: read.seconds('STALE_WHILE_REVALIDATE_S', 30, 0, 86_400),
    staleIfErrorMs: read.seconds('STALE_IF_ERROR_S', 3600, 0, 7 * 86_400),
    ...budgetTimes(upstreamTimeoutMs, read.integer('BUDGET_MAX_WAIT_MS', 2000, 0, 60_000)),
    adminToken: read.secret('ADMIN_TOKEN'),
    metricsToken: read.secret('METRICS_TOKEN'),
    corsOrigins: read.origins('CORS_ORIGINS'),
    redisUrl: read.redisUrl('REDIS_URL'),
    redisKeyPrefix: read.string('REDIS_KEY_PREFIX', 'netflows:'),
    redisCommandTimeoutMs: read.integer('REDIS_COMMAND_TIMEOUT_MS', 1000, 50, 60_000),
    gatewayReplicas: read.integer('GATEWAY_REPLICAS', 1, 1, 1000),
    callers: readCallers(read, 'CALLER_TOKENS_FILE'),
    explorer: read.oneOf('EXPLORER', 'on', ['on', 'off']) === 'on',
    tracing: readTracingSettings(read),
    history: readHistoryConfig(read),
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/** What an operator should know at start: a source off or keyless, routes open to anyone, a /metrics nobody can open. */
export function startupWarnings<R extends Registry>(config: Config<R>, registry: R = PROVIDERS as unknown as R): string[] {
  const warnings = registry.flatMap((descriptor) => descriptor.status(sourceConfig(config, descriptor)).warning ?? []);
  if (!config.callers) {
    warnings.push('CALLER_TOKENS_FILE is not set: data routes and /metrics are open to anyone who can reach them');
  } else if (!config.adminToken && !config.metricsToken) {
    warnings.push('caller tokens are on and neither METRICS_TOKEN nor ADMIN_TOKEN is set: /metrics answers 401 to everyone');
  }
  return warnings;
}

/** A whole /netflows request, every page and upstream call in it, gets three upstream timeouts. */
function requestDeadlineMs(upstreamTimeoutMs: number): number {
  return upstreamTimeoutMs * 3;
}

/** The upstream cache takes seven eighths of CACHE_MAX_MB, the kept answers the rest. */
function cacheShares(cacheMaxBytes: number) {
  const renderedCacheBytes = cacheMaxBytes / 8;
  return { cacheMaxBytes, upstreamCacheBytes: cacheMaxBytes - renderedCacheBytes, renderedCacheBytes };
}

/** How long a request, a call slot and a caller's reservation may last: each outlasts what it bounds. */
function budgetTimes(upstreamTimeoutMs: number, budgetMaxWaitMs: number) {
  const deadlineMs = requestDeadlineMs(upstreamTimeoutMs);
  return {
    budgetMaxWaitMs,
    requestDeadlineMs: deadlineMs,
    slotLeaseMs: upstreamTimeoutMs + budgetMaxWaitMs + 5000,
    allowanceLeaseMs: deadlineMs + 5000,
  };
}

/** The HTTP server's timeouts; the connection's outlasts the longest answer the gateway may take. */
function serverTimeouts(read: EnvReader, upstreamTimeoutMs: number, problems: string[]) {
  const deadlineMs = requestDeadlineMs(upstreamTimeoutMs);
  const timeouts = {
    headersTimeoutMs: read.integer('HEADERS_TIMEOUT_MS', 10_000, 100, 600_000),
    requestTimeoutMs: read.integer('REQUEST_TIMEOUT_MS', 30_000, 100, 600_000),
    keepAliveTimeoutMs: read.integer('KEEP_ALIVE_TIMEOUT_MS', 72_000, 100, 600_000),
    connectionTimeoutMs: read.integer('CONNECTION_TIMEOUT_MS', deadlineMs + 30_000, 100, 3_600_000),
  };
  if (timeouts.headersTimeoutMs > timeouts.requestTimeoutMs) problems.push('HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS');
  if (timeouts.connectionTimeoutMs <= deadlineMs) {
    problems.push(`CONNECTION_TIMEOUT_MS must exceed the longest /netflows request (3 × UPSTREAM_TIMEOUT_MS = ${deadlineMs} ms)`);
  }
  return timeouts;
}

/** One source's configuration block; a config read with another registry has none, which is a wiring error. */
export function sourceConfig<C extends UpstreamConfig>(config: Config<Registry>, descriptor: ProviderDescriptor<SourceId, C, unknown>): C {
  const block = (config.sources as Readonly<Record<SourceId, UpstreamConfig | undefined>>)[descriptor.id];
  if (!block) throw new Error(`the configuration has no block for source ${descriptor.id}: read it with the same registry`);
  return block as C;
}

/** CALLER_TOKENS_FILE: the callers, or undefined when unset; its problems are listed with the rest. */
function readCallers(read: EnvReader, name: string): CallerToken[] | undefined {
  const file = read.fileText(name);
  if (!file) return undefined;
  const { callers, problems } = parseCallerTokens(file.text);
  for (const problem of problems) read.problem(`${name} (${file.path}): ${problem}`);
  return callers;
}
