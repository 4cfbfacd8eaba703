import { readFileSync } from 'node:fs';
import { parseCallerTokens, type CallerToken } from './auth/callers.js';
import { parseRateLimits, type RateLimit } from './ratelimit.js';
import { Secret } from './secret.js';

export interface CoinMetricsConfig {
  /** Absent: the Community API, without a key and with Community limits. */
  apiKey: Secret | undefined;
  baseUrl: string;
  assets: readonly string[];
  rateLimits: readonly RateLimit[];
  /** Coin Metrics queues requests beyond 10 in parallel; we never send more. */
  maxInFlight: number;
  /** Freshness of ranges that include the latest complete day, ms (COINMETRICS_TTL_S, default 300 s). */
  ttlMs: number;
  /** Freshness of ranges that end before the latest complete day, ms (COINMETRICS_SETTLED_TTL_S, default 21600 s). */
  settledTtlMs: number;
}

export interface NansenConfig {
  /** Absent: the Nansen source is disabled. */
  apiKey: Secret | undefined;
  baseUrl: string;
  rateLimits: readonly RateLimit[];
  /** Stop calling when the reported credits left fall to this (default 0). */
  creditReserve: number;
  /** Most credits to spend per UTC day; undefined = no cap. */
  dailyCreditCap: number | undefined;
  /** Freshness of a snapshot, ms (NANSEN_TTL_S, default 60 s). */
  ttlMs: number;
}

export interface Config {
  host: string;
  port: number;
  logLevel: string;
  coinmetrics: CoinMetricsConfig;
  nansen: NansenConfig;
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
  /** Replicas expected; while Redis is away each takes 1/N of every limit (default 1). */
  gatewayReplicas: number;
  /** Browser origins allowed to read answers (CORS); empty = none, `*` = any. */
  corsOrigins: readonly string[];
  /** From CALLER_TOKENS_FILE; undefined = data routes are open. */
  callers: readonly CallerToken[] | undefined;
  /** EXPLORER: the web page at `/` (default on); off removes the route. */
  explorer: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;
type ReadFile = (path: string) => string;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

export const COINMETRICS_PRO_URL = 'https://api.coinmetrics.io/v4';
export const COINMETRICS_COMMUNITY_URL = 'https://community-api.coinmetrics.io/v4';
export const NANSEN_URL = 'https://api.nansen.ai';

/** Reads and validates every variable once; lists every problem in one error. */
export function loadConfig(env: Env, readFile: ReadFile = (p) => readFileSync(p, 'utf8')): Config {
  const problems: string[] = [];
  const read = new EnvReader(env, readFile, problems);

  const coinmetricsKey = read.secret('COINMETRICS_API_KEY');
  const upstreamTimeoutMs = read.integer('UPSTREAM_TIMEOUT_MS', 10_000, 100, 300_000);
  const nansenKey = read.secret('NANSEN_API_KEY');
  const config: Config = {
    host: read.string('HOST', '0.0.0.0'),
    port: read.integer('PORT', 8080, 0, 65_535),
    logLevel: read.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    coinmetrics: {
      apiKey: coinmetricsKey,
      baseUrl: read.url('COINMETRICS_BASE_URL', coinmetricsKey ? COINMETRICS_PRO_URL : COINMETRICS_COMMUNITY_URL),
      assets: read.list('COINMETRICS_ASSETS', ['btc', 'eth'], /^[a-z0-9][a-z0-9_.-]{0,63}$/),
      rateLimits: read.rateLimits('COINMETRICS_RATE_LIMIT', coinmetricsKey ? '6000/20s' : '10/6s'),
      maxInFlight: 10,
      ttlMs: read.seconds('COINMETRICS_TTL_S', 300, 1, 86_400),
      settledTtlMs: read.seconds('COINMETRICS_SETTLED_TTL_S', 21_600, 1, 7 * 86_400),
    },
    nansen: {
      apiKey: nansenKey,
      baseUrl: read.url('NANSEN_BASE_URL', NANSEN_URL),
      rateLimits: read.rateLimits('NANSEN_RATE_LIMIT', '15/1s,300/1m'),
      creditReserve: read.integer('NANSEN_CREDIT_RESERVE', 0, 0, Number.MAX_SAFE_INTEGER),
      dailyCreditCap: read.optionalInteger('NANSEN_DAILY_CREDIT_CAP', 1, Number.MAX_SAFE_INTEGER),
      ttlMs: read.seconds('NANSEN_TTL_S', 60, 1, 86_400),
    },
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
    gatewayReplicas: read.integer('GATEWAY_REPLICAS', 1, 1, 1000),
    callers: read.callers('CALLER_TOKENS_FILE'),
    explorer: read.oneOf('EXPLORER', 'on', ['on', 'off']) === 'on',
  };
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/** What an operator should know at start: a source off, routes open to anyone, a /metrics nobody can open. */
export function startupWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (!config.nansen.apiKey) warnings.push('NANSEN_API_KEY is not set: the Nansen source is disabled');
  if (!config.coinmetrics.apiKey) warnings.push('COINMETRICS_API_KEY is not set: using the Coin Metrics Community API');
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

class EnvReader {
  constructor(
    private readonly env: Env,
    private readonly readFile: ReadFile,
    private readonly problems: string[],
  ) {}

  private raw(name: string): string | undefined {
    const value = this.env[name]?.trim();
    return value === '' ? undefined : value;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  integer(name: string, fallback: number, min: number, max: number): number {
    return this.optionalInteger(name, min, max) ?? fallback;
  }

  /** A variable in seconds (`*_S`), as ms. */
  seconds(name: string, fallback: number, min: number, max: number): number {
    return this.integer(name, fallback, min, max) * 1000;
  }

  /** A variable in MiB (`*_MB`), as bytes. */
  mebibytes(name: string, fallback: number, min: number, max: number): number {
    return this.integer(name, fallback, min, max) * 1024 * 1024;
  }

  optionalInteger(name: string, min: number, max: number): number | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!/^\d+$/.test(value) || n < min || n > max) {
      this.problems.push(`${name} must be a whole number from ${min} to ${max}, got "${value}"`);
      return undefined;
    }
    return n;
  }

  oneOf(name: string, fallback: string, allowed: readonly string[]): string {
    const value = this.raw(name) ?? fallback;
    if (allowed.includes(value)) return value;
    this.problems.push(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
    return fallback;
  }

  url(name: string, fallback: string): string {
    const value = this.raw(name) ?? fallback;
    try {
      const url = new URL(value);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('protocol');
      if (url.username || url.password || url.search) throw new Error('credentials or query');
      return value.replace(/\/+$/, '');
    } catch {
      this.problems.push(`${name} must be an http(s) URL without credentials or query, got "${value}"`);
      return fallback;
    }
  }

  list(name: string, fallback: string[], item: RegExp): string[] {
    const value = this.raw(name);
    if (value === undefined) return fallback;
    const items = value.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    const bad = items.filter((s) => !item.test(s));
    if (items.length === 0 || bad.length > 0) {
      this.problems.push(`${name} must be a comma-separated list of ids, got "${value}"`);
      return fallback;
    }
    return [...new Set(items)];
  }

  rateLimits(name: string, fallback: string): RateLimit[] {
    const value = this.raw(name) ?? fallback;
    const limits = parseRateLimits(value);
    if (limits) return limits;
    this.problems.push(`${name} must look like "10/6s" or "15/1s,300/1m", got "${value}"`);
    return parseRateLimits(fallback)!;
  }

  redisUrl(name: string): string | undefined {
    const value = this.raw(name);
    if (value === undefined) return undefined;
    try {
      const url = new URL(value);
      if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') throw new Error('protocol');
      return value;
    } catch {
      this.problems.push(`${name} must be a redis:// or rediss:// URL`);
      return undefined;
    }
  }

  origins(name: string): string[] {
    const value = this.raw(name);
    if (value === undefined) return [];
    const origins = value.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = origins.filter((o) => o !== '*' && !/^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/.test(o));
    if (origins.length === 0 || bad.length > 0) {
      this.problems.push(`${name} must be * or a comma-separated list of origins like https://grafana.example.com, got "${value}"`);
      return [];
    }
    return origins;
  }

  callers(name: string): CallerToken[] | undefined {
    const path = this.raw(name);
    if (path === undefined) return undefined;
    let text: string;
    try {
      text = this.readFile(path);
    } catch (error) {
      this.problems.push(`${name} points to a file that cannot be read (${(error as NodeJS.ErrnoException).code ?? 'unreadable'}): ${path}`);
      return undefined;
    }
    const { callers, problems } = parseCallerTokens(text);
    this.problems.push(...problems.map((p) => `${name} (${path}): ${p}`));
    return callers;
  }

  /** `NAME` or `NAME_FILE` (a path whose content is the value); never echoes the value. */
  secret(name: string): Secret | undefined {
    const direct = this.raw(name);
    const file = this.raw(`${name}_FILE`);
    if (direct !== undefined && file !== undefined) {
      this.problems.push(`${name} and ${name}_FILE are both set; set one`);
      return undefined;
    }
    if (file !== undefined) {
      let content: string;
      try {
        content = this.readFile(file).trim();
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
        this.problems.push(`${name}_FILE points to a file that cannot be read (${code}): ${file}`);
        return undefined;
      }
      if (content === '') {
        this.problems.push(`${name}_FILE points to an empty file: ${file}`);
        return undefined;
      }
      return new Secret(content);
    }
    if (direct === undefined) return undefined;
    if (/\s/.test(direct)) {
      this.problems.push(`${name} must not contain white space`);
      return undefined;
    }
    return new Secret(direct);
  }
}
