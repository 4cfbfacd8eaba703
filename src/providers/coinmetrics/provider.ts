import type { ProviderDeps } from '../descriptor.js';
import type { CoinMetricsConfig } from './config.js';
import { DAY_MS, latestCompleteDay } from '../../time.js';
import type { NetflowRecord, NetflowsQuery, Provider, SourceAnswer } from '../../model.js';
import { EXCHANGE_BY_SLUG, EXCHANGES, type Exchange } from './catalog.js';
import { fetchAssetMetrics, PAGE_SIZE, type AssetMetricsQuery } from './client.js';
import { CoinMetricsDayCache } from './day-cache.js';
import { decodeAssetMetrics, latestDayWithData, seriesRecords, snapshotRecords } from './normalize.js';

/**
 * Snapshots always ask for the same trailing days, so every window of an asset shares one
 * upstream fetch; one spare day lets a window end a day early while the latest day is not published yet.
 */
export const SNAPSHOT_FETCH_DAYS = 32;

export function createCoinMetricsProvider({ config, client, cache, clock, logger, loadTimeoutMs }: ProviderDeps<CoinMetricsConfig>): Provider {
  const days = new CoinMetricsDayCache({
    cache,
    latestTtlMs: config.ttlMs,
    settledTtlMs: config.settledTtlMs,
    fetch: async (query) => {
      const { rows, pages } = await fetchAssetMetrics(client, config.apiKey, query, AbortSignal.timeout(loadTimeoutMs), clock());
      logger.info({ upstream: 'coinmetrics', pages, rows: rows.length, assets: query.assets.length, days: (query.endDay - query.startDay) / DAY_MS + 1 }, 'coinmetrics fetched');
      return decodeAssetMetrics(rows, query.exchanges);
    },
  });

  return {
    id: 'coinmetrics',

    cannotAnswer(query) {
      if (query.mode === 'snapshot' && query.window === '1h') return 'Coin Metrics flows are daily: window=1h is not offered';
      if (query.entities && exchangesOf(query).length === 0) return 'Coin Metrics has exchange entities only';
      return undefined;
    },

    /** No credits; the pages of the one span the day cache lacks, when they are as full as asked. */
    plan(query) {
      const latestDay = latestCompleteDay(clock());
      const { assets, exchanges, startDay, endDay } = toUpstreamQuery(query, config.assets, exchangesOf(query), latestDay);
      return { calls: Math.ceil(days.rowsToFetch(assets, exchanges, startDay, endDay) / PAGE_SIZE), credits: 0 };
    },

    async fetch(query: NetflowsQuery): Promise<SourceAnswer> {
      const latestDay = latestCompleteDay(clock());
      const exchanges = exchangesOf(query);
      const upstreamQuery = toUpstreamQuery(query, config.assets, exchanges, latestDay);
      const answer = await days.days(upstreamQuery.assets, upstreamQuery.exchanges, upstreamQuery.startDay, upstreamQuery.endDay, latestDay);

      const records: NetflowRecord[] = [];
      let asOf = 0;
      for (const data of answer.byAsset.values()) {
        if (query.mode === 'series') {
          records.push(...seriesRecords(data, exchanges, upstreamQuery.startDay, upstreamQuery.endDay));
          asOf = Math.max(asOf, upstreamQuery.endDay);
        } else if (query.window !== '1h') {
          records.push(...snapshotRecords(data, exchanges, query.window, latestDay));
          asOf = Math.max(asOf, latestDayWithData(data, latestDay) ?? 0);
        }
      }
      return {
        records: query.chains ? records.filter((r) => r.chain !== null && query.chains!.includes(r.chain)) : records,
        asOf: asOf || latestDay,
        storedAt: Number.isFinite(answer.storedAt) ? answer.storedAt : clock(),
        cache: answer.outcome,
        freshUntil: Number.isFinite(answer.freshUntil) ? answer.freshUntil : clock() + config.ttlMs,
        stale: answer.error !== undefined,
        ...(answer.error !== undefined ? { staleBecause: answer.error } : {}),
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

/** Step one of the provider: our question in Coin Metrics' terms, lists in canonical order. */
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
