import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { loadConfig, startupWarnings } from '../src/config.js';
import { COINMETRICS_COMMUNITY_URL, COINMETRICS_PRO_URL } from '../src/providers/coinmetrics/config.js';
import { parseRateLimits } from '../src/ratelimit.js';
import { parseCallerTokens } from '../src/auth/callers.js';
import { configProblems } from './config-problems.js';

const noFiles = (path: string): string => {
  throw Object.assign(new Error(`ENOENT ${path}`), { code: 'ENOENT' });
};

const problems = (env: Record<string, string>, readFile = noFiles) => configProblems(env, readFile);

describe('loadConfig', () => {
  it('defaults to the Community API without a key and disables Nansen', () => {
    const config = loadConfig({});
    expect(config).toMatchObject({ host: '0.0.0.0', port: 8080, logLevel: 'info', upstreamTimeoutMs: 10_000, cacheMaxBytes: 256 * 1024 * 1024 });
    expect(config.sources.coinmetrics.apiKey).toBeUndefined();
    expect(config.sources.coinmetrics.baseUrl).toBe(COINMETRICS_COMMUNITY_URL);
    expect(config.sources.coinmetrics.rateLimits.map((l) => [l.limit, l.windowMs])).toEqual([[10, 6000]]);
    expect(config.sources.coinmetrics.assets).toEqual(['btc', 'eth']);
    expect(config.sources.nansen.apiKey).toBeUndefined();
    expect(config.sources.nansen.rateLimits.map((l) => [l.limit, l.windowMs])).toEqual([[15, 1000], [300, 60_000]]);
  });

  it('uses the Pro API and limits with a key', () => {
    const config = loadConfig({ COINMETRICS_API_KEY: 'cm-key' });
    expect(config.sources.coinmetrics.baseUrl).toBe(COINMETRICS_PRO_URL);
    expect(config.sources.coinmetrics.rateLimits.map((l) => [l.limit, l.windowMs])).toEqual([[6000, 20_000]]);
    expect(config.sources.coinmetrics.apiKey!.reveal()).toBe('cm-key');
  });

  it('reads keys from *_FILE and trims the trailing newline', () => {
    const files: Record<string, string> = { '/run/secrets/nansen': 'nsk_file\n' };
    const config = loadConfig({ NANSEN_API_KEY_FILE: '/run/secrets/nansen' }, (p) => files[p] ?? noFiles(p));
    expect(config.sources.nansen.apiKey!.reveal()).toBe('nsk_file');
  });

  it('lists every problem at once, naming each variable, without echoing keys', () => {
    const found = problems({
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      COINMETRICS_RATE_LIMIT: '10 per 6s',
      NANSEN_API_KEY: 'nsk_secret_value',
      NANSEN_API_KEY_FILE: '/nope',
      ADMIN_TOKEN_FILE: '/missing',
      COINMETRICS_BASE_URL: 'ftp://x',
      UPSTREAM_TIMEOUT_MS: '-5',
    });
    expect(found).toHaveLength(7);
    for (const name of ['PORT', 'LOG_LEVEL', 'COINMETRICS_RATE_LIMIT', 'NANSEN_API_KEY', 'ADMIN_TOKEN_FILE', 'COINMETRICS_BASE_URL', 'UPSTREAM_TIMEOUT_MS']) {
      expect(found.some((p) => p.includes(name))).toBe(true);
    }
    expect(found.join('\n')).not.toContain('nsk_secret_value');
  });

  it('sets every server timeout, the connection one past the longest /netflows request', () => {
    expect(loadConfig({})).toMatchObject({ headersTimeoutMs: 10_000, requestTimeoutMs: 30_000, keepAliveTimeoutMs: 72_000, connectionTimeoutMs: 60_000 });
    expect(loadConfig({ UPSTREAM_TIMEOUT_MS: '20000' }).connectionTimeoutMs).toBe(90_000);
    expect(problems({ HEADERS_TIMEOUT_MS: '40000' })).toEqual(['HEADERS_TIMEOUT_MS must not exceed REQUEST_TIMEOUT_MS']);
    expect(problems({ CONNECTION_TIMEOUT_MS: '30000' })).toEqual([
      'CONNECTION_TIMEOUT_MS must exceed the longest /netflows request (3 × UPSTREAM_TIMEOUT_MS = 30000 ms)',
    ]);
  });

  it('reads METRICS_TOKEN_FILE, and warns when caller tokens leave /metrics closed to everyone', () => {
    const callers = JSON.stringify([{ name: 'grafana', sha256: 'a'.repeat(64), rate_limit: '10/1m' }]);
    const files: Record<string, string> = { '/run/secrets/metrics': 'metrics-token\n', '/run/secrets/callers.json': callers };
    const read = (p: string) => files[p] ?? noFiles(p);
    const withToken = loadConfig({ METRICS_TOKEN_FILE: '/run/secrets/metrics', CALLER_TOKENS_FILE: '/run/secrets/callers.json' }, read);
    expect(withToken.metricsToken!.reveal()).toBe('metrics-token');
    expect(startupWarnings(withToken).filter((w) => w.includes('/metrics'))).toEqual([]);
    const without = loadConfig({ CALLER_TOKENS_FILE: '/run/secrets/callers.json' }, read);
    expect(startupWarnings(without)).toContain('caller tokens are on and neither METRICS_TOKEN nor ADMIN_TOKEN is set: /metrics answers 401 to everyone');
    expect(startupWarnings(loadConfig({}))).toContain('CALLER_TOKENS_FILE is not set: data routes and /metrics are open to anyone who can reach them');
  });

  it('holds milliseconds and bytes, and the values derived from them, converted once here', () => {
    const config = loadConfig({
      UPSTREAM_TIMEOUT_MS: '4000',
      BUDGET_MAX_WAIT_MS: '1500',
      UPSTREAM_MAX_BODY_MB: '8',
      CIRCUIT_COOLDOWN_S: '45',
      CACHE_MAX_MB: '64',
      STALE_WHILE_REVALIDATE_S: '20',
      STALE_IF_ERROR_S: '600',
      COINMETRICS_TTL_S: '120',
      COINMETRICS_SETTLED_TTL_S: '7200',
      NANSEN_TTL_S: '90',
    });
    const MiB = 1024 * 1024;
    expect(config).toMatchObject({
      upstreamMaxBodyBytes: 8 * MiB,
      circuitCooldownMs: 45_000,
      cacheMaxBytes: 64 * MiB,
      upstreamCacheBytes: 56 * MiB,
      renderedCacheBytes: 8 * MiB,
      staleWhileRevalidateMs: 20_000,
      staleIfErrorMs: 600_000,
      requestDeadlineMs: 12_000,
      slotLeaseMs: 4000 + 1500 + 5000,
      allowanceLeaseMs: 12_000 + 5000,
    });
    expect(config.sources.coinmetrics).toMatchObject({ ttlMs: 120_000, settledTtlMs: 7_200_000 });
    expect(config.sources.nansen).toMatchObject({ ttlMs: 90_000 });
  });

  it('refuses an empty key file', () => {
    expect(problems({ COINMETRICS_API_KEY_FILE: '/k' }, () => '\n')).toEqual(['COINMETRICS_API_KEY_FILE points to an empty file: /k']);
  });

  it('never prints a key, however it is turned into text', () => {
    const config = loadConfig({ COINMETRICS_API_KEY: 'cm-secret', NANSEN_API_KEY: 'nsk-secret' });
    const texts = [JSON.stringify(config), inspect(config, { depth: 10 }), String(config.sources.nansen.apiKey), `${config.sources.coinmetrics.apiKey}`];
    for (const text of texts) {
      expect(text).not.toContain('cm-secret');
      expect(text).not.toContain('nsk-secret');
    }
    expect(JSON.stringify(config)).toContain('[redacted]');
  });
});

describe('parseRateLimits', () => {
  it('parses several windows', () => {
    expect(parseRateLimits('15/1s, 300/1m,120/m,5/500ms')?.map((l) => [l.limit, l.windowMs])).toEqual([
      [15, 1000],
      [300, 60_000],
      [120, 60_000],
      [5, 500],
    ]);
  });

  it.each(['', '10', '10/', '0/1s', '10/0s', '10/6 sec', 'ten/6s'])('rejects %j', (text) => {
    expect(parseRateLimits(text)).toBeUndefined();
  });
});

describe('parseCallerTokens', () => {
  const hash = 'a'.repeat(64);
  it('reads an optional daily Nansen credit allowance per caller', () => {
    const { callers, problems } = parseCallerTokens(
      JSON.stringify([
        { name: 'grafana', sha256: hash, rate_limit: '120/1m', nansen_daily_credits: 500 },
        { name: 'cron', sha256: 'b'.repeat(64), rate_limit: '10/1m' },
      ]),
    );
    expect(problems).toEqual([]);
    expect(callers.map((c) => [c.name, c.nansenDailyCredits])).toEqual([
      ['grafana', 500],
      ['cron', undefined],
    ]);
  });

  it.each([-1, 2.5, '500', null])('refuses an allowance of %s', (allowance) => {
    const { callers, problems } = parseCallerTokens(JSON.stringify([{ name: 'grafana', sha256: hash, rate_limit: '120/1m', nansen_daily_credits: allowance }]));
    expect(callers).toEqual([]);
    expect(problems).toEqual(['caller 1: nansen_daily_credits must be a whole number of credits, 0 or more']);
  });
});
