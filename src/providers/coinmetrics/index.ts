import type { ProviderDescriptor } from '../descriptor.js';
import { EXCHANGES } from './catalog.js';
import { COINMETRICS_FAILURES, readCoinMetricsLimits } from './client.js';
import { readCoinMetricsConfig, type CoinMetricsConfig } from './config.js';
import { createCoinMetricsProvider } from './provider.js';

/** Coin Metrics queues requests beyond 10 in parallel; we never send more. */
const MAX_IN_FLIGHT = 10;

/** Coin Metrics exchange net flows: daily, per exchange and asset; the Community API without a key. */
export const coinmetrics: ProviderDescriptor<'coinmetrics', CoinMetricsConfig, Record<string, never>> = {
  id: 'coinmetrics',
  title: 'Coin Metrics',
  entityType: 'exchange',
  catalog: {
    entities: EXCHANGES.map((e) => ({ entity: e.slug, name: e.name, fields: { coinmetrics_code: e.code } })),
    entityHint: 'exchange slugs (binance, coinbase, …)',
    entityFields: { coinmetrics_code: { type: 'string' } },
    windows: ['24h', '7d', '30d'],
    intervals: ['1d'],
    chains: ['derived from the asset id: btc → bitcoin, usdt_eth → ethereum, …'],
    signRule: 'into the exchange (deposits minus withdrawals)',
  },
  params: { schemas: {}, parse: () => ({}), fingerprint: () => [] },
  readConfig: readCoinMetricsConfig,
  status: (config) =>
    config.apiKey
      ? { enabled: true, mode: 'pro', detail: 'Coin Metrics API with the configured key' }
      : {
          enabled: true,
          mode: 'community',
          detail: 'Coin Metrics Community API (no COINMETRICS_API_KEY): community limits, and some exchange flows may be unavailable',
          warning: 'COINMETRICS_API_KEY is not set: using the Coin Metrics Community API',
        },
  defaultAssets: (config) => config.assets,
  budget: () => ({ maxInFlight: MAX_IN_FLIGHT, readLimits: readCoinMetricsLimits, retryAfter: COINMETRICS_FAILURES.retryAfter }),
  create: createCoinMetricsProvider,
};
