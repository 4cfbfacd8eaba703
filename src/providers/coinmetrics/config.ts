import type { EnvReader } from '../../env.js';
import type { UpstreamConfig } from '../descriptor.js';

export const COINMETRICS_PRO_URL = 'https://api.coinmetrics.io/v4';
export const COINMETRICS_COMMUNITY_URL = 'https://community-api.coinmetrics.io/v4';

export interface CoinMetricsConfig extends UpstreamConfig {
  /** Absent: the Community API, without a key and with Community limits. */
  apiKey: UpstreamConfig['apiKey'];
  assets: readonly string[];
  /** Freshness of ranges that include the latest complete day, ms (COINMETRICS_TTL_S, default 300 s). */
  ttlMs: number;
  /** Freshness of ranges that end before the latest complete day, ms (COINMETRICS_SETTLED_TTL_S, default 21600 s). */
  settledTtlMs: number;
}

/** The COINMETRICS_* variables: with a key the Pro API and its limits, without one the Community API. */
export function readCoinMetricsConfig(read: EnvReader): CoinMetricsConfig {
  const apiKey = read.secret('COINMETRICS_API_KEY');
  return {
    apiKey,
    baseUrl: read.url('COINMETRICS_BASE_URL', apiKey ? COINMETRICS_PRO_URL : COINMETRICS_COMMUNITY_URL),
    assets: read.list('COINMETRICS_ASSETS', ['btc', 'eth'], /^[a-z0-9][a-z0-9_.-]{0,63}$/),
    rateLimits: read.rateLimits('COINMETRICS_RATE_LIMIT', apiKey ? '6000/20s' : '10/6s'),
    ttlMs: read.seconds('COINMETRICS_TTL_S', 300, 1, 86_400),
    settledTtlMs: read.seconds('COINMETRICS_SETTLED_TTL_S', 21_600, 1, 7 * 86_400),
  };
}
