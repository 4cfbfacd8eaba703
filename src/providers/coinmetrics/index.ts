import type { FastifyBaseLogger } from 'fastify';
import type { CoinMetricsConfig } from '../../config.js';
import { DAY_MS, latestCompleteDay, type Clock } from '../../time.js';
import type { UpstreamClient } from '../../upstream/http.js';
import type { FetchContext, NetflowRecord, NetflowsQuery, Provider, SourceAnswer } from '../types.js';
import { EXCHANGE_BY_SLUG, EXCHANGES, type Exchange } from './catalog.js';
import { fetchAssetMetrics, type AssetMetricsQuery } from './client.js';
import { decodeAssetMetrics, latestDayWithData, seriesRecords, snapshotRecords } from './normalize.js';

/**
 * Snapshots always ask for the same trailing days, so every window of an asset shares one
 * upstream fetch; one spare day lets a window end a day early while the latest day is not published yet.
 */
export const SNAPSHOT_FETCH_DAYS = 32;

export interface CoinMetricsDeps {
  config: CoinMetricsConfig;
  client: UpstreamClient;
  clock: Clock;
  logger: FastifyBaseLogger;
}

export function createCoinMetricsProvider({ config, client, clock, logger }: CoinMetricsDeps): Provider {
  return {
    id: 'coinmetrics',

    cannotAnswer(query) {
      if (query.mode === 'snapshot' && query.window === '1h') return 'Coin Metrics flows are daily: window=1h is not offered';
      if (query.entities && exchangesOf(query).length === 0) return 'Coin Metrics has exchange entities only';
      return undefined;
    },

    async fetch(query: NetflowsQuery, context: FetchContext): Promise<SourceAnswer> {
      const now = clock();
      const latestDay = latestCompleteDay(now);
      const exchanges = exchangesOf(query);
      const upstreamQuery = toUpstreamQuery(query, config.assets, exchanges, latestDay);
      const { rows, pages } = await fetchAssetMetrics(client, config.apiKey, upstreamQuery, context.signal, now);
      const decoded = decodeAssetMetrics(rows, exchanges);
      logger.info({ upstream: 'coinmetrics', pages, rows: rows.length }, 'coinmetrics fetched');

      const records: NetflowRecord[] = [];
      let asOf = 0;
      for (const data of decoded.values()) {
        if (query.mode === 'series') {
          records.push(...seriesRecords(data, exchanges, upstreamQuery.startDay, upstreamQuery.endDay));
          asOf = Math.max(asOf, upstreamQuery.endDay);
        } else if (query.window !== '1h') {
          records.push(...snapshotRecords(data, exchanges, query.window, latestDay));
          asOf = Math.max(asOf, latestDayWithData(data, latestDay) ?? 0);
        }
      }
      const settled = upstreamQuery.endDay < latestDay;
      return {
        records: query.chains ? records.filter((r) => r.chain !== null && query.chains!.includes(r.chain)) : records,
        asOf: asOf || latestDay,
        cache: 'miss',
        freshUntil: now + (settled ? config.settledTtlS : config.ttlS) * 1000,
        stale: false,
        hasMore: false,
        warnings: [],
      };
    },
  };
}

function exchangesOf(query: NetflowsQuery): Exchange[] {
  if (!query.entities) return [...EXCHANGES];
  return query.entities.map((e) => EXCHANGE_BY_SLUG.get(e)).filter((e): e is Exchange => e !== undefined);
}

/** Step one of the provider: our question in Coin Metrics' terms. */
export function toUpstreamQuery(
  query: NetflowsQuery,
  defaultAssets: readonly string[],
  exchanges: readonly Exchange[],
  latestDay: number,
): AssetMetricsQuery {
  const assets = [...(query.assets ?? defaultAssets)].sort();
  const sortedExchanges = [...exchanges].sort((a, b) => a.code.localeCompare(b.code));
  if (query.mode === 'series') {
    return { assets, exchanges: sortedExchanges, startDay: query.startDay, endDay: query.endDay };
  }
  return { assets, exchanges: sortedExchanges, startDay: latestDay - (SNAPSHOT_FETCH_DAYS - 1) * DAY_MS, endDay: latestDay };
}
