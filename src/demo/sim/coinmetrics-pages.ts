// Paging over rows ordered by (asset, time), the API's default sort. Rows are
// addressed by position, never materialised: a page builds only its own rows.
import type { CmAsset } from './coinmetrics-data.js';
import { isoDay } from './coinmetrics-data.js';
import type { PagingFrom } from './coinmetrics-query.js';

/** One asset's daily rows: every day in [firstDay, lastDay] (day numbers; empty when lastDay < firstDay). */
export interface AssetSeries {
  asset: CmAsset;
  /** The requested metrics this asset supports, sorted as they appear in a row. */
  metrics: string[];
  firstDay: number;
  lastDay: number;
}

export interface RowKey {
  asset: string;
  day: number;
}

export interface Page {
  rows: Array<{ series: AssetSeries; day: number }>;
  /** Key to continue from, when more rows remain in the paging direction. */
  next: RowKey | undefined;
}

export function selectPage(series: readonly AssetSeries[], pageSize: number, pagingFrom: PagingFrom, after: RowKey | undefined): Page {
  const total = series.reduce((sum, s) => sum + rowCount(s), 0);
  if (pagingFrom === 'start') {
    const from = after ? rowsBefore(series, after, true) : 0;
    const to = Math.min(from + pageSize, total);
    return { rows: rowsBetween(series, from, to), next: to < total ? keyAt(series, to - 1) : undefined };
  }
  const to = after ? rowsBefore(series, after, false) : total;
  const from = Math.max(0, to - pageSize);
  return { rows: rowsBetween(series, from, to), next: from > 0 ? keyAt(series, from) : undefined };
}

/** "0." then unpadded base64 of each part of the key, comma-separated, as the real tokens look. */
export function encodePageToken(key: RowKey): string {
  const parts = [key.asset, `${isoDay(key.day)}T00:00:00Z`];
  return `0.${parts.map((part) => Buffer.from(part).toString('base64url')).join(',')}`;
}

export function decodePageToken(token: string): RowKey | null {
  if (!token.startsWith('0.')) return null;
  const parts = token.slice(2).split(',').map((part) => Buffer.from(part, 'base64url').toString('utf8'));
  const [asset, time] = parts;
  if (parts.length !== 2 || !asset || !time || !/^\d{4}-\d{2}-\d{2}T00:00:00Z$/.test(time)) return null;
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? null : { asset, day: ms / 86_400_000 };
}

function rowCount(series: AssetSeries): number {
  return Math.max(0, series.lastDay - series.firstDay + 1);
}

/** How many rows sort before `key` (or at it, when `inclusive`). */
function rowsBefore(series: readonly AssetSeries[], key: RowKey, inclusive: boolean): number {
  let count = 0;
  for (const s of series) {
    const id = s.asset.id;
    if (id < key.asset) count += rowCount(s);
    else if (id === key.asset) count += clamp(key.day - s.firstDay + (inclusive ? 1 : 0), 0, rowCount(s));
  }
  return count;
}

function rowsBetween(series: readonly AssetSeries[], from: number, to: number): Page['rows'] {
  const rows: Page['rows'] = [];
  let offset = 0;
  for (const s of series) {
    const count = rowCount(s);
    for (let i = Math.max(from - offset, 0); i < Math.min(to - offset, count); i++) rows.push({ series: s, day: s.firstDay + i });
    offset += count;
  }
  return rows;
}

function keyAt(series: readonly AssetSeries[], index: number): RowKey | undefined {
  const [row] = rowsBetween(series, index, index + 1);
  return row ? { asset: row.series.asset.id, day: row.day } : undefined;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(Math.max(value, min), max);
}
