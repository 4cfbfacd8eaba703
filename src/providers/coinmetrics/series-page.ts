import type { NetflowRecord, SortKey } from '../../model.js';
import { firstInOrder, orderKeys } from '../../netflows/merge.js';
import { DAY_MS } from '../../time.js';
import { chainOfAsset, type Exchange } from './catalog.js';
import { NO_DATA, seriesRecord, type AssetDays, type DayCell } from './normalize.js';

/** The first rows of a series in the query's order, as records, and how many rows there were in all. */
export interface SeriesPage {
  records: NetflowRecord[];
  total: number;
}

/** An asset and one exchange the upstream offers it on: `days` consecutive rows of the series. */
interface Pair {
  data: AssetDays;
  exchange: Exchange;
  /** The asset's cells of each day of the span (a day's key is looked up once per asset, not per row). */
  cells: (Record<string, DayCell> | undefined)[];
}

/** The fields Coin Metrics series rows differ in, one number per row: strings by rank, days by time, NaN for null. */
type Columns = Record<'net_flow_usd' | 'net_flow_native' | 'asset' | 'entity' | 'chain' | 'period_start', Float64Array>;

/**
 * The rows seriesRecords would make, ordered as compareRecords orders records, but compared
 * as numbers in columns, and only the first `count` made into records: a warm question over
 * a long span has thousands of rows and shows a hundred. Every row differs from the others in
 * entity, asset or day, so no two are equal and no tie is left to break.
 */
export function seriesPage(assetDays: readonly AssetDays[], exchanges: readonly Exchange[], startDay: number, endDay: number, sort: readonly SortKey[], count: number): SeriesPage {
  const days = endDay < startDay ? 0 : (endDay - startDay) / DAY_MS + 1;
  const pairs: Pair[] = [];
  for (const data of assetDays) {
    const cells = Array.from({ length: days }, (_, d) => data.days[startDay + d * DAY_MS]);
    for (const exchange of exchanges) if (data.supported.includes(exchange.slug)) pairs.push({ data, exchange, cells });
  }
  const total = pairs.length * days;
  const columns = columnsOf(pairs, startDay, days);
  const first = firstInOrder(Array.from({ length: total }, (_, i) => i), rowOrder(columns, sort), count);
  const records = first.map((i) => {
    const { data, exchange, cells } = pairs[Math.floor(i / days)]!;
    const d = i % days;
    return seriesRecord(data.asset, exchange, startDay + d * DAY_MS, cells[d]?.[exchange.slug] ?? NO_DATA);
  });
  return { records, total };
}

function columnsOf(pairs: readonly Pair[], startDay: number, days: number): Columns {
  const assetRank = ranks(pairs.map((p) => p.data.asset));
  const entityRank = ranks(pairs.map((p) => p.exchange.slug));
  const chainRank = ranks(pairs.map((p) => chainOfAsset(p.data.asset)));
  const size = pairs.length * days;
  const columns: Columns = {
    net_flow_usd: new Float64Array(size),
    net_flow_native: new Float64Array(size),
    asset: new Float64Array(size),
    entity: new Float64Array(size),
    chain: new Float64Array(size),
    period_start: new Float64Array(size),
  };
  pairs.forEach(({ data, exchange, cells }, p) => {
    const asset = assetRank.get(data.asset)!;
    const entity = entityRank.get(exchange.slug)!;
    const chain = chainRank.get(chainOfAsset(data.asset)) ?? NaN;
    for (let d = 0, i = p * days; d < days; d++, i++) {
      const cell = cells[d]?.[exchange.slug] ?? NO_DATA;
      columns.net_flow_usd[i] = cell.usd ?? NaN;
      columns.net_flow_native[i] = cell.native ?? NaN;
      columns.asset[i] = asset;
      columns.entity[i] = entity;
      columns.chain[i] = chain;
      columns.period_start[i] = startDay + d * DAY_MS;
    }
  });
  return columns;
}

/** Each distinct string's place in the order compareRecords puts strings in; null has none. */
function ranks(values: readonly (string | null)[]): Map<string | null, number> {
  const distinct = [...new Set(values)].filter((v): v is string => v !== null).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return new Map(distinct.map((value, rank) => [value, rank]));
}

/**
 * compareRecords' keys (the caller's, then the tie-breakers) over the columns. A field that
 * is the same in every Coin Metrics row (source, token_address, and Nansen's market_cap_usd
 * and trader_count, null here) decides nothing and is left out.
 */
function rowOrder(columns: Columns, sort: readonly SortKey[]): (i: number, j: number) => number {
  const keys = orderKeys(sort)
    .filter(({ field }) => field in columns)
    .map(({ field, descending }) => ({ values: columns[field as keyof Columns], descending }));
  return (i, j) => {
    for (const { values, descending } of keys) {
      const order = compareNumbers(values[i]!, values[j]!, descending);
      if (order !== 0) return order;
    }
    return 0;
  };
}

/** compareValues (merge.ts) with NaN for null: equal values first, then null last whatever the direction. */
function compareNumbers(a: number, b: number, descending: boolean): number {
  if (a === b) return 0;
  const aNull = Number.isNaN(a);
  const bNull = Number.isNaN(b);
  if (aNull || bNull) return aNull && bNull ? 0 : aNull ? 1 : -1;
  return a < b !== descending ? -1 : 1;
}
