import { approximateSize, type CacheEntry, type UpstreamCache } from '../../cache/upstream-cache.js';
import { staleReason, type StaleReason } from '../../errors.js';
import type { CacheOutcome } from '../../model.js';
import { DAY_MS, isoDay } from '../../time.js';
import type { Exchange } from './catalog.js';
import type { AssetMetricsQuery } from './client.js';
import type { AssetDays } from './normalize.js';

/** The daily data of some assets over whole days `startDay`..`endDay`, as one cache entry holds it. */
export interface DaySpan {
  startDay: number;
  endDay: number;
  assets: Record<string, AssetDays>;
}

export interface DaysAnswer {
  byAsset: Map<string, AssetDays>;
  outcome: CacheOutcome;
  /** Earliest freshness and storage time of the entries used (ms). */
  freshUntil: number;
  storedAt: number;
  /** Set when stale data stands in for a failed fetch: why. */
  error?: StaleReason;
}

/** What a span the cache lacks was loaded from. */
export interface DaysFetched {
  byAsset: Map<string, AssetDays>;
  /** False when the history store held every day, so no upstream call was made. */
  upstream: boolean;
}

export interface DayCacheOptions {
  cache: UpstreamCache;
  /** The only I/O: one question, decoded, from the upstream (and the history store before it, see `storeTier`). */
  fetch: (query: AssetMetricsQuery) => Promise<DaysFetched>;
  /** Freshness of a span that holds the latest complete day, and of one that ends before it (ms). */
  latestTtlMs: number;
  settledTtlMs: number;
}

/**
 * Coin Metrics data is daily and settled days do not change, so entries are kept by
 * (exchange set, assets, day span) and a question is answered from every held entry that
 * covers its days; only the days no entry covers freshly are fetched, in one span. A
 * fetched span that reaches the latest complete day is stored as two entries, so the
 * settled days keep the long TTL and only the latest day is refetched when it expires.
 */
export class CoinMetricsDayCache {
  /** `asset|exchange codes` → keys of entries holding that asset (pruned lazily). */
  private readonly index = new Map<string, Set<string>>();

  constructor(private readonly options: DayCacheOptions) {
    options.cache.onDrop((key) => {
      if (!key.startsWith('coinmetrics|')) return;
      for (const [indexKey, keys] of this.index) {
        keys.delete(key);
        if (keys.size === 0) this.index.delete(indexKey);
      }
    });
  }

  async days(assets: readonly string[], exchanges: readonly Exchange[], startDay: number, endDay: number, latestDay: number): Promise<DaysAnswer> {
    const exchangeKey = exchanges.map((e) => e.code).join(',');
    const plan = this.plan(assets, exchangeKey, startDay, endDay);
    if (plan.uncovered.length === 0) return this.assemble(assets, exchangeKey, startDay, endDay, 'hit');

    const query: AssetMetricsQuery = {
      assets: plan.uncoveredAssets,
      exchanges,
      startDay: Math.min(...plan.uncovered),
      endDay: Math.max(...plan.uncovered),
    };
    const key = spanKey(exchangeKey, query.assets, query.startDay, query.endDay);
    // A load of this call that found every day in the history store made no upstream call: a hit, not a miss.
    let upstream: boolean | undefined;
    const load = () => this.load(key, exchangeKey, query, latestDay, (called) => (upstream = called));
    if (plan.allRevalidatable) {
      this.options.cache.refreshInBackground(key, load, plan.staleKeys);
      return this.assemble(assets, exchangeKey, startDay, endDay, 'stale');
    }
    let fetched: boolean | undefined;
    try {
      ({ fetched } = await this.options.cache.load(key, load));
    } catch (error) {
      this.options.cache.markFailed(plan.staleKeys, error);
      if (!plan.allUsableStale) throw error;
      return { ...this.assemble(assets, exchangeKey, startDay, endDay, 'stale'), error: staleReason(error) };
    }
    // Another replica may have loaded the span: learn of it and of its settled half.
    this.remember(key, exchangeKey, query.assets);
    if (await this.options.cache.adopt(`${key}#settled`)) this.remember(`${key}#settled`, exchangeKey, query.assets);
    return this.assemble(assets, exchangeKey, startDay, endDay, fetched && upstream !== false ? 'miss' : 'hit');
  }

  /** The rows (asset × day) a question would fetch now: those of the one span no fresh entry covers. */
  rowsToFetch(assets: readonly string[], exchanges: readonly Exchange[], startDay: number, endDay: number): number {
    const { uncovered, uncoveredAssets } = this.plan(assets, exchanges.map((e) => e.code).join(','), startDay, endDay);
    if (uncovered.length === 0) return 0;
    return uncoveredAssets.length * ((Math.max(...uncovered) - Math.min(...uncovered)) / DAY_MS + 1);
  }

  /** Which days lack a fresh entry, whether stale entries could stand in for them, and which. */
  private plan(assets: readonly string[], exchangeKey: string, startDay: number, endDay: number) {
    const uncovered = new Set<number>();
    const uncoveredAssets: string[] = [];
    const staleKeys = new Set<string>();
    let allRevalidatable = true;
    let allUsableStale = true;
    for (const asset of assets) {
      let assetUncovered = false;
      const held = this.held(asset, exchangeKey);
      for (let day = startDay; day <= endDay; day += DAY_MS) {
        const best = bestCover(held, day);
        const usability = best ? this.options.cache.usability(best.entry) : 'expired';
        if (usability === 'fresh') continue;
        uncovered.add(day);
        assetUncovered = true;
        if (best) staleKeys.add(best.key);
        if (usability !== 'revalidate') allRevalidatable = false;
        if (usability === 'expired') allUsableStale = false;
      }
      if (assetUncovered) uncoveredAssets.push(asset);
    }
    return { uncovered: [...uncovered], uncoveredAssets, staleKeys: [...staleKeys], allRevalidatable, allUsableStale };
  }

  private async load(key: string, exchangeKey: string, query: AssetMetricsQuery, latestDay: number, onFetched: (upstream: boolean) => void) {
    const { byAsset, upstream } = await this.options.fetch(query);
    onFetched(upstream);
    const part = (startDay: number, endDay: number): DaySpan => ({
      startDay,
      endDay,
      assets: Object.fromEntries(query.assets.map((asset) => [asset, slice(byAsset.get(asset), asset, startDay, endDay)])),
    });
    const sized = (span: DaySpan, freshForMs: number) => ({ value: span, freshForMs, sizeBytes: approximateSize(span) });
    this.remember(key, exchangeKey, query.assets);
    if (query.endDay < latestDay) return sized(part(query.startDay, query.endDay), this.options.settledTtlMs);
    if (query.startDay < latestDay) {
      const settledKey = `${key}#settled`;
      this.options.cache.put(settledKey, sized(part(query.startDay, latestDay - DAY_MS), this.options.settledTtlMs));
      this.remember(settledKey, exchangeKey, query.assets);
    }
    return sized(part(Math.max(query.startDay, latestDay), query.endDay), this.options.latestTtlMs);
  }

  private remember(key: string, exchangeKey: string, assets: readonly string[]): void {
    for (const asset of assets) {
      const indexKey = `${asset}|${exchangeKey}`;
      let keys = this.index.get(indexKey);
      if (!keys) this.index.set(indexKey, (keys = new Set()));
      keys.add(key);
    }
  }

  /** The entries held for an asset (looked up once per question, then searched day by day). */
  private held(asset: string, exchangeKey: string): HeldEntry[] {
    const held: HeldEntry[] = [];
    for (const key of this.index.get(`${asset}|${exchangeKey}`) ?? []) {
      const entry = this.options.cache.peek<DaySpan>(key);
      if (entry?.value.assets[asset]) held.push({ key, entry });
    }
    return held;
  }

  private assemble(assets: readonly string[], exchangeKey: string, startDay: number, endDay: number, outcome: CacheOutcome): DaysAnswer {
    const byAsset = new Map<string, AssetDays>();
    let freshUntil = Number.POSITIVE_INFINITY;
    let storedAt = Number.POSITIVE_INFINITY;
    let error: StaleReason | undefined;
    for (const asset of assets) {
      const merged: AssetDays = { asset, supported: [], days: {} };
      const held = this.held(asset, exchangeKey);
      const used = new Set<CacheEntry<DaySpan>>();
      for (let day = startDay; day <= endDay; day += DAY_MS) {
        const entry = bestCover(held, day)?.entry;
        if (!entry) continue;
        used.add(entry);
        const cells = entry.value.assets[asset]!.days[day];
        if (cells) merged.days[day] = cells;
      }
      for (const entry of used) {
        // An entry whose refresh failed makes the whole answer stale, whatever else is fresh.
        if (this.options.cache.usability(entry) !== 'fresh') error ??= entry.refreshFailed;
        freshUntil = Math.min(freshUntil, entry.freshUntil);
        storedAt = Math.min(storedAt, entry.storedAt);
        for (const slug of entry.value.assets[asset]!.supported) if (!merged.supported.includes(slug)) merged.supported.push(slug);
      }
      if (used.size > 0 && merged.supported.length > 0) byAsset.set(asset, merged);
    }
    return { byAsset, outcome: error ? 'stale' : outcome, freshUntil, storedAt, ...(error ? { error } : {}) };
  }
}

interface HeldEntry {
  key: string;
  entry: CacheEntry<DaySpan>;
}

/** The held entry covering `day` that stays fresh longest. */
function bestCover(held: readonly HeldEntry[], day: number): HeldEntry | undefined {
  let best: HeldEntry | undefined;
  for (const candidate of held) {
    const span = candidate.entry.value;
    if (day < span.startDay || day > span.endDay) continue;
    if (!best || candidate.entry.freshUntil > best.entry.freshUntil) best = candidate;
  }
  return best;
}

function spanKey(exchangeKey: string, assets: readonly string[], startDay: number, endDay: number): string {
  return `coinmetrics|${exchangeKey}|${assets.join(',')}|${isoDay(startDay)}..${isoDay(endDay)}`;
}

/** The part of one asset's data inside a day span; an asset the upstream did not return holds nothing. */
function slice(data: AssetDays | undefined, asset: string, startDay: number, endDay: number): AssetDays {
  const days: AssetDays['days'] = {};
  for (const [key, cells] of Object.entries(data?.days ?? {})) {
    const day = Number(key);
    if (day >= startDay && day <= endDay) days[day] = cells;
  }
  return { asset, supported: data?.supported ?? [], days };
}
