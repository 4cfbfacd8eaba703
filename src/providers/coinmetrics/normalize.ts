import { UpstreamError } from '../../errors.js';
import { finiteNumber, isRecord } from '../../upstream/response.js';
import { DAY_MS, rfc3339 } from '../../time.js';
import type { NetflowRecord, SnapshotWindow } from '../../model.js';
import { chainOfAsset, nativeMetric, usdMetric, type Exchange } from './catalog.js';

export interface DayCell {
  native: number | null;
  usd: number | null;
}

/**
 * The daily net flows of one asset, in our terms and JSON-safe (it is cached as is).
 * `supported` holds the exchanges whose metrics the upstream offers for the asset; a
 * supported exchange without a cell on a day has no data that day.
 */
export interface AssetDays {
  asset: string;
  supported: string[];
  /** day (00:00 UTC ms) → exchange slug → cell */
  days: Record<number, Record<string, DayCell>>;
}

const WINDOW_DAYS: Record<Exclude<SnapshotWindow, '1h'>, number> = { '24h': 1, '7d': 7, '30d': 30 };

/**
 * Reads `/timeseries/asset-metrics` rows: string values, an absent metric key for an
 * unsupported metric, `null` for no data, `-status` columns ignored, nanosecond times.
 * The only place that knows Coin Metrics' field names.
 */
export function decodeAssetMetrics(rows: readonly unknown[], exchanges: readonly Exchange[]): Map<string, AssetDays> {
  const byAsset = new Map<string, AssetDays>();
  for (const row of rows) {
    if (!isRecord(row) || typeof row.asset !== 'string' || typeof row.time !== 'string') {
      throw new UpstreamError('coinmetrics', 'upstream_malformed', 'a Coin Metrics row has no asset or time');
    }
    const day = parseRowDay(row.time);
    const asset = row.asset.toLowerCase();
    let entry = byAsset.get(asset);
    if (!entry) {
      entry = { asset, supported: [], days: {} };
      byAsset.set(asset, entry);
    }
    for (const exchange of exchanges) {
      const hasNative = nativeMetric(exchange) in row;
      const hasUsd = usdMetric(exchange) in row;
      if (!hasNative && !hasUsd) continue;
      if (!entry.supported.includes(exchange.slug)) entry.supported.push(exchange.slug);
      (entry.days[day] ??= {})[exchange.slug] = {
        native: hasNative ? finiteNumber(row[nativeMetric(exchange)]) : null,
        usd: hasUsd ? finiteNumber(row[usdMetric(exchange)]) : null,
      };
    }
  }
  return byAsset;
}

/** `2026-11-20T00:00:00.000000000Z` → the day's 00:00 UTC in ms; anything else is a malformed answer. */
export function parseRowDay(time: string): number {
  const match = /^(\d{4})-(\d{2})-(\d{2})T00:00:00(?:\.0+)?Z$/.exec(time);
  const ms = match ? Date.UTC(Number(match[1]), Number(match[2]) - 1, Number(match[3])) : NaN;
  if (!Number.isFinite(ms)) {
    throw new UpstreamError('coinmetrics', 'upstream_malformed', 'a Coin Metrics row has a time that is not a whole UTC day');
  }
  return ms;
}

function record(asset: string, exchange: Exchange, window: NetflowRecord['window'], periodStart: string, periodEnd: string, cell: DayCell): NetflowRecord {
  return {
    source: 'coinmetrics',
    entity_type: 'exchange',
    entity: exchange.slug,
    asset,
    chain: chainOfAsset(asset),
    token_address: null,
    window,
    period_start: periodStart,
    period_end: periodEnd,
    net_flow_native: cell.native,
    net_flow_usd: cell.usd,
    market_cap_usd: null,
    trader_count: null,
    token_age_days: null,
    token_sectors: [],
  };
}

export const NO_DATA: DayCell = { native: null, usd: null };

/** The `1d` row of one exchange, asset and day. */
export function seriesRecord(asset: string, exchange: Exchange, day: number, cell: DayCell): NetflowRecord {
  return record(asset, exchange, '1d', rfc3339(day), rfc3339(day + DAY_MS), cell);
}

/** One `1d` row per supported exchange and day from `startDay` to `endDay`, null where a day has no data. */
export function seriesRecords(data: AssetDays, exchanges: readonly Exchange[], startDay: number, endDay: number): NetflowRecord[] {
  // Each day's cells and bounds are looked up once, not once per exchange.
  const dayCells: (Record<string, DayCell> | undefined)[] = [];
  const bounds: string[] = [];
  for (let day = startDay; day <= endDay; day += DAY_MS) {
    dayCells.push(data.days[day]);
    bounds.push(rfc3339(day));
  }
  bounds.push(rfc3339(endDay + DAY_MS));
  const records: NetflowRecord[] = [];
  for (const exchange of exchanges) {
    if (!data.supported.includes(exchange.slug)) continue;
    for (let i = 0; i < dayCells.length; i++) {
      records.push(record(data.asset, exchange, '1d', bounds[i]!, bounds[i + 1]!, dayCells[i]?.[exchange.slug] ?? NO_DATA));
    }
  }
  return records;
}

/**
 * One row per supported exchange with the flow summed over the last N complete days that
 * end at the asset's latest day with data at or before `latestDay`. A day without a value
 * makes the sum null rather than silently short.
 */
export function snapshotRecords(
  data: AssetDays,
  exchanges: readonly Exchange[],
  window: Exclude<SnapshotWindow, '1h'>,
  latestDay: number,
): NetflowRecord[] {
  const anchor = latestDayWithData(data, latestDay);
  if (anchor === undefined) return [];
  const span = WINDOW_DAYS[window];
  const first = anchor - (span - 1) * DAY_MS;
  const records: NetflowRecord[] = [];
  for (const exchange of exchanges) {
    if (!data.supported.includes(exchange.slug)) continue;
    let native: number | null = 0;
    let usd: number | null = 0;
    for (let day = first; day <= anchor; day += DAY_MS) {
      const cell = data.days[day]?.[exchange.slug] ?? NO_DATA;
      native = native === null || cell.native === null ? null : native + cell.native;
      usd = usd === null || cell.usd === null ? null : usd + cell.usd;
    }
    records.push(record(data.asset, exchange, window, rfc3339(first), rfc3339(anchor + DAY_MS), { native: finiteOrNull(native), usd: finiteOrNull(usd) }));
  }
  return records;
}

export function latestDayWithData(data: AssetDays, notAfter: number): number | undefined {
  let latest: number | undefined;
  for (const key in data.days) {
    const day = Number(key);
    if (day > notAfter || (latest !== undefined && day <= latest)) continue;
    if (hasData(data.days[day]!)) latest = day;
  }
  return latest;
}

function hasData(cells: Record<string, DayCell>): boolean {
  for (const exchange in cells) {
    const cell = cells[exchange]!;
    if (cell.native !== null || cell.usd !== null) return true;
  }
  return false;
}

function finiteOrNull(n: number | null): number | null {
  return n !== null && Number.isFinite(n) ? n : null;
}
