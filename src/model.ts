/** A provider's id (`coinmetrics`, `nansen`); the registry (`providers/index.ts`) says which exist. */
export type SourceId = string;

export type SnapshotWindow = '1h' | '24h' | '7d' | '30d';
export const SNAPSHOT_WINDOWS: readonly SnapshotWindow[] = ['1h', '24h', '7d', '30d'];
export type RecordWindow = SnapshotWindow | '1d';

/** One row of /netflows, whatever its source. Field order is the contract's (and the CSV's). */
export interface NetflowRecord {
  source: SourceId;
  /** The source's kind of holder: `exchange`, `smart_money`, … (its descriptor's `entityType`). */
  entity_type: string;
  entity: string;
  asset: string;
  chain: string | null;
  token_address: string | null;
  window: RecordWindow;
  /** RFC 3339 UTC, inclusive. */
  period_start: string;
  /** RFC 3339 UTC, exclusive. */
  period_end: string;
  /** Net flow into the entity in the asset's own units; positive = the entity's holdings grew. */
  net_flow_native: number | null;
  /** Net flow into the entity in USD; positive = the entity's holdings grew. */
  net_flow_usd: number | null;
  market_cap_usd: number | null;
  trader_count: number | null;
  token_age_days: number | null;
  token_sectors: string[];
}

export const RECORD_FIELDS = [
  'source',
  'entity_type',
  'entity',
  'asset',
  'chain',
  'token_address',
  'window',
  'period_start',
  'period_end',
  'net_flow_native',
  'net_flow_usd',
  'market_cap_usd',
  'trader_count',
  'token_age_days',
  'token_sectors',
] as const satisfies readonly (keyof NetflowRecord)[];

export interface NumberRange {
  min?: number;
  max?: number;
}

/** A parsed and validated /netflows question, before any source is asked. */
export interface NetflowsQuery {
  mode: 'snapshot' | 'series';
  /** Snapshot mode only. */
  window: SnapshotWindow;
  /** Series mode only: first and last day (00:00 UTC ms), both inclusive. */
  startDay: number;
  endDay: number;
  /** Sources the caller named; undefined = every enabled source. */
  sources: readonly SourceId[] | undefined;
  assets: readonly string[] | undefined;
  entities: readonly string[] | undefined;
  chains: readonly string[] | undefined;
  /** What each source's own parameters asked for, by source id (see its descriptor's `params`). */
  sourceParams: Readonly<Record<SourceId, unknown>>;
  sort: readonly SortKey[];
  limit: number;
  offset: number;
}

export const SORT_FIELDS = [
  'net_flow_usd',
  'net_flow_native',
  'asset',
  'entity',
  'period_start',
  'market_cap_usd',
  'trader_count',
] as const;
export type SortField = (typeof SORT_FIELDS)[number];

export interface SortKey {
  field: SortField;
  descending: boolean;
}

export type CacheOutcome = 'hit' | 'miss' | 'stale';

/** What one source contributed to an answer. */
export interface SourceAnswer {
  records: NetflowRecord[];
  /** When the data was current: Coin Metrics' latest day, Nansen's fetch time (ms). */
  asOf: number;
  cache: CacheOutcome;
  /** When the oldest part of this data was fetched from the upstream (ms); drives Age. */
  storedAt: number;
  /** Until when this data counts as fresh (ms); drives Cache-Control. */
  freshUntil: number;
  /** True when served from cache after the upstream failed or its budget ran out. */
  stale: boolean;
  /** True when the upstream holds more rows than were fetched (Nansen pages not read). */
  hasMore: boolean;
  /** Set with `stale`: why fresh data could not be had. */
  staleBecause?: { code: string; detail: string };
  warnings: string[];
}

export interface FetchContext {
  /** How many of this source's rows, in the query's sort order, the requested page needs. */
  rowsNeeded: number;
  /** Told of the credits every upstream answer caused, for the request that started the load. */
  meter: CreditMeter;
}

export interface CreditMeter {
  charge(credits: number): void;
}

/** What a question can cost upstream at most, known before the first call: cache entries held fresh cost nothing. */
export interface UpstreamCost {
  /** Upstream calls, counting every page as full as asked (Coin Metrics may send fewer rows a page; its walk is bounded by the rows instead). */
  calls: number;
  credits: number;
}

/**
 * Every provider has the same shape: its query in the upstream's terms, the only
 * I/O (extract), and a pure normalize into NetflowRecord. `fetch` runs all three.
 */
export interface Provider {
  readonly id: SourceId;
  /** Why this source cannot answer the query (a sentence), or undefined if it can. */
  cannotAnswer(query: NetflowsQuery): string | undefined;
  /** The most this question can cost upstream; `fetch` never spends more credits or reads more Nansen pages. */
  plan(query: NetflowsQuery, context: Pick<FetchContext, 'rowsNeeded'>): UpstreamCost;
  fetch(query: NetflowsQuery, context: FetchContext): Promise<SourceAnswer>;
}
