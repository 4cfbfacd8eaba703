import { UpstreamError } from '../../errors.js';
import { statusFailure, type FailurePolicy } from '../../upstream/failures.js';
import type { Secret } from '../../secret.js';
import { DAY_MS, isoDay } from '../../time.js';
import type { RateLimitReading } from '../../budget/upstream-budget.js';
import { header, isRecord, parseJsonBody, retryAfterMs, wholeHeader, type UpstreamResponse } from '../../upstream/response.js';
import { type UpstreamClient } from '../../upstream/http.js';
import { nativeMetric, usdMetric, type Exchange } from './catalog.js';
import { parseRowDay } from './normalize.js';

/** One `/timeseries/asset-metrics` question: whole UTC days, both ends inclusive. */
export interface AssetMetricsQuery {
  assets: readonly string[];
  exchanges: readonly Exchange[];
  startDay: number;
  endDay: number;
}

export const PAGE_SIZE = 10_000;

/** The upstream parameters, without the key and without a page token. */
export function assetMetricsParams(query: AssetMetricsQuery, pageSize = PAGE_SIZE): URLSearchParams {
  return new URLSearchParams({
    assets: query.assets.join(','),
    metrics: query.exchanges.flatMap((e) => [nativeMetric(e), usdMetric(e)]).join(','),
    frequency: '1d',
    start_time: isoDay(query.startDay),
    end_time: isoDay(query.endDay),
    paging_from: 'start',
    page_size: String(pageSize),
    ignore_unsupported_errors: 'true',
    ignore_forbidden_errors: 'true',
  });
}

/**
 * Fetches every page by re-sending our own parameters with `next_page_token`. The
 * body's `next_page_url` is never followed or passed on: it embeds the key.
 *
 * The question bounds the walk: it can have at most days × assets rows, one per asset and
 * day. The walk ends when they are all in hand, whatever the token says. A row repeated
 * or outside the question (an asset not asked, a day outside start..end), a page that
 * names a next one but carries no rows, or a walk that needs more pages than those rows ÷
 * the rows its pages carry, plus one, is a malformed answer. Pages may carry fewer rows
 * than `page_size` asks; that alone is not an error.
 */
export async function fetchAssetMetrics(
  client: UpstreamClient,
  apiKey: Secret | undefined,
  query: AssetMetricsQuery,
  signal: AbortSignal,
  now: number,
  pageSize = PAGE_SIZE,
): Promise<{ rows: unknown[]; pages: number }> {
  const walk = new RowWalk(query);
  let token: string | undefined;
  for (let page = 1; ; page++) {
    const params = assetMetricsParams(query, pageSize);
    if (token !== undefined) params.set('next_page_token', token);
    if (apiKey) params.set('api_key', apiKey.reveal());
    const response = await client.send({ method: 'GET', path: '/timeseries/asset-metrics', query: params, signal });
    if (response.status !== 200) throw statusFailure(response, COINMETRICS_FAILURES, now);
    const body = parseJsonBody('coinmetrics', response);
    if (!isRecord(body) || !Array.isArray(body.data)) {
      throw new UpstreamError('coinmetrics', 'upstream_malformed', 'the Coin Metrics answer has no data array');
    }
    walk.take(body.data);
    if (body.next_page_token === undefined || body.next_page_token === null || walk.complete) return { rows: walk.rows, pages: page };
    if (typeof body.next_page_token !== 'string' || body.next_page_token === '' || body.next_page_token === token) {
      throw new UpstreamError('coinmetrics', 'upstream_malformed', 'the Coin Metrics answer has an unusable next_page_token');
    }
    walk.mayContinue(page, body.data.length);
    token = body.next_page_token;
  }
}

/** The rows of one walk, checked against the question as they come. */
class RowWalk {
  readonly rows: unknown[] = [];
  private readonly asked: ReadonlySet<string>;
  private readonly seen = new Set<string>();
  private readonly expected: number;
  private largestPage = 0;

  constructor(private readonly query: AssetMetricsQuery) {
    this.asked = new Set(query.assets);
    this.expected = query.assets.length * ((query.endDay - query.startDay) / DAY_MS + 1);
  }

  get complete(): boolean {
    return this.seen.size >= this.expected;
  }

  take(page: readonly unknown[]): void {
    for (const row of page) {
      if (!isRecord(row) || typeof row.asset !== 'string' || typeof row.time !== 'string') {
        throw new UpstreamError('coinmetrics', 'upstream_malformed', 'a Coin Metrics row has no asset or time');
      }
      const asset = row.asset.toLowerCase();
      const day = parseRowDay(row.time);
      if (!this.asked.has(asset) || day < this.query.startDay || day > this.query.endDay) {
        throw new UpstreamError('coinmetrics', 'upstream_malformed', 'the Coin Metrics answer has a row outside the question (an asset or a day not asked for)');
      }
      const id = `${asset}|${day}`;
      if (this.seen.has(id)) throw new UpstreamError('coinmetrics', 'upstream_malformed', 'the Coin Metrics answer repeats a row');
      this.seen.add(id);
      this.rows.push(row);
    }
    this.largestPage = Math.max(this.largestPage, page.length);
  }

  /** Throws when a next page after `page` (which carried `rows`) is more than the question can need. */
  mayContinue(page: number, rows: number): void {
    if (rows === 0) throw new UpstreamError('coinmetrics', 'upstream_malformed', 'the Coin Metrics answer names a next page but carries no rows');
    const bound = Math.ceil(this.expected / this.largestPage) + 1;
    if (page >= bound) {
      throw new UpstreamError('coinmetrics', 'upstream_malformed', `Coin Metrics paging did not end within ${bound} pages for at most ${this.expected} rows`);
    }
  }
}

/** `x-ratelimit-*` (draft-polli-ratelimit-headers: reset in seconds), for the budget. */
export function readCoinMetricsLimits(response: UpstreamResponse): RateLimitReading[] {
  const remaining = wholeHeader(response, 'x-ratelimit-remaining');
  if (remaining === undefined) return [];
  const limit = wholeHeader(response, 'x-ratelimit-limit');
  const reset = wholeHeader(response, 'x-ratelimit-reset');
  return [{ remaining, ...(limit !== undefined ? { limit } : {}), ...(reset !== undefined ? { resetMs: reset * 1000 } : {}) }];
}

/** How Coin Metrics' error answers read: `error.type` names the error; a 429 says when in `Retry-After` or `x-ratelimit-reset`. */
export const COINMETRICS_FAILURES: FailurePolicy = {
  source: 'coinmetrics',
  title: 'Coin Metrics',
  errorCode: (body) => (isRecord(body) && isRecord(body.error) ? body.error.type : undefined),
  retryAfter: (response, now) => retryAfterMs(header(response, 'retry-after'), now) ?? retryAfterMs(header(response, 'x-ratelimit-reset'), now),
};
