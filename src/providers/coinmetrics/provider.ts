import type { ProviderDeps } from '../descriptor.js';
import type { CoinMetricsConfig } from './config.js';
import { DAY_MS, latestCompleteDay } from '../../time.js';
import type { NetflowRecord, NetflowsQuery, Provider, SourceAnswer } from '../../model.js';
import { chainOfAsset, EXCHANGE_BY_SLUG, EXCHANGES, type Exchange } from './catalog.js';
import { fetchAssetMetrics, PAGE_SIZE, type AssetMetricsQuery } from './client.js';
import { CoinMetricsDayCache } from './day-cache.js';
import { storeTier } from './day-store.js';
import { exchangeAssetsReader } from './entity-assets.js';
import { decodeAssetMetrics, latestDayWithData, seriesRecords, snapshotRecords, type AssetDays } from './normalize.js';
import { seriesPage } from './series-page.js';

/**
 * Snapshots always ask for the same trailing days, so every window of an asset shares one
 * upstream fetch; one spare day lets a window end a day early while the latest day is not published yet.
 */
export const SNAPSHOT_FETCH_DAYS = 32;

export function createCoinMetricsProvider(deps: ProviderDeps<CoinMetricsConfig>): Provider {
  const { config, client, cache, clock, logger, loadTimeoutMs, history } = deps;
  const fetchUpstream = async (query: AssetMetricsQuery) => {
    const { rows, pages } = await fetchAssetMetrics(client, config.apiKey, query, AbortSignal.timeout(loadTimeoutMs), clock());
    logger.info({ upstream: 'coinmetrics', pages, rows: rows.length, assets: query.assets.length, days: (query.endDay - query.startDay) / DAY_MS + 1 }, 'coinmetrics fetched');
    return decodeAssetMetrics(rows, query.exchanges);
  };
  const days = new CoinMetricsDayCache({
    cache,
    latestTtlMs: config.ttlMs,
    settledTtlMs: config.settledTtlMs,
    fetch: history
      ? storeTier({ history, fetchUpstream, clock, onStoreAway: (error) => logger.debug({ reason: error.message }, 'history store away: Coin Metrics days fetched whole') })
      : async (query) => ({ byAsset: await fetchUpstream(query), upstream: true }),
  });

  return {
    id: 'coinmetrics',
    entityAssets: exchangeAssetsReader(deps),

    cannotAnswer(query) {
      if (query.mode === 'snapshot' && query.window === '1h') return 'Coin Metrics flows are daily: window=1h is not offered';
      if (query.mode === 'series' && query.interval === '1h') return 'Coin Metrics flows are daily: interval=1h is not offered';
      if (query.entities && exchangesOf(query).length === 0) return 'Coin Metrics has exchange entities only';
      return undefined;
    },

    /** No credits; the pages of the one span the day cache lacks, when they are as full as asked (the history store may hold some of it). */
    plan(query) {
      const { assets, exchanges, startDay, endDay } = toUpstreamQuery(query, config.assets, exchangesOf(query), anchorDay(query, clock()));
      return { calls: Math.ceil(days.rowsToFetch(assets, exchanges, startDay, endDay) / PAGE_SIZE), credits: 0 };
    },

    async fetch(query: NetflowsQuery, { rowsNeeded }): Promise<SourceAnswer> {
      const now = clock();
      const anchor = anchorDay(query, now);
      const upstreamQuery = toUpstreamQuery(query, config.assets, exchangesOf(query), anchor);
      const answer = await days.days(upstreamQuery.assets, upstreamQuery.exchanges, upstreamQuery.startDay, upstreamQuery.endDay, latestCompleteDay(now));
      const { records, asOf, hasMore } = recordsOf(query, [...answer.byAsset.values()], upstreamQuery, anchor, rowsNeeded);
      return {
        records,
        asOf: asOf || anchor,
        storedAt: Number.isFinite(answer.storedAt) ? answer.storedAt : now,
        cache: answer.outcome,
        freshUntil: Number.isFinite(answer.freshUntil) ? answer.freshUntil : now + config.ttlMs,
        stale: answer.error !== undefined,
        ...(answer.error !== undefined ? { staleBecause: answer.error } : {}),
        hasMore,
        warnings: [],
      };
    },
  };
}

/** The last day a snapshot may sum: the latest complete day, or with `as_of` the last day complete before its UTC day. */
function anchorDay(query: NetflowsQuery, now: number): number {
  const latestDay = latestCompleteDay(now);
  return query.asOf === undefined ? latestDay : Math.min(latestDay, latestCompleteDay(query.asOf));
}

/** An asset's rows are on its chain: with `chain=`, only the assets on the chains asked for. */
function onChains(query: NetflowsQuery, data: readonly AssetDays[]): readonly AssetDays[] {
  if (!query.chains) return data;
  return data.filter((d) => {
    const chain = chainOfAsset(d.asset);
    return chain !== null && query.chains!.includes(chain);
  });
}

/**
 * Step three: the days as records, daily rows for a series (only the first `rowsNeeded` in
 * the query's order, when the page needs no more), sums over the window ending at
 * `anchorDay` for a snapshot; and as of when (over every asset, `chain=` or not).
 */
function recordsOf(query: NetflowsQuery, data: readonly AssetDays[], upstreamQuery: AssetMetricsQuery, anchorDay: number, rowsNeeded: number): { records: NetflowRecord[]; asOf: number; hasMore: boolean } {
  const { exchanges, startDay, endDay } = upstreamQuery;
  const shown = onChains(query, data);
  if (query.mode === 'series') {
    const asOf = data.length > 0 ? endDay : 0;
    if (!Number.isFinite(rowsNeeded)) return { records: shown.flatMap((d) => seriesRecords(d, exchanges, startDay, endDay)), asOf, hasMore: false };
    const page = seriesPage(shown, exchanges, startDay, endDay, query.sort, rowsNeeded);
    return { records: page.records, asOf, hasMore: page.total > page.records.length };
  }
  const window = query.window;
  if (window === '1h') return { records: [], asOf: 0, hasMore: false };
  const asOf = Math.max(0, ...data.map((d) => latestDayWithData(d, anchorDay) ?? 0));
  return { records: shown.flatMap((d) => snapshotRecords(d, exchanges, window, anchorDay)), asOf, hasMore: false };
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
    return { assets, exchanges: sortedExchanges, startDay: query.start, endDay: query.end };
  }
  return { assets, exchanges: sortedExchanges, startDay: latestDay - (SNAPSHOT_FETCH_DAYS - 1) * DAY_MS, endDay: latestDay };
}
