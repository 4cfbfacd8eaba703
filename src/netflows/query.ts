import { echo, invalidParameter } from '../errors.js';
import { COHORT_BY_ENTITY } from '../providers/nansen/catalog.js';
import { EXCHANGE_BY_SLUG } from '../providers/coinmetrics/catalog.js';
import {
  SNAPSHOT_WINDOWS,
  SORT_FIELDS,
  SOURCES,
  type NansenFilters,
  type NetflowsQuery,
  type NumberRange,
  type SnapshotWindow,
  type SortField,
  type SortKey,
  type SourceId,
} from '../model.js';
import { DAY_MS, isoDay, latestCompleteDay, parseDateOrTime, utcDayStart } from '../time.js';
import { decodeCursor } from './cursor.js';

/** Parameters only Nansen can apply; naming one takes Coin Metrics out of the answer. */
export const NANSEN_ONLY_PARAMS = [
  'token_address',
  'sector',
  'include_stablecoins',
  'include_native_tokens',
  'min_market_cap_usd',
  'max_market_cap_usd',
  'min_trader_count',
  'max_trader_count',
  'min_token_age_days',
  'max_token_age_days',
] as const;

/** Every query parameter /netflows knows; anything else is a 400. */
export const NETFLOWS_PARAMS = [
  'source',
  'window',
  'interval',
  'start',
  'end',
  'asset',
  'entity',
  'chain',
  ...NANSEN_ONLY_PARAMS,
  'sort',
  'limit',
  'cursor',
  'format',
] as const;

export const MAX_SERIES_DAYS = 366;
export const DEFAULT_SERIES_DAYS = 30;
export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;
const MAX_LIST_ITEMS = 100;
/** Nansen's sectors are words ("DeFi Lending (Money Markets)", "Layer 1"); nothing that could end a header or a quoted string. */
const SECTOR = /^[\p{L}\p{N} ()&'./+_:-]{1,100}$/u;

export const DEFAULT_SNAPSHOT_SORT: readonly SortKey[] = [{ field: 'net_flow_usd', descending: true }];
export const DEFAULT_SERIES_SORT: readonly SortKey[] = [
  { field: 'period_start', descending: false },
  { field: 'entity', descending: false },
  { field: 'asset', descending: false },
];

export type RawQuery = Record<string, string | string[] | undefined>;

export interface ParsedQuery {
  query: NetflowsQuery;
  /** Identifies the question (every parameter but `cursor` and `format`); cursors are bound to it. */
  fingerprint: string;
  /** Nansen-only parameters the caller set, by name. */
  nansenOnlyParams: string[];
  warnings: string[];
}

/** Turns the raw query string into a NetflowsQuery, or throws a 400 naming the parameter. */
export function parseNetflowsQuery(raw: RawQuery, now: number): ParsedQuery {
  const params = new Params(raw);
  const warnings: string[] = [];

  const interval = params.oneOf('interval', ['1d']);
  const windowValue = params.oneOf('window', SNAPSHOT_WINDOWS);
  if (interval !== undefined && windowValue !== undefined) {
    throw invalidParameter('interval', '`window` and `interval` are exclusive: `window` asks for a snapshot, `interval` for a daily series');
  }
  const mode = interval === undefined ? 'snapshot' : 'series';
  const window: SnapshotWindow = windowValue ?? '24h';

  const latestDay = latestCompleteDay(now);
  let endDay = latestDay;
  let startDay = latestDay - DEFAULT_SERIES_DAYS * DAY_MS;
  if (mode === 'snapshot') {
    for (const name of ['start', 'end'] as const) {
      if (params.has(name)) throw invalidParameter(name, `\`${name}\` applies to series mode only; add interval=1d`);
    }
  } else {
    const end = params.day('end');
    const start = params.day('start');
    if (end !== undefined) endDay = end;
    if (endDay > latestDay) {
      warnings.push(`end ${isoDay(endDay)} is after the latest complete day; the series ends at ${isoDay(latestDay)}`);
      endDay = latestDay;
    }
    startDay = start ?? endDay - DEFAULT_SERIES_DAYS * DAY_MS;
    if (startDay > endDay) {
      throw invalidParameter('start', `start ${isoDay(startDay)} is after end ${isoDay(endDay)}`);
    }
    if (endDay - startDay > MAX_SERIES_DAYS * DAY_MS) {
      throw invalidParameter('start', `start and end may be at most ${MAX_SERIES_DAYS} days apart`);
    }
  }

  const sources = params.list('source', (s) => (SOURCES as readonly string[]).includes(s), 'coinmetrics or nansen') as
    | SourceId[]
    | undefined;
  const assets = params.list('asset', (s) => /^[a-z0-9][a-z0-9_.-]{0,63}$/.test(s), 'asset ids such as btc or usdt_eth', true);
  const entities = params.list(
    'entity',
    (s) => EXCHANGE_BY_SLUG.has(s) || COHORT_BY_ENTITY.has(s),
    'exchange slugs (binance, coinbase, …) or smart_money[:label]; see /catalog',
    true,
  );
  const chains = params.list('chain', (s) => /^[a-z0-9_]{1,32}$/.test(s), 'chain names such as ethereum or solana', true);

  const nansen: NansenFilters = {};
  const tokenAddresses = params.list('token_address', (s) => /^[A-Za-z0-9]{1,128}$/.test(s), 'token contract addresses');
  if (tokenAddresses) nansen.tokenAddresses = tokenAddresses.map((a) => (/^0x[0-9a-f]+$/i.test(a) ? a.toLowerCase() : a));
  const sectors = params.list('sector', (s) => SECTOR.test(s), "Nansen token sectors: letters, digits, spaces and ( ) & ' . / + - _ :");
  if (sectors) nansen.sectors = sectors;
  const includeStablecoins = params.boolean('include_stablecoins');
  if (includeStablecoins !== undefined) nansen.includeStablecoins = includeStablecoins;
  const includeNativeTokens = params.boolean('include_native_tokens');
  if (includeNativeTokens !== undefined) nansen.includeNativeTokens = includeNativeTokens;
  const marketCapUsd = params.range('market_cap_usd', false);
  if (marketCapUsd) nansen.marketCapUsd = marketCapUsd;
  const traderCount = params.range('trader_count', true);
  if (traderCount) nansen.traderCount = traderCount;
  const tokenAgeDays = params.range('token_age_days', true);
  if (tokenAgeDays) nansen.tokenAgeDays = tokenAgeDays;

  const sort = params.sort(mode === 'snapshot' ? DEFAULT_SNAPSHOT_SORT : DEFAULT_SERIES_SORT);
  const limit = params.integer('limit', 1, MAX_LIMIT) ?? DEFAULT_LIMIT;
  const cursorText = params.string('cursor');
  params.string('format');

  const query: NetflowsQuery = {
    mode,
    window,
    startDay: mode === 'series' ? startDay : 0,
    endDay: mode === 'series' ? endDay : 0,
    sources,
    assets,
    entities,
    chains,
    nansen,
    sort,
    limit,
    offset: 0,
  };
  const fingerprint = fingerprintOf(query);
  if (cursorText !== undefined) query.offset = decodeCursor(cursorText, fingerprint);
  return {
    query,
    fingerprint,
    nansenOnlyParams: NANSEN_ONLY_PARAMS.filter((name) => params.has(name)),
    warnings,
  };
}

/** A stable text for the question: list order and duplicates do not change it. */
export function fingerprintOf(query: NetflowsQuery): string {
  const sorted = (list: readonly string[] | undefined) => (list ? [...list].sort() : null);
  return JSON.stringify([
    query.mode,
    query.mode === 'snapshot' ? query.window : [query.startDay, query.endDay],
    sorted(query.sources),
    sorted(query.assets),
    sorted(query.entities),
    sorted(query.chains),
    sorted(query.nansen.tokenAddresses),
    sorted(query.nansen.sectors),
    query.nansen.includeStablecoins ?? null,
    query.nansen.includeNativeTokens ?? null,
    query.nansen.marketCapUsd ?? null,
    query.nansen.traderCount ?? null,
    query.nansen.tokenAgeDays ?? null,
    query.sort.map((k) => (k.descending ? '-' : '') + k.field),
    query.limit,
  ]);
}

class Params {
  constructor(private readonly raw: RawQuery) {
    for (const name of Object.keys(raw)) {
      if (!(NETFLOWS_PARAMS as readonly string[]).includes(name)) {
        const shown = echo(name);
        throw invalidParameter(shown, `unknown parameter \`${shown}\`; known parameters are ${NETFLOWS_PARAMS.join(', ')}`);
      }
    }
  }

  has(name: string): boolean {
    return this.raw[name] !== undefined;
  }

  string(name: string): string | undefined {
    const value = this.raw[name];
    if (value === undefined) return undefined;
    if (Array.isArray(value)) {
      throw invalidParameter(name, `\`${name}\` is given more than once; give it once (lists are comma-separated)`);
    }
    if (value === '') throw invalidParameter(name, `\`${name}\` is empty`);
    return value;
  }

  oneOf<T extends string>(name: string, allowed: readonly T[]): T | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    if (!(allowed as readonly string[]).includes(value)) {
      throw invalidParameter(name, `\`${name}\` must be one of ${allowed.join(', ')}`);
    }
    return value as T;
  }

  list(name: string, valid: (item: string) => boolean, expected: string, lowerCase = false): string[] | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    const items = value.split(',').map((s) => (lowerCase ? s.trim().toLowerCase() : s.trim()));
    if (items.some((s) => s === '')) throw invalidParameter(name, `\`${name}\` has an empty item`);
    if (items.length > MAX_LIST_ITEMS) throw invalidParameter(name, `\`${name}\` may list at most ${MAX_LIST_ITEMS} items`);
    const bad = items.find((s) => !valid(s));
    if (bad !== undefined) throw invalidParameter(name, `\`${name}\` has an unknown value "${echo(bad)}"; expected ${expected}`);
    return [...new Set(items)];
  }

  boolean(name: string): boolean | undefined {
    const value = this.oneOf(name, ['true', 'false']);
    return value === undefined ? undefined : value === 'true';
  }

  integer(name: string, min: number, max: number): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!/^\d{1,7}$/.test(value) || n < min || n > max) {
      throw invalidParameter(name, `\`${name}\` must be a whole number from ${min} to ${max}`);
    }
    return n;
  }

  number(name: string, whole: boolean): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    const n = Number(value);
    const pattern = whole ? /^-?\d{1,15}$/ : /^-?\d{1,20}(\.\d{1,20})?([eE][+-]?\d{1,3})?$/;
    if (!pattern.test(value) || !Number.isFinite(n)) {
      throw invalidParameter(name, `\`${name}\` must be a ${whole ? 'whole number' : 'number'}`);
    }
    return n;
  }

  range(field: string, whole: boolean): NumberRange | undefined {
    const min = this.number(`min_${field}`, whole);
    const max = this.number(`max_${field}`, whole);
    if (min === undefined && max === undefined) return undefined;
    if (min !== undefined && max !== undefined && min > max) {
      throw invalidParameter(`min_${field}`, `\`min_${field}\` is greater than \`max_${field}\``);
    }
    return { ...(min !== undefined ? { min } : {}), ...(max !== undefined ? { max } : {}) };
  }

  day(name: string): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    const ms = parseDateOrTime(value);
    if (ms === undefined) throw invalidParameter(name, `\`${name}\` must be a date (YYYY-MM-DD) or an RFC 3339 date-time`);
    return utcDayStart(ms);
  }

  sort(fallback: readonly SortKey[]): readonly SortKey[] {
    const value = this.string('sort');
    if (value === undefined) return fallback;
    const keys: SortKey[] = [];
    for (const item of value.split(',').map((s) => s.trim())) {
      const descending = item.startsWith('-');
      const field = descending ? item.slice(1) : item;
      if (!(SORT_FIELDS as readonly string[]).includes(field)) {
        throw invalidParameter('sort', `\`sort\` cannot sort by "${echo(field)}"; fields are ${SORT_FIELDS.join(', ')}, with - for descending`);
      }
      if (keys.some((k) => k.field === field)) throw invalidParameter('sort', `\`sort\` names ${field} twice`);
      keys.push({ field: field as SortField, descending });
    }
    return keys;
  }
}
