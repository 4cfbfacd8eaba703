// The leaderboard table. Sorting is the gateway's own (`sort`), so a sorted page is the top of the
// whole answer, not a reshuffle of the rows already here.

import { el } from './dom.js';
import type { NetflowRecord } from './model.js';

interface Column {
  title: string;
  /** The gateway's sort field, for a sortable column. */
  sort?: string;
  /** Text columns sort ascending first, numbers descending. */
  numeric?: boolean;
  /** Left out on a narrow screen. */
  wide?: boolean;
  cell(row: NetflowRecord): HTMLTableCellElement;
}

export const DEFAULT_SORT = '-net_flow_usd';

const usd = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0, signDisplay: 'exceptZero' });
const native = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 6, signDisplay: 'exceptZero' });
const compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });
const count = new Intl.NumberFormat('en-US');

const COLUMNS: Column[] = [
  { title: 'Entity', sort: 'entity', cell: (r) => twoLines(r.entity, r.source) },
  { title: 'Asset', sort: 'asset', cell: (r) => twoLines(r.asset, r.chain ?? 'chain unknown') },
  { title: 'Period', wide: true, cell: (r) => twoLines(r.window, `${minute(r.period_start)} to ${minute(r.period_end)} UTC`) },
  { title: 'Net flow, USD', sort: 'net_flow_usd', numeric: true, cell: (r) => number('net_flow_usd', r.net_flow_usd, usd) },
  { title: 'Net flow, native units', sort: 'net_flow_native', numeric: true, wide: true, cell: (r) => number('net_flow_native', r.net_flow_native, native) },
  { title: 'Market cap, USD', sort: 'market_cap_usd', numeric: true, wide: true, cell: (r) => number('market_cap_usd', r.market_cap_usd, compact) },
  { title: 'Traders', sort: 'trader_count', numeric: true, wide: true, cell: (r) => number('trader_count', r.trader_count, count) },
];

export function renderLeaderboard(table: HTMLTableElement, rows: readonly NetflowRecord[], sort: string, onSort: (sort: string) => void): void {
  const active = sort || DEFAULT_SORT;
  const header = el('tr', {}, ...COLUMNS.map((c) => headerCell(c, active, onSort)));
  const body = rows.length > 0 ? rows.map(rowOf) : [el('tr', {}, el('td', { colspan: String(COLUMNS.length) }, 'No rows for this question.'))];
  table.replaceChildren(...(table.caption ? [table.caption] : []), el('thead', {}, header), el('tbody', {}, ...body));
}

function headerCell(column: Column, active: string, onSort: (sort: string) => void): HTMLTableCellElement {
  const classes = [column.numeric ? 'num' : '', column.wide ? 'wide' : ''].filter(Boolean).join(' ') || undefined;
  if (!column.sort) return el('th', { scope: 'col', class: classes }, column.title);
  const field = column.sort;
  const direction = active === field ? 'ascending' : active === `-${field}` ? 'descending' : undefined;
  const next = direction === undefined ? (column.numeric ? `-${field}` : field) : direction === 'ascending' ? `-${field}` : field;
  const button = el('button', { type: 'button', 'data-sort': field }, column.title, el('span', { class: 'arrow', 'aria-hidden': 'true' }, arrow(direction)));
  button.addEventListener('click', () => onSort(next));
  return el('th', { scope: 'col', class: classes, 'aria-sort': direction }, button);
}

function arrow(direction: 'ascending' | 'descending' | undefined): string {
  return direction === 'ascending' ? ' ▲' : direction === 'descending' ? ' ▼' : ' ↕';
}

function rowOf(row: NetflowRecord): HTMLTableRowElement {
  const attributes = { 'data-source': row.source, 'data-entity': row.entity, 'data-asset': row.asset, 'data-chain': row.chain ?? '', 'data-token-address': row.token_address ?? '' };
  return el('tr', attributes, ...COLUMNS.map((c) => {
    const cell = c.cell(row);
    if (c.wide) cell.classList.add('wide');
    return cell;
  }));
}

function minute(time: string): string {
  return time.slice(0, 16).replace('T', ' ');
}

function twoLines(main: string, sub: string): HTMLTableCellElement {
  return el('td', {}, main, el('span', { class: 'sub' }, sub));
}

function number(field: string, value: number | null, format: Intl.NumberFormat): HTMLTableCellElement {
  if (value === null) return el('td', { class: `num none ${field}`, 'data-value': '' }, 'no value');
  return el('td', { class: `num ${field}`, 'data-value': String(value) }, format.format(value));
}
