import { echo, invalidParameter } from '../errors.js';
import {
  SERIES_INTERVALS,
  SHAPES,
  SNAPSHOT_WINDOWS,
  SORT_FIELDS,
  WIDE_MEASURES,
  type Layout,
  type NetflowsQuery,
  type NumberRange,
  type SeriesInterval,
  type SnapshotWindow,
  type SortField,
  type SortKey,
  type SourceId,
} from '../model.js';
import type { ParamReader, Registry, SourceParams } from '../providers/descriptor.js';
import { PROVIDERS } from '../providers/index.js';
import { MAX_LIST_ITEMS } from '../schema/params.js';
import { DAY_MS, isoDay, parseDateOrTime, rfc3339 } from '../time.js';
import { decodeCursor } from './cursor.js';

/** The parameters every question may carry, before and after the sources' own. */
export const COMMON_PARAMS = ['source', 'window', 'interval', 'start', 'end', 'as_of', 'shape', 'measure', 'asset', 'entity', 'chain'] as const;
export const PAGING_PARAMS = ['sort', 'limit', 'cursor', 'format'] as const;

/** What the query parser knows of the registered sources: their ids, entities and own parameters. */
export interface QueryRules {
  sources: readonly { id: SourceId; params: SourceParams }[];
  /** Every parameter /netflows knows, in the document's order; anything else is a 400. */
  params: readonly string[];
  entities: ReadonlySet<string>;
  /** How an unknown entity's error names the known ones. */
  entityHint: string;
}

/** The query rules of a registry: common parameters, then each source's own, then paging. */
export function queryRules(registry: Registry): QueryRules {
  const own = registry.flatMap((d) => Object.keys(d.params.schemas));
  const clash = own.find((name) => (COMMON_PARAMS as readonly string[]).includes(name) || (PAGING_PARAMS as readonly string[]).includes(name));
  if (clash !== undefined) throw new Error(`a provider claims the common parameter ${clash}`);
  return {
    sources: registry.map((d) => ({ id: d.id, params: d.params })),
    params: [...COMMON_PARAMS, ...own, ...PAGING_PARAMS],
    entities: new Set(registry.flatMap((d) => d.catalog.entities.map((e) => e.entity))),
    entityHint: registry.map((d) => d.catalog.entityHint).join(' or '),
  };
}

const DEFAULT_RULES = queryRules(PROVIDERS);

/** Every query parameter /netflows knows with the default registry. */
export const NETFLOWS_PARAMS: readonly string[] = DEFAULT_RULES.params;

const HOUR_MS = 3_600_000;

/** Per interval: the bucket, the default span before `end` and the widest span (in buckets), and how a bucket is shown. */
export const SERIES_RANGES = {
  '1d': { stepMs: DAY_MS, defaultSteps: 30, maxSteps: 366, most: '366 days', latest: 'the latest complete day', show: isoDay },
  '1h': { stepMs: HOUR_MS, defaultSteps: 47, maxSteps: 31 * 24, most: '31 days', latest: 'the latest complete hour', show: rfc3339 },
} as const satisfies Record<SeriesInterval, { stepMs: number; defaultSteps: number; maxSteps: number; most: string; latest: string; show: (ms: number) => string }>;
/** No net flow is older than Bitcoin's first block (2009-01-03): an `as_of` before it is a mistake. */
const EARLIEST_AS_OF = Date.UTC(2009, 0, 3);
export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;

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
  /** Long (a record per row) or wide (a row per bucket, a column per series); a wide page counts time rows. */
  layout: Layout;
  /** Per source, the parameters of its own that the caller set, by name; naming one takes the other sources out. */
  ownParams: Readonly<Record<SourceId, readonly string[]>>;
  warnings: string[];
}

/** Turns the raw query string into a NetflowsQuery, or throws a 400 naming the parameter. */
export function parseNetflowsQuery(raw: RawQuery, now: number, rules: QueryRules = DEFAULT_RULES): ParsedQuery {
  const params = new Params(raw, rules.params);
  const warnings: string[] = [];
  const period = parsePeriod(params, now, warnings);
  const layout = parseLayout(params, period.mode);
  const subjects = parseSubjects(params, rules);
  const sort = params.sort(period.mode === 'snapshot' ? DEFAULT_SNAPSHOT_SORT : DEFAULT_SERIES_SORT);
  const limit = params.integer('limit', 1, MAX_LIMIT) ?? DEFAULT_LIMIT;
  const cursorText = params.string('cursor');
  params.string('format');

  const query: NetflowsQuery = { ...period, ...subjects, sort, limit, offset: 0 };
  // A long question's fingerprint is what it was before shapes existed, so its cursors stay good.
  const fingerprint = layout.shape === 'wide' ? JSON.stringify([fingerprintOf(query, rules), 'wide', layout.measure]) : fingerprintOf(query, rules);
  if (cursorText !== undefined) query.offset = decodeCursor(cursorText, fingerprint);
  const ownParams = Object.fromEntries(rules.sources.map((s) => [s.id, Object.keys(s.params.schemas).filter((name) => params.has(name))]));
  return { query, fingerprint, layout, ownParams, warnings };
}

/** `shape=wide` (series only, no `sort`: its rows ascend by time) and its `measure`; `measure` alone is a mistake. */
function parseLayout(params: Params, mode: NetflowsQuery['mode']): Layout {
  const shape = params.oneOf('shape', SHAPES);
  const measure = params.oneOf('measure', WIDE_MEASURES);
  if (shape !== 'wide') {
    if (measure !== undefined) throw invalidParameter('measure', '`measure` chooses the value of shape=wide cells; add shape=wide and interval=1d or interval=1h');
    return { shape: 'long' };
  }
  if (mode === 'snapshot') throw invalidParameter('shape', 'shape=wide applies to series only; add interval=1d or interval=1h');
  if (params.has('sort')) throw invalidParameter('sort', '`sort` does not apply to shape=wide: its rows ascend by time and its columns are in name order');
  return { shape: 'wide', measure: measure ?? 'net_flow_usd' };
}

/** Snapshot or series: `window` xor `interval`; then `as_of` for a snapshot, or `start` and `end` for a series. */
function parsePeriod(params: Params, now: number, warnings: string[]): Pick<NetflowsQuery, 'mode' | 'window' | 'asOf' | 'interval' | 'start' | 'end'> {
  const interval = params.oneOf('interval', SERIES_INTERVALS);
  const windowValue = params.oneOf('window', SNAPSHOT_WINDOWS);
  if (interval !== undefined && windowValue !== undefined) {
    throw invalidParameter('interval', '`window` and `interval` are exclusive: `window` asks for a snapshot, `interval` for a series');
  }
  const window: SnapshotWindow = windowValue ?? '24h';
  if (interval === undefined) {
    for (const name of ['start', 'end'] as const) {
      if (params.has(name)) throw invalidParameter(name, `\`${name}\` applies to series mode only; add interval=1d or interval=1h`);
    }
    return { mode: 'snapshot', window, asOf: parseAsOf(params, now), interval: '1d', start: 0, end: 0 };
  }
  if (params.has('as_of')) throw invalidParameter('as_of', '`as_of` applies to snapshots (window=…); a series already says how each period stood');
  return { mode: 'series', window, asOf: undefined, interval, ...seriesRange(params, interval, now, warnings) };
}

/** `as_of`: a past instant, RFC 3339 or epoch milliseconds. */
function parseAsOf(params: Params, now: number): number | undefined {
  const asOf = params.instant('as_of', false);
  if (asOf === undefined) return undefined;
  if (asOf > now) throw invalidParameter('as_of', `\`as_of\` must be in the past; it is ${rfc3339(asOf)}, after now (${rfc3339(now)})`);
  if (asOf < EARLIEST_AS_OF) throw invalidParameter('as_of', '`as_of` must be after 2009-01-03: there are no net flows before Bitcoin');
  return asOf;
}

/** A series' first and last bucket: truncated to the interval, `end` no later than the latest complete bucket, the span bounded. */
function seriesRange(params: Params, interval: SeriesInterval, now: number, warnings: string[]): { start: number; end: number } {
  const range = SERIES_RANGES[interval];
  const truncate = (ms: number) => Math.floor(ms / range.stepMs) * range.stepMs;
  const latest = truncate(now) - range.stepMs;
  const askedEnd = params.instant('end', true);
  const askedStart = params.instant('start', true);
  let end = askedEnd === undefined ? latest : truncate(askedEnd);
  if (end > latest) {
    warnings.push(`end ${range.show(end)} is after ${range.latest}; the series ends at ${range.show(latest)}`);
    end = latest;
  }
  const start = askedStart === undefined ? end - range.defaultSteps * range.stepMs : truncate(askedStart);
  if (start > end) throw invalidParameter('start', `start ${range.show(start)} is after end ${range.show(end)}`);
  if (end - start > range.maxSteps * range.stepMs) throw invalidParameter('start', `start and end may be at most ${range.most} apart with interval=${interval}`);
  return { start, end };
}

/** What the question is about: sources, assets, entities, chains, and each source's own filters. */
function parseSubjects(params: Params, rules: QueryRules): Pick<NetflowsQuery, 'sources' | 'assets' | 'entities' | 'chains' | 'sourceParams'> {
  const ids = rules.sources.map((s) => s.id);
  return {
    sources: params.list('source', (s) => ids.includes(s), ids.join(' or ')),
    assets: params.list('asset', (s) => /^[a-z0-9][a-z0-9_.-]{0,63}$/.test(s), 'asset ids such as btc or usdt_eth', true),
    entities: params.list('entity', (s) => rules.entities.has(s), `${rules.entityHint}; see /catalog`, true),
    chains: params.list('chain', (s) => /^[a-z0-9_]{1,32}$/.test(s), 'chain names such as ethereum or solana', true),
    sourceParams: Object.fromEntries(rules.sources.map((s) => [s.id, s.params.parse(params)])),
  };
}

/** A stable text for the question: list order and duplicates do not change it. */
export function fingerprintOf(query: NetflowsQuery, rules: QueryRules = DEFAULT_RULES): string {
  const sorted = (list: readonly string[] | undefined) => (list ? [...list].sort() : null);
  return JSON.stringify([
    query.mode,
    query.mode === 'snapshot' ? [query.window, query.asOf ?? null] : [query.interval, query.start, query.end],
    sorted(query.sources),
    sorted(query.assets),
    sorted(query.entities),
    sorted(query.chains),
    ...rules.sources.flatMap((s) => s.params.fingerprint(query.sourceParams[s.id])),
    query.sort.map((k) => (k.descending ? '-' : '') + k.field),
    query.limit,
  ]);
}

/** A parameter /netflows does not know, or one given twice, is a 400 naming it: before any value is read. */
export function rejectStrays(raw: RawQuery, known: readonly string[]): void {
  for (const [name, value] of Object.entries(raw)) {
    if (!known.includes(name)) {
      const shown = echo(name);
      throw invalidParameter(shown, `unknown parameter \`${shown}\`; known parameters are ${known.join(', ')}`);
    }
    if (Array.isArray(value)) throw invalidParameter(name, `\`${name}\` is given more than once; give it once (lists are comma-separated)`);
  }
}

class Params implements ParamReader {
  constructor(
    private readonly raw: RawQuery,
    known: readonly string[],
  ) {
    rejectStrays(raw, known);
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

  /** An RFC 3339 date-time, epoch milliseconds (what Grafana's `${__from}` gives), or with `dates`, a `YYYY-MM-DD` day; as ms. */
  instant(name: string, dates: boolean): number | undefined {
    const value = this.string(name);
    if (value === undefined) return undefined;
    const ms = /^\d{1,15}$/.test(value) ? Number(value) : dates || value.includes('T') || value.includes('t') ? parseDateOrTime(value) : undefined;
    if (ms === undefined || Number.isNaN(new Date(ms).getTime())) {
      throw invalidParameter(name, `\`${name}\` must be ${dates ? 'a date (YYYY-MM-DD), ' : ''}an RFC 3339 date-time or epoch milliseconds`);
    }
    return ms;
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
