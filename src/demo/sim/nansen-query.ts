// Answers a validated netflow request from the simulated data: filter, sort, page.
import {
  NANSEN_DATA_CHAINS,
  NANSEN_TOKENS,
  SMART_MONEY_LABELS,
  cohortFlows,
  hourIndex,
  netflowRow,
  type NansenToken,
  type NetflowRow,
  type SmartMoneyLabel,
} from './nansen-data.js';
import type { NetflowQuery, NumericRange, SortOrder } from './nansen-request.js';

export interface NetflowPage {
  data: NetflowRow[];
  pagination: { page: number; per_page: number; is_last_page: boolean };
}

const DEFAULT_ORDER: SortOrder[] = [{ field: 'net_flow_24h_usd', direction: 'DESC' }];

export function queryNetflows(query: NetflowQuery, nowMs: number, tokens: readonly NansenToken[] = NANSEN_TOKENS): NetflowPage {
  const rows = matchingRows(query, nowMs, tokens);
  sortRows(rows, query.orderBy.length > 0 ? query.orderBy : DEFAULT_ORDER);
  const from = (query.page - 1) * query.perPage;
  return {
    data: rows.slice(from, from + query.perPage),
    pagination: { page: query.page, per_page: query.perPage, is_last_page: from + query.perPage >= rows.length },
  };
}

/** Every row the query selects, unsorted. */
export function matchingRows(query: NetflowQuery, nowMs: number, tokens: readonly NansenToken[] = NANSEN_TOKENS): NetflowRow[] {
  const labels = selectedLabels(query);
  const chains = new Set<string>(query.chains.includes('all') ? NANSEN_DATA_CHAINS : query.chains);
  const hour = hourIndex(nowMs);
  const rows: NetflowRow[] = [];
  for (const token of tokens) {
    if (!chains.has(token.chain) || !tokenMatches(token, query)) continue;
    const flows = cohortFlows(token, labels, hour);
    if (!flows) continue;
    const row = netflowRow(token, flows, nowMs);
    if (rowInRanges(row, query)) rows.push(row);
  }
  return rows;
}

/** No include list (or an empty one) means every label; the exclude list then removes labels. */
export function selectedLabels(query: Pick<NetflowQuery, 'includeLabels' | 'excludeLabels'>): SmartMoneyLabel[] {
  const included = query.includeLabels?.length ? query.includeLabels : SMART_MONEY_LABELS;
  const excluded = query.excludeLabels ?? [];
  return SMART_MONEY_LABELS.filter((label) => included.includes(label) && !excluded.includes(label));
}

function tokenMatches(token: NansenToken, query: NetflowQuery): boolean {
  if (token.stablecoin && !query.includeStablecoins) return false;
  if (token.native && !query.includeNativeTokens) return false;
  if (query.tokenAddresses && !query.tokenAddresses.some((wanted) => sameToken(token, wanted))) return false;
  if (query.sectors?.length && !token.token_sectors.some((sector) => query.sectors?.includes(sector))) return false;
  return true;
}

function sameToken(token: NansenToken, wanted: string): boolean {
  const needle = wanted.toLowerCase();
  return token.token_address.toLowerCase() === needle || token.token_symbol.toLowerCase() === needle;
}

function rowInRanges(row: NetflowRow, query: NetflowQuery): boolean {
  return inRange(row.trader_count, query.traderCount) && inRange(row.token_age_days, query.tokenAgeDays) && inRange(row.market_cap_usd, query.marketCapUsd);
}

function inRange(value: number | null, range: NumericRange | undefined): boolean {
  if (!range) return true;
  if (value === null) return false;
  return (range.min === undefined || value >= range.min) && (range.max === undefined || value <= range.max);
}

/** Applies the orders in turn; nulls sort last in either direction. */
function sortRows(rows: NetflowRow[], orders: readonly SortOrder[]): void {
  rows.sort((a, b) => {
    for (const { field, direction } of orders) {
      const order = compareValues(sortValue(a, field), sortValue(b, field), direction);
      if (order !== 0) return order;
    }
    return 0;
  });
}

function sortValue(row: NetflowRow, field: SortOrder['field']): string | number | null {
  const value = row[field];
  return Array.isArray(value) ? value.join('|') : value;
}

function compareValues(a: string | number | null, b: string | number | null, direction: SortOrder['direction']): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  const ascending = a < b ? -1 : 1;
  return direction === 'ASC' ? ascending : -ascending;
}
