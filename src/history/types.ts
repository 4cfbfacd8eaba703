import type { DayCell } from '../providers/coinmetrics/normalize.js';
import type { TokenFlows } from '../providers/nansen/normalize.js';
import type { NetflowRecord, SnapshotWindow } from '../model.js';
import type { NansenFilters } from '../providers/nansen/filters.js';

/** One Nansen order key as sent upstream. */
export interface NansenOrder {
  field: string;
  direction: 'ASC' | 'DESC';
}

/**
 * One upstream `smart-money/netflow` call of one cohort, as recorded: the question it
 * answered (cohort, chain scope, token filters, order, page) and its rows.
 */
export interface NansenSnapshot {
  /** `smart_money` or `smart_money:<label>`. */
  entity: string;
  /** The `chains` sent upstream: `['all']` or the chain names. */
  chains: readonly string[];
  /** The token filters sent upstream; absent ones were not sent (Nansen's defaults). */
  filters: NansenFilters;
  orderBy: readonly NansenOrder[];
  page: number;
  perPage: number;
  /** Nansen said no page follows this one. */
  isLastPage: boolean;
  /** When the answer was fetched (ms since the epoch): the end of every window of its rows. */
  fetchedAt: number;
  tokens: readonly TokenFlows[];
}

/** One Coin Metrics value of one asset on one exchange and UTC day, as fetched. */
export interface CoinMetricsCell extends DayCell {
  asset: string;
  /** Exchange slug (`binance`). */
  exchange: string;
  /** 00:00 UTC of the day (ms). */
  day: number;
  /** False when the upstream offers no metric of this exchange for the asset (nothing to fetch, ever). */
  supported: boolean;
  /** When it was fetched (ms). */
  fetchedAt: number;
}

/** Which recorded Nansen rows a question is about. Lists are ORed within, ANDed across. */
export interface NansenQuestion {
  /** Cohorts, e.g. `['smart_money', 'smart_money:fund']`. */
  entities: readonly string[];
  /** Chain names; undefined = every chain (upstream `all`). */
  chains?: readonly string[];
  /** Lower-case token symbols. */
  assets?: readonly string[];
  /** The caller's Nansen filters: applied to rows as recorded, and deciding which snapshots qualify. */
  filters: NansenFilters;
}

export type HistoryInterval = '1h' | '1d';

export interface SeriesQuestion extends NansenQuestion {
  interval: HistoryInterval;
  /** First and last bucket (ms), both included: whole UTC hours (`1h`) or days (`1d`). */
  start: number;
  end: number;
}

export interface AsOfQuestion extends NansenQuestion {
  /** ms since the epoch. */
  asOf: number;
  window: SnapshotWindow;
  /** The order the live answer would send upstream for this question (see README: as_of). */
  orderBy: readonly NansenOrder[];
}

export interface Coverage {
  /** Buckets (hours or days) in the asked range. */
  buckets: number;
  /** Buckets with a qualifying snapshot. */
  with_data: number;
}

export interface SeriesAnswer {
  records: NetflowRecord[];
  /** A bucket has data when every asked cohort has a qualifying snapshot in it. */
  coverage: Coverage;
  coverageByEntity: Record<string, Coverage>;
}

export interface AsOfSnapshot {
  entity: string;
  /** The snapshot's time (ms): `period_end` of its rows. */
  takenAt: number;
  /** Tokens the snapshot holds, before the question's own filters. */
  tokens: number;
  /** It held the whole list (its page was the last), not only the top of it. */
  complete: boolean;
}

export interface AsOfAnswer {
  records: NetflowRecord[];
  /** Per asked cohort that has a qualifying snapshot. */
  snapshots: AsOfSnapshot[];
  /** Asked cohorts without one: Nansen cannot answer for them. */
  missing: string[];
}

/** Recorded Coin Metrics days of one asset, in the day cache's shape. */
export interface HeldAssetDays {
  asset: string;
  /** Exchanges (of those asked) whose metrics the upstream offers for the asset. */
  supported: string[];
  /** day (00:00 UTC ms) → exchange slug → cell; a supported exchange without a cell has no data that day. */
  days: Record<number, Record<string, DayCell>>;
  /** day → when its values were fetched (ms, the earliest of the day's cells), for each day every asked exchange was recorded for. */
  held: Record<number, number>;
}
