import type { NetflowRecord, NetflowsQuery, WideMeasure } from '../model.js';
import { rfc3339 } from '../time.js';
import { SERIES_RANGES } from './query.js';

/** One bucket of a wide answer: `time` (the bucket's start, RFC 3339), then one number or null per column. */
export type WideRow = Record<string, string | number | null>;

export interface WideTable {
  /** Every series of the whole answer, in name order: the same on every page. */
  columns: string[];
  /** One row per bucket from `start` to `end`, ascending. */
  rows: WideRow[];
  warnings: string[];
}

/**
 * A series' column: `<entity>:<asset>:<chain>`, or `<entity>:<asset>` without a chain. Two
 * Nansen tokens can share a symbol on one chain; then each of them gets `:<token address>`
 * too, so no column ever holds two series.
 */
function columnsOf(records: readonly NetflowRecord[]): Map<string, string> {
  const byName = new Map<string, Set<string>>();
  const nameOf = (r: NetflowRecord) => (r.chain === null ? `${r.entity}:${r.asset}` : `${r.entity}:${r.asset}:${r.chain}`);
  for (const r of records) {
    const name = nameOf(r);
    byName.set(name, (byName.get(name) ?? new Set()).add(seriesOf(r)));
  }
  const columns = new Map<string, string>();
  for (const r of records) {
    const name = nameOf(r);
    columns.set(seriesOf(r), byName.get(name)!.size > 1 && r.token_address !== null ? `${name}:${r.token_address}` : name);
  }
  return columns;
}

function seriesOf(r: NetflowRecord): string {
  return JSON.stringify([r.source, r.entity, r.asset, r.chain, r.token_address]);
}

/**
 * The series' records as a table for charting tools: a row for every bucket of the range
 * (a bucket without data is a row of nulls, so a gap shows as a gap), a column for every
 * series, each cell the record's `measure`. A record's bucket is its `period_start`
 * truncated to the interval (Nansen's periods start when a snapshot was taken).
 */
export function widen(records: readonly NetflowRecord[], query: Pick<NetflowsQuery, 'interval' | 'start' | 'end'>, measure: WideMeasure): WideTable {
  const { stepMs } = SERIES_RANGES[query.interval];
  const columnBySeries = columnsOf(records);
  const columns = [...new Set(columnBySeries.values())].sort();
  const empty = Object.fromEntries(columns.map((c) => [c, null]));
  const rows: WideRow[] = [];
  for (let t = query.start; t <= query.end; t += stepMs) rows.push({ time: rfc3339(t), ...empty });
  const valued = new Set<string>();
  for (const r of records) {
    const index = Math.floor((Date.parse(r.period_start) - query.start) / stepMs);
    const row = rows[index];
    const column = columnBySeries.get(seriesOf(r))!;
    const value = r[measure];
    if (row === undefined || value === null) continue;
    // A series has one record per bucket; should a source send two, the first (in sort order) stands.
    if (row[column] === null) row[column] = value;
    valued.add(column);
  }
  const empties = columns.filter((c) => !valued.has(c));
  const warnings = empties.length > 0 ? [`${empties.length} of ${columns.length} columns have no ${measure} in the range (${empties.slice(0, 5).join(', ')}${empties.length > 5 ? ', …' : ''}); their cells are null`] : [];
  return { columns, rows, warnings };
}
