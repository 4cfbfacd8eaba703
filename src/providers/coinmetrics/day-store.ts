import { cellsOf, isSettled } from '../../history/coinmetrics-store.js';
import { HistoryUnavailable } from '../../history/errors.js';
import type { History } from '../../history/history.js';
import type { HeldAssetDays } from '../../history/types.js';
import { DAY_MS, type Clock } from '../../time.js';
import type { AssetMetricsQuery } from './client.js';
import type { DaysFetched } from './day-cache.js';
import type { AssetDays } from './normalize.js';

export interface StoreTierOptions {
  history: History;
  /** The upstream question, decoded: the only I/O besides the store. */
  fetchUpstream: (query: AssetMetricsQuery) => Promise<Map<string, AssetDays>>;
  clock: Clock;
  /** Hears why the store could not be read (the span is then fetched whole). */
  onStoreAway: (error: HistoryUnavailable) => void;
}

/**
 * The history store as the day cache's second tier. A span the memory cache lacks is read
 * from the store first; settled days it holds for every asked exchange (fetched after a
 * later day had completed) are taken from it, across restarts and replicas; only the span
 * of the remaining days is fetched, for the assets that lack them, and recorded. A store
 * that is away costs nothing but the reuse: the span is fetched as without it.
 */
export function storeTier({ history, fetchUpstream, clock, onStoreAway }: StoreTierOptions): (query: AssetMetricsQuery) => Promise<DaysFetched> {
  return async (query) => {
    const slugs = query.exchanges.map((e) => e.slug);
    const held = await readHeld(history, query, slugs, onStoreAway);
    const lacking = lackingDays(query, held);
    if (lacking.days.length === 0) return { byAsset: settledOnly(query, held), upstream: false };
    const span: AssetMetricsQuery = { ...query, assets: lacking.assets, startDay: Math.min(...lacking.days), endDay: Math.max(...lacking.days) };
    const fetched = await fetchUpstream(span);
    history.recordCoinMetrics(cellsOf(fetched.values(), slugs, span.startDay, span.endDay, clock()));
    return { byAsset: merge(settledOnly(query, held), fetched), upstream: true };
  };
}

async function readHeld(history: History, query: AssetMetricsQuery, slugs: string[], onStoreAway: (error: HistoryUnavailable) => void): Promise<Map<string, HeldAssetDays>> {
  try {
    return await history.coinMetricsDays(query.assets, slugs, query.startDay, query.endDay);
  } catch (error) {
    if (!(error instanceof HistoryUnavailable)) throw error;
    onStoreAway(error);
    return new Map();
  }
}

/** The days some asset lacks settled in the store, and those assets. */
function lackingDays(query: AssetMetricsQuery, held: Map<string, HeldAssetDays>): { assets: string[]; days: number[] } {
  const days = new Set<number>();
  const assets: string[] = [];
  for (const asset of query.assets) {
    const recorded = held.get(asset)?.held ?? {};
    let lacks = false;
    for (let day = query.startDay; day <= query.endDay; day += DAY_MS) {
      const fetchedAt = recorded[day];
      if (fetchedAt !== undefined && isSettled(day, fetchedAt)) continue;
      days.add(day);
      lacks = true;
    }
    if (lacks) assets.push(asset);
  }
  return { assets, days: [...days] };
}

/** Per asset with settled days in the store: those days only (a day still open is fetched again). */
function settledOnly(query: AssetMetricsQuery, held: Map<string, HeldAssetDays>): Map<string, AssetDays> {
  const byAsset = new Map<string, AssetDays>();
  for (const asset of query.assets) {
    const entry = held.get(asset);
    if (!entry) continue;
    const days: AssetDays['days'] = {};
    for (const [key, fetchedAt] of Object.entries(entry.held)) {
      const day = Number(key);
      if (isSettled(day, fetchedAt) && entry.days[day]) days[day] = entry.days[day]!;
    }
    byAsset.set(asset, { asset, supported: [...entry.supported], days });
  }
  return byAsset;
}

/** The store's settled days and the fetched span as one; the fetched values win where both have a day. */
function merge(stored: Map<string, AssetDays>, fetched: Map<string, AssetDays>): Map<string, AssetDays> {
  const byAsset = new Map(stored);
  for (const [asset, data] of fetched) {
    const base = byAsset.get(asset);
    if (!base) {
      byAsset.set(asset, data);
      continue;
    }
    const supported = [...base.supported, ...data.supported.filter((slug) => !base.supported.includes(slug))];
    byAsset.set(asset, { asset, supported, days: { ...base.days, ...data.days } });
  }
  return byAsset;
}
