import { combineOutcomes, type CacheResult, type Loaded } from '../../cache/upstream-cache.js';
import type { History } from '../../history/history.js';
import type { NansenQuestion } from '../../history/types.js';
import type { ProviderDeps } from '../descriptor.js';
import type { NansenConfig, RecordSet } from './config.js';
import { nansenFilters } from './params.js';
import type { StaleReason } from '../../errors.js';
import type { CacheOutcome, CreditMeter, FetchContext, NetflowsQuery, Provider, SortKey, SourceAnswer } from '../../model.js';
import { COHORT_BY_ENTITY, NANSEN_CHAIN_SET, type Cohort } from './catalog.js';
import { fetchNetflowPage, NANSEN_CREDITS_PER_CALL, type NetflowRequestBody } from './client.js';
import { asOfFromHistory, seriesFromHistory, snapshotOf, type StoreRead } from './history.js';
import { decodeNetflowRows, toRecords, type TokenFlows } from './normalize.js';
import type { CachedPage } from './page-codec.js';
import { recorderQuery, recordingOf, RECORDER_PER_PAGE } from './recorder.js';

/** Every page costs credits: read at most this many per cohort and question. */
export const MAX_PAGES = 10;
export const MAX_PER_PAGE = 1000;
const SMALL_PAGE = 100;

type PageLoader = (body: NetflowRequestBody, meter: CreditMeter, signal?: AbortSignal) => () => Promise<Loaded<CachedPage>>;

export function createNansenProvider(deps: ProviderDeps<NansenConfig>): Provider {
  const { config, cache, history, logger } = deps;
  const loadPage = pageLoader(deps);
  /** One page through the cache: a fresh copy, a stale one while it refreshes, or one upstream call. */
  const page: PageReader = (body, meter) => cache.get<CachedPage>(pageKey(body), loadPage(body, meter));
  /** A recorder set, fetched now whatever the cache holds (its snapshot must fall in this hour), then kept in the cache. */
  const recordSet = async (set: RecordSet, signal: AbortSignal) => {
    const body = { ...toUpstreamBody(recorderQuery(set), COHORT_BY_ENTITY.get(set.entity)!), pagination: { page: 1, per_page: RECORDER_PER_PAGE } };
    let credits = 0;
    const loaded = await loadPage(body, { charge: (c) => (credits += c) }, signal)();
    cache.put(pageKey(body), loaded);
    return { rows: loaded.value.tokens.length, credits };
  };
  if (!history && config.recordSets.length > 0) logger.warn('NANSEN_RECORD is set but this gateway keeps no history (HISTORY=off): nothing is recorded');

  return {
    id: 'nansen',
    cannotAnswer: (query) => cannotAnswer(query, history),
    /** Cohorts × the pages the slice needs, less the pages held fresh: five credits a call; nothing from the history. */
    plan(query, { rowsNeeded }) {
      if (fromHistory(query)) return { calls: 0, credits: 0 };
      let calls = 0;
      for (const cohort of cohortsOf(query)) {
        const { body, perPage, pages } = walkOf(query, cohort, rowsNeeded);
        for (let page = 1; page <= pages; page++) {
          const held = cache.peek(pageKey({ ...body, pagination: { page, per_page: perPage } }));
          if (!held || cache.usability(held) !== 'fresh') calls++;
        }
      }
      return { calls, credits: calls * NANSEN_CREDITS_PER_CALL };
    },
    async fetch(query: NetflowsQuery, context: FetchContext): Promise<SourceAnswer> {
      if (fromHistory(query)) return answerFromHistory(query, context, { history: history!, question: questionOf(query), now: deps.clock(), ttlMs: config.ttlMs });
      // Every cohort's calls end before the answer does, so nothing this request started is still spending.
      const settled = await Promise.allSettled(cohortsOf(query).map((cohort) => fetchCohort(query, cohort, context, page)));
      return combineCohorts(
        settled.map((s) => {
          if (s.status === 'rejected') throw s.reason;
          return s.value;
        }),
      );
    },
    ...(history ? { recording: recordingOf(config, recordSet) } : {}),
  };
}

/** One upstream page: fetched, decoded, handed to the history to record (every page fetched, for whoever asked), sized for the cache. */
function pageLoader({ config, client, clock, logger, loadTimeoutMs, history }: ProviderDeps<NansenConfig>): PageLoader {
  const apiKey = config.apiKey ?? failWithoutKey();
  return (body, meter, signal) => async () => {
    const timeout = AbortSignal.timeout(loadTimeoutMs);
    const fetched = await fetchNetflowPage(client, apiKey, body, signal ? AbortSignal.any([signal, timeout]) : timeout, clock(), meter);
    const value: CachedPage = { tokens: decodeNetflowRows(fetched.rows), isLastPage: fetched.isLastPage, fetchedAt: clock() };
    const snapshot = history ? snapshotOf(body, value) : undefined;
    if (snapshot) history!.recordNansen(snapshot);
    logger.info({ upstream: 'nansen', page: body.pagination.page, rows: value.tokens.length, creditsRemaining: fetched.creditsRemaining }, 'nansen page fetched');
    // The page as received, counted as UTF-16: a close bound on what its decoded rows hold, without serialising them again.
    return { value, freshForMs: config.ttlMs, sizeBytes: fetched.bytes * 2 };
  };
}

/** Series and `as_of` come from the snapshots the gateway recorded: Nansen itself answers only "now". */
function fromHistory(query: NetflowsQuery): boolean {
  return query.mode === 'series' || query.asOf !== undefined;
}

function cannotAnswer(query: NetflowsQuery, history: History | undefined): string | undefined {
  if (query.entities && cohortsOf(query).length === 0) return 'Nansen has smart_money entities only';
  if (query.chains && nansenChains(query).length === 0) return `Nansen covers none of the chains asked for (${query.chains.join(', ')})`;
  if (fromHistory(query) && !history) {
    const asked = query.mode === 'series' ? `interval=${query.interval}` : 'as_of';
    return `Nansen keeps no history, and this gateway records none (HISTORY=off): ${asked} is not offered`;
  }
  return undefined;
}

/** A series or an `as_of` leaderboard from the store; `as_of` looks for the snapshots the live question would have fetched. */
function answerFromHistory(query: NetflowsQuery, context: FetchContext, read: StoreRead): Promise<SourceAnswer> {
  if (query.mode === 'series') return seriesFromHistory(read, query);
  const orderBy = toUpstreamBody(query, cohortsOf(query)[0]!).order_by ?? [];
  return asOfFromHistory(read, query.asOf!, query, orderBy, context.rowsNeeded);
}

/** The question in the store's terms: cohorts, Nansen's chains (every one when none is named), assets and filters. */
function questionOf(query: NetflowsQuery): NansenQuestion {
  return {
    entities: cohortsOf(query).map((c) => c.entity),
    ...(query.chains ? { chains: nansenChains(query) } : {}),
    ...(query.assets ? { assets: query.assets } : {}),
    filters: nansenFilters(query),
  };
}

type PageReader = (body: NetflowRequestBody, meter: CreditMeter) => Promise<CacheResult<CachedPage>>;
type CohortAnswer = Awaited<ReturnType<typeof fetchCohort>>;

/** The answer of every cohort as one: the oldest snapshot's times, stale if any cohort was. */
function combineCohorts(answers: readonly CohortAnswer[]): SourceAnswer {
  const error = answers.find((a) => a.error)?.error;
  return {
    records: answers.flatMap((a) => a.records),
    asOf: Math.min(...answers.map((a) => a.asOf)),
    storedAt: Math.min(...answers.map((a) => a.asOf)),
    cache: combineOutcomes(answers.map((a) => a.outcome)),
    freshUntil: Math.min(...answers.map((a) => a.freshUntil)),
    stale: error !== undefined,
    ...(error ? { staleBecause: error } : {}),
    hasMore: answers.some((a) => a.hasMore),
    warnings: answers.flatMap((a) => (a.warning ? [a.warning] : [])),
  };
}

/** One cohort's walk: its pages in order until the slice is in hand, the last page, or the planned pages. */
async function fetchCohort(query: NetflowsQuery, cohort: Cohort, context: FetchContext, page: PageReader) {
  const { body, perPage, pages: planned } = walkOf(query, cohort, context.rowsNeeded);
  const localAssets = query.assets ? new Set(query.assets) : undefined;
  const tokens: TokenFlows[] = [];
  const outcomes: CacheOutcome[] = [];
  let asOf = Number.POSITIVE_INFINITY;
  let freshUntil = Number.POSITIVE_INFINITY;
  let error: StaleReason | undefined;
  let pages = 0;
  let searched = 0;
  let isLastPage = false;
  while (!isLastPage && pages < planned && tokens.length < context.rowsNeeded) {
    pages++;
    const result = await page({ ...body, pagination: { page: pages, per_page: perPage } }, context.meter);
    outcomes.push(result.outcome);
    error ??= result.error;
    asOf = Math.min(asOf, result.entry.value.fetchedAt);
    freshUntil = Math.min(freshUntil, result.entry.freshUntil);
    isLastPage = result.entry.value.isLastPage;
    searched += result.entry.value.tokens.length;
    tokens.push(...(localAssets ? result.entry.value.tokens.filter((t) => localAssets.has(t.symbol)) : result.entry.value.tokens));
  }
  const short = !isLastPage && tokens.length < context.rowsNeeded;
  return {
    records: toRecords(tokens, { entity: cohort.entity, window: query.window, asOf }),
    asOf,
    freshUntil,
    outcome: combineOutcomes(outcomes),
    error,
    // Filtered rows past the pages read cannot be reached by paging on: the warning says so instead.
    hasMore: !isLastPage && !localAssets,
    warning: !short
      ? undefined
      : localAssets
        ? `nansen: asset=${[...localAssets].join(',')} matched ${tokens.length} rows of ${cohort.entity} among the first ${searched} tokens Nansen ranks by ${body.order_by?.[0]?.field ?? 'its default order'}; its other tokens were not searched`
        : `nansen: ${cohort.entity} was read to ${pages} page${pages === 1 ? '' : 's'}; rows beyond were not fetched`,
  };
}

function pageKey(body: NetflowRequestBody): string {
  return `nansen|${JSON.stringify(body)}`;
}

/**
 * The pages one cohort's walk reads at most: the pages the slice `offset + limit` needs,
 * at most MAX_PAGES. An asset filter is applied here, not upstream, so it reads pages of
 * 1000 and no more of them than an unfiltered question would: normally one per cohort.
 */
function walkOf(query: NetflowsQuery, cohort: Cohort, rowsNeeded: number) {
  const perPage = query.assets || rowsNeeded > SMALL_PAGE ? MAX_PER_PAGE : SMALL_PAGE;
  return { body: toUpstreamBody(query, cohort), perPage, pages: Math.min(MAX_PAGES, Math.ceil(rowsNeeded / perPage)) };
}

function cohortsOf(query: NetflowsQuery): Cohort[] {
  if (!query.entities) return [COHORT_BY_ENTITY.get('smart_money')!];
  return query.entities.map((e) => COHORT_BY_ENTITY.get(e)).filter((c): c is Cohort => c !== undefined);
}

function nansenChains(query: NetflowsQuery): string[] {
  return (query.chains ?? []).filter((c) => NANSEN_CHAIN_SET.has(c));
}

/** Step one of the provider: our question as a strict `smart-money/netflow` body, pagination left to the caller. */
export function toUpstreamBody(query: NetflowsQuery, cohort: Cohort): Omit<NetflowRequestBody, 'pagination'> {
  const nansen = nansenFilters(query);
  const filters: NonNullable<NetflowRequestBody['filters']> = {};
  if (cohort.label) filters.include_smart_money_labels = [cohort.label];
  if (nansen.tokenAddresses) filters.token_address = [...nansen.tokenAddresses].sort();
  if (nansen.includeStablecoins !== undefined) filters.include_stablecoins = nansen.includeStablecoins;
  if (nansen.includeNativeTokens !== undefined) filters.include_native_tokens = nansen.includeNativeTokens;
  if (nansen.sectors) filters.token_sector = [...nansen.sectors].sort();
  if (nansen.traderCount) filters.trader_count = nansen.traderCount;
  if (nansen.tokenAgeDays) filters.token_age_days = nansen.tokenAgeDays;
  if (nansen.marketCapUsd) filters.market_cap_usd = nansen.marketCapUsd;
  const chains = query.chains ? nansenChains(query).sort() : ['all'];
  return {
    chains,
    ...(Object.keys(filters).length > 0 ? { filters } : {}),
    order_by: orderBy(query.sort, query.window),
  };
}

/**
 * Pushes our sort down so the first pages hold the rows the merged page needs. Keys that
 * are the same on every row of one cohort call (entity, period, native flow) are dropped;
 * symbol, chain and address break ties as our merge does.
 */
function orderBy(sort: readonly SortKey[], window: NetflowsQuery['window']): NonNullable<NetflowRequestBody['order_by']> {
  const fields: Partial<Record<SortKey['field'], string>> = {
    net_flow_usd: `net_flow_${window}_usd`,
    market_cap_usd: 'market_cap_usd',
    trader_count: 'trader_count',
    asset: 'token_symbol',
  };
  const order: NonNullable<NetflowRequestBody['order_by']> = [];
  for (const key of sort) {
    const field = fields[key.field];
    if (field) order.push({ field, direction: key.descending ? 'DESC' : 'ASC' });
  }
  for (const field of ['token_symbol', 'chain', 'token_address']) {
    if (!order.some((o) => o.field === field)) order.push({ field, direction: 'ASC' });
  }
  return order;
}

/** The wiring creates the provider only when its status is enabled, which needs the key. */
function failWithoutKey(): never {
  throw new Error('the Nansen source is off without NANSEN_API_KEY');
}
