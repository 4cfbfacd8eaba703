import { HistoryUnavailable, sourceFailure } from '../../history/errors.js';
import type { History } from '../../history/history.js';
import type { NansenQuestion, NansenSnapshot } from '../../history/types.js';
import type { NetflowsQuery, SourceAnswer } from '../../model.js';
import { rfc3339 } from '../../time.js';
import { COHORTS } from './catalog.js';
import type { NetflowRequestBody } from './client.js';
import type { NansenFilters } from './filters.js';
import type { TokenFlows } from './normalize.js';

/** One fetched page as the history records it. */
export interface FetchedPage {
  tokens: readonly TokenFlows[];
  isLastPage: boolean;
  /** When the answer arrived (ms): the end of every window of its rows. */
  fetchedAt: number;
}

/**
 * What the history keeps of one page: the question it answered, read back from the body
 * that was sent (cohort, chains, filters, order, page), and its rows. Undefined for a body
 * whose label is no cohort of ours (none is sent; nothing is recorded under a wrong name).
 */
export function snapshotOf(body: NetflowRequestBody, page: FetchedPage): NansenSnapshot | undefined {
  const f = body.filters ?? {};
  const labels = f.include_smart_money_labels ?? [];
  const cohort = COHORTS.find((c) => (c.label === undefined ? labels.length === 0 : labels.length === 1 && labels[0] === c.label));
  if (!cohort) return undefined;
  const filters: NansenFilters = {
    ...(f.token_address ? { tokenAddresses: f.token_address } : {}),
    ...(f.token_sector ? { sectors: f.token_sector } : {}),
    ...(f.include_stablecoins !== undefined ? { includeStablecoins: f.include_stablecoins } : {}),
    ...(f.include_native_tokens !== undefined ? { includeNativeTokens: f.include_native_tokens } : {}),
    ...(f.market_cap_usd ? { marketCapUsd: f.market_cap_usd } : {}),
    ...(f.trader_count ? { traderCount: f.trader_count } : {}),
    ...(f.token_age_days ? { tokenAgeDays: f.token_age_days } : {}),
  };
  return {
    entity: cohort.entity,
    chains: body.chains,
    filters,
    orderBy: body.order_by ?? [],
    page: body.pagination.page,
    perPage: body.pagination.per_page,
    isLastPage: page.isLastPage,
    fetchedAt: page.fetchedAt,
    tokens: page.tokens,
  };
}

/** A read of the recorded snapshots: the store, the question in its terms, and the time and freshness of the answer. */
export interface StoreRead {
  history: History;
  question: NansenQuestion;
  now: number;
  ttlMs: number;
}

/** How an answer from the store reads: no upstream call (a hit), fresh for a snapshot's TTL, as of `asOf`. */
function fromStore({ now, ttlMs }: StoreRead, asOf: number): Omit<SourceAnswer, 'records'> {
  return { asOf, cache: 'hit', storedAt: now, freshUntil: now + ttlMs, stale: false, hasMore: false, warnings: [] };
}

const BUCKET_MS = { '1h': 3_600_000, '1d': 86_400_000 } as const;

/** §8's series from the recorded snapshots, with its coverage; as of the latest snapshot used. */
export async function seriesFromHistory(read: StoreRead, query: NetflowsQuery): Promise<SourceAnswer> {
  const answer = await readOrFail(() => read.history.series({ interval: query.interval, start: query.start, end: query.end, ...read.question }));
  const latest = answer.records.reduce((t, r) => Math.max(t, Date.parse(r.period_end)), 0);
  return { records: answer.records, ...fromStore(read, latest || query.end + BUCKET_MS[query.interval]), coverage: answer.coverage };
}

/**
 * §8's as_of: per cohort the latest snapshot recorded in the hour up to `as_of` that the
 * live question would have fetched (`orderBy` as it would be sent), whole. No cohort has
 * one: Nansen cannot answer. A cohort without one, or a snapshot shorter than the page
 * asks for, is a warning.
 */
export async function asOfFromHistory(read: StoreRead, asOf: number, query: NetflowsQuery, orderBy: NonNullable<NetflowRequestBody['order_by']>, rowsNeeded: number): Promise<SourceAnswer> {
  const { question } = read;
  const answer = await readOrFail(() => read.history.asOf({ asOf, window: query.window, orderBy, ...question }));
  const at = rfc3339(asOf);
  if (answer.snapshots.length === 0) {
    return { records: [], ...fromStore(read, asOf), cannotAnswer: `no snapshot of ${question.entities.join(', ')} that answers this question was recorded in the hour up to as_of (${at})` };
  }
  const warnings = answer.missing.map((entity) => `nansen: no snapshot of ${entity} that answers this question was recorded in the hour up to ${at}; it has no rows`);
  for (const s of answer.snapshots) {
    if (!s.complete && s.tokens < rowsNeeded) {
      warnings.push(`nansen: the snapshot of ${s.entity} taken at ${rfc3339(s.takenAt)} holds the first ${s.tokens} tokens Nansen ranked; rows beyond were not recorded`);
    }
  }
  return { records: answer.records, ...fromStore(read, Math.min(...answer.snapshots.map((s) => s.takenAt))), warnings };
}

/** A read the store refuses (away, slow, still opening) is Nansen's failure: 503 history_unavailable. */
async function readOrFail<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof HistoryUnavailable) throw sourceFailure('nansen', error);
    throw error;
  }
}
