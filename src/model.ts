/** A provider's id (`coinmetrics`, `nansen`); the registry (`providers/index.ts`) says which exist. */
export type SourceId = string;

export type SnapshotWindow = '1h' | '24h' | '7d' | '30d';
export const SNAPSHOT_WINDOWS: readonly SnapshotWindow[] = ['1h', '24h', '7d', '30d'];
export type RecordWindow = SnapshotWindow | '1d';
/** A series' bucket: a UTC day or a UTC hour. */
export type SeriesInterval = '1d' | '1h';
export const SERIES_INTERVALS: readonly SeriesInterval[] = ['1d', '1h'];

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
  /** Snapshot mode only: the leaderboard as it stood at this time (ms, in the past); undefined = now. */
  asOf: number | undefined;
  /** Series mode only: a row per UTC day (`1d`) or hour (`1h`). */
  interval: SeriesInterval;
  /** Series mode only: the first and last bucket (ms), both inclusive: 00:00 UTC of a day (`1d`), or a whole UTC hour (`1h`). */
  start: number;
  end: number;
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

/** What /netflows writes: `format`, or the media type `Accept` names. */
export const FORMATS = ['json', 'csv', 'ndjson'] as const;

/** How a series is laid out: one record per row, or one row per bucket with a column per series (`shape=wide`). */
export type Shape = 'long' | 'wide';
export const SHAPES: readonly Shape[] = ['long', 'wide'];
/** The record field a wide cell holds (`measure`). */
export const WIDE_MEASURES = ['net_flow_usd', 'net_flow_native'] as const;
export type WideMeasure = (typeof WIDE_MEASURES)[number];
/** How the answer is laid out: long, or wide with the measure its cells hold. */
export type Layout = { shape: 'long' } | { shape: 'wide'; measure: WideMeasure };

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
  /** A series answered from recorded history: how much of the asked range it covers. */
  coverage?: Coverage;
  /**
   * Set when the source found, on looking, that it cannot answer (no snapshot recorded for
   * `as_of`): it is skipped with this reason, or the request is a 400 when it was named.
   */
  cannotAnswer?: string;
}

/** Buckets (days or hours) of a series' range, and those with a qualifying recorded snapshot. */
export interface Coverage {
  buckets: number;
  with_data: number;
}

export interface FetchContext {
  /** How many of this source's rows, in the query's sort order, the requested page needs (all, Infinity, for shape=wide). */
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
  /** What this source records for the history at the start of every hour (Nansen's NANSEN_RECORD sets); absent: nothing. */
  readonly recording?: Recording;
  /** Per entity, the assets it has data for, for /catalog's pickers (Coin Metrics' own catalog); never rejects. Absent: the source does not say. */
  entityAssets?(): Promise<EntityAssets>;
}

/** Where a source's per-entity asset lists came from, and the lists. */
export interface EntityAssets {
  /** `upstream_catalog`: read from the upstream's catalog; `configured`: the configured default assets, because the catalog could not be read. */
  from: 'upstream_catalog' | 'configured';
  /** In words: which catalog and when it was read, or why it could not be. */
  detail: string;
  /** Entity → asset ids. */
  byEntity: Readonly<Record<string, readonly string[]>>;
}

/** A source's hourly recording: its sets, and the credits it may spend on them. */
export interface Recording {
  /** Most credits the recording may spend per UTC day, its own cap inside the source's; undefined = none of its own. */
  dailyCredits: number | undefined;
  /** The most one set's fetch costs. */
  creditsPerSet: number;
  sets: readonly RecordingSet[];
}

export interface RecordingSet {
  /** As configured (`smart_money@all`): a log field and a metric label. */
  name: string;
  /** Fetches the set now, through the source's client, budget and cache (which record it); resolves with what it got and cost. */
  record(signal: AbortSignal): Promise<{ rows: number; credits: number }>;
}
