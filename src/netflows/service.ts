import { invalidParameter, upstreamProblem, UpstreamError } from '../errors.js';
import type { CacheOutcome, Coverage, CreditMeter, NetflowRecord, NetflowsQuery, Provider, SourceAnswer, SourceId, UpstreamCost } from '../model.js';
import { rfc3339 } from '../time.js';
import { compareRecords, firstInOrder } from './merge.js';
import type { ParsedQuery } from './query.js';
import { widen, type WideRow } from './wide.js';

export interface SourceStatus {
  source: SourceId;
  status: 'ok' | 'stale' | 'error' | 'skipped';
  cache: CacheOutcome | null;
  as_of: string | null;
  error?: { code: string; detail: string };
  /** A series from recorded history: how much of the range it covers. */
  coverage?: Coverage;
}

export interface NetflowsAnswer {
  /** The page's records (long shape; empty when wide). */
  records: NetflowRecord[];
  /** shape=wide: the page's time rows and every column of the whole answer. */
  wide?: { columns: readonly string[]; rows: WideRow[] };
  /** Offset of the next page (records, or time rows when wide), or null on the last page. */
  nextOffset: number | null;
  complete: boolean;
  sources: SourceStatus[];
  warnings: string[];
  /** The earliest `freshUntil` of the sources that answered (ms). */
  freshUntil: number;
  /** When the oldest data in the answer was fetched from its upstream (ms). */
  storedAt: number;
  /** What the question could cost upstream at most, as planned before the first call. */
  planned: UpstreamCost;
}

/** Admits a question at its planned cost (or throws), and meters what it really costs. */
export type Admission = (planned: UpstreamCost) => Promise<CreditMeter & { settle(): Promise<void> }>;

/** One question's round: the providers asked, each source's status so far, the warnings. */
interface Round {
  asked: Provider[];
  statuses: Map<SourceId, SourceStatus>;
  warnings: string[];
}

const FREE: Admission = async () => ({ charge: () => undefined, settle: async () => undefined });

/**
 * Plans which sources answer, asks them in parallel, and merges, sorts and pages their
 * rows. A source that cannot answer is skipped with a warning, or is a 400 if the caller
 * named it; a failed source is reported, never silently dropped.
 */
export class NetflowsService {
  private readonly providers: ReadonlyMap<SourceId, Provider>;
  private readonly titles: ReadonlyMap<SourceId, string>;

  constructor(
    /** Every registered source, in the order answers list them. */
    private readonly sources: readonly { id: SourceId; title: string }[],
    providers: readonly Provider[],
    /** Sources that are configured off, with the reason (e.g. no key). */
    private readonly disabled: ReadonlyMap<SourceId, string>,
    /** Told how each asked source answered: its cache outcome, or error. */
    private readonly onSourceAnswer: (source: SourceId, outcome: CacheOutcome | 'error') => void = () => {},
  ) {
    this.providers = new Map(providers.map((p) => [p.id, p]));
    this.titles = new Map(sources.map((s) => [s.id, s.title]));
  }

  async answer(parsed: ParsedQuery, signal: AbortSignal, admit: Admission = FREE): Promise<NetflowsAnswer> {
    const { query, layout } = parsed;
    const round = this.plan(parsed);
    // A wide answer's columns come from every row, and its limit counts time rows, not records.
    const rowsNeeded = layout.shape === 'wide' ? Number.POSITIVE_INFINITY : query.offset + query.limit;
    const planned = round.asked.map((p) => p.plan(query, { rowsNeeded })).reduce((a, b) => ({ calls: a.calls + b.calls, credits: a.credits + b.credits }));
    const meter = await admit(planned);
    let settled: PromiseSettledResult<SourceAnswer>[];
    try {
      settled = await Promise.allSettled(round.asked.map((p) => beforeDeadline(p.id, p.fetch(query, { rowsNeeded, meter }), signal)));
    } finally {
      await meter.settle();
    }
    const answers = this.collect(parsed, round, settled);
    return { ...this.merge(parsed, round, answers), planned };
  }

  /** Which sources are asked; the others are skipped (with a warning when they could have been), or a 400 when named. */
  private plan(parsed: ParsedQuery): Round {
    const { query } = parsed;
    const named = new Set(query.sources ?? []);
    const round: Round = { asked: [], statuses: new Map(), warnings: [...parsed.warnings] };
    for (const { id: source } of this.sources) {
      if (query.sources && !named.has(source)) {
        round.statuses.set(source, skipped(source));
        continue;
      }
      const provider = this.providers.get(source);
      const reason = provider ? this.cannotAnswer(provider, parsed) : (this.disabled.get(source) ?? `${source} is not enabled`);
      if (reason === undefined) {
        round.asked.push(provider!);
        continue;
      }
      if (named.has(source)) throw invalidParameter('source', `${source} cannot answer this query: ${reason}`);
      round.statuses.set(source, skipped(source));
      if (provider) round.warnings.push(`${source} skipped: ${reason}`);
    }
    if (round.asked.length === 0) throw nobodyCanAnswer(query, round.warnings);
    return round;
  }

  /**
   * Each asked source's answer or failure, as its status; a source that found it cannot
   * answer is skipped (a 400 when named); the answer is the failure itself when every source failed.
   */
  private collect(parsed: ParsedQuery, round: Round, settled: PromiseSettledResult<SourceAnswer>[]): SourceAnswer[] {
    const { query } = parsed;
    const answers: SourceAnswer[] = [];
    const failures: UpstreamError[] = [];
    settled.forEach((outcome, i) => {
      const source = round.asked[i]!.id;
      if (outcome.status === 'rejected') {
        if (!(outcome.reason instanceof UpstreamError)) throw outcome.reason;
        failures.push(outcome.reason);
        this.onSourceAnswer(source, 'error');
        round.statuses.set(source, { source, status: 'error', cache: null, as_of: null, error: { code: outcome.reason.failure, detail: outcome.reason.message } });
        return;
      }
      const answer = outcome.value;
      if (answer.cannotAnswer !== undefined) {
        if (query.sources?.includes(source)) throw invalidParameter('source', `${source} cannot answer this query: ${answer.cannotAnswer}`);
        round.statuses.set(source, skipped(source));
        round.warnings.push(`${source} skipped: ${answer.cannotAnswer}`);
        return;
      }
      answers.push(answer);
      this.onSourceAnswer(source, answer.cache);
      round.warnings.push(...answer.warnings);
      round.statuses.set(source, statusOf(source, answer));
    });
    if (answers.length > 0) return answers;
    throw failures.length > 0 ? upstreamProblem(failures) : nobodyCanAnswer(query, round.warnings);
  }

  /** Every answer's rows merged, sorted and paged (as records, or as wide time rows), with each source's status in registry order. */
  private merge(parsed: ParsedQuery, round: Round, answers: readonly SourceAnswer[]): Omit<NetflowsAnswer, 'planned'> {
    const { query, layout } = parsed;
    const all = answers.flatMap((a) => a.records);
    const end = query.offset + query.limit;
    const sources = this.sources.map((s) => round.statuses.get(s.id)!);
    let page: Pick<NetflowsAnswer, 'records' | 'wide' | 'nextOffset'>;
    if (layout.shape === 'wide') {
      // Columns come from the whole range, not the page, so every page of the answer has the same ones.
      const table = widen(all.sort(compareRecords(query.sort)), query, layout.measure);
      round.warnings.push(...table.warnings);
      page = { records: [], wide: { columns: table.columns, rows: table.rows.slice(query.offset, end) }, nextOffset: table.rows.length > end ? end : null };
    } else {
      // Only the rows up to this page's end are put in order; the rest are counted, not sorted.
      const merged = firstInOrder(all, compareRecords(query.sort), end);
      const more = all.length > end || answers.some((a) => a.hasMore);
      page = { records: merged.slice(query.offset, end), nextOffset: more ? end : null };
    }
    return {
      ...page,
      complete: sources.every((s) => s.status === 'ok' || s.status === 'skipped'),
      sources,
      warnings: round.warnings,
      freshUntil: Math.min(...answers.map((a) => a.freshUntil)),
      storedAt: Math.min(...answers.map((a) => a.storedAt)),
    };
  }

  /** A parameter only another source understands takes this one out; then the provider's own reasons. */
  private cannotAnswer(provider: Provider, parsed: ParsedQuery): string | undefined {
    const foreign = Object.entries(parsed.ownParams).filter(([owner, names]) => owner !== provider.id && names.length > 0);
    if (foreign.length > 0) {
      return foreign.map(([owner, names]) => `${names.join(', ')} ${names.length > 1 ? 'are' : 'is'} ${this.titles.get(owner) ?? owner}-only`).join('; ');
    }
    return provider.cannotAnswer(parsed.query);
  }
}

/**
 * A caller stops waiting at its deadline; the upstream load it was waiting on goes on for
 * whoever else shares it, and fills the cache.
 */
function beforeDeadline<T>(source: SourceId, work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(deadlineError(source));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(deadlineError(source));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function deadlineError(source: SourceId): UpstreamError {
  return new UpstreamError(source, 'upstream_timeout', 'the request ran out of time before the upstream answered');
}

function statusOf(source: SourceId, answer: SourceAnswer): SourceStatus {
  return {
    source,
    status: answer.stale ? 'stale' : 'ok',
    cache: answer.cache,
    as_of: rfc3339(answer.asOf),
    ...(answer.staleBecause ? { error: answer.staleBecause } : {}),
    ...(answer.coverage ? { coverage: answer.coverage } : {}),
  };
}

function nobodyCanAnswer(query: NetflowsQuery, warnings: readonly string[]) {
  return invalidParameter(query.sources ? 'source' : 'entity', `no enabled source can answer this query: ${warnings.join('; ') || 'none is enabled'}`);
}

function skipped(source: SourceId): SourceStatus {
  return { source, status: 'skipped', cache: null, as_of: null };
}
