// Simulated Coin Metrics API v4: GET {url}/timeseries/asset-metrics, daily exchange
// net flows, and GET {url}/catalog-v2/asset-metrics, what exists of them
// (see /work/shared/upstreams/coinmetrics-contract.md, sections 1-7 and 10).
import {
  CM_ASSETS,
  PRICE_METRIC,
  assetSupportsMetric,
  cmFlowStatus,
  cmMetricValue,
  cmRowTime,
  dayNumber,
  findCmAsset,
  isoDay,
  latestCompleteDay,
} from './coinmetrics-data.js';
import { catalogPage, parseCatalogQuery } from './coinmetrics-catalog.js';
import { decodePageToken, encodePageToken, selectPage, type AssetSeries, type RowKey } from './coinmetrics-pages.js';
import { BadParameter, parseAssetMetricsQuery, type AssetMetricsQuery } from './coinmetrics-query.js';
import {
  SimServer,
  jsonReply,
  malformedReply,
  resolveSimOptions,
  type AnsweringFault,
  type RecordedRequest,
  type RequestContext,
  type ResolvedSimOptions,
  type SimBase,
  type SimOptions,
  type SimProtocol,
  type SimReply,
} from './common.js';
import { rand, randHex } from './random.js';
import { SlidingWindow, type WindowState } from './rate-window.js';

export interface CoinMetricsSimOptions extends SimOptions {
  /** Pro mode when set: every request needs `api_key` equal to this. Absent: Community mode, where `api_key` is ignored. */
  apiKey?: string;
  /**
   * Serve at most this many rows a page, whatever `page_size` asks (default: as asked). Lets a
   * test see paging without asking for 10,000 rows; clients must follow next_page_token anyway.
   */
  maxRowsPerPage?: number;
}

export interface CoinMetricsSim extends SimBase {
  /** 429s sent, from the limiter or the `rate_limited` fault. */
  readonly rateLimitHits: number;
  /** Most requests processed at the same time (the API processes 10, queues the rest). */
  readonly peakConcurrency: number;
  /** Requests that asked for a later page (carry `next_page_token`). */
  pageRequests(): RecordedRequest[];
}

const API_PREFIX = '/v4';
const ENDPOINT = `${API_PREFIX}/timeseries/asset-metrics`;
/** `setFault(fault, { path: CM_CATALOG_PATH })` fails the catalog alone (`status` 403: what a key without catalog access gets). */
export const CM_CATALOG_PATH = '/catalog-v2/asset-metrics';
const CATALOG_ENDPOINT = `${API_PREFIX}${CM_CATALOG_PATH}`;
const MAX_PARALLEL = 10;
const MAX_URI_LENGTH = 10_000;
// Sliding windows, as documented: Community per client IP, Pro per key.
const COMMUNITY_LIMIT = { limit: 10, windowMs: 6_000 };
const PRO_LIMIT = { limit: 6_000, windowMs: 20_000 };

export async function startCoinMetricsSim(options: CoinMetricsSimOptions = {}): Promise<CoinMetricsSim> {
  const resolved = resolveSimOptions(options);
  const protocol = new CoinMetricsProtocol(resolved, options.apiKey, options.maxRowsPerPage);
  const server = await SimServer.start(protocol, { ...resolved, maxConcurrent: MAX_PARALLEL });
  return {
    url: `${server.origin}${API_PREFIX}`,
    requests: server.requests,
    setFault: (fault, opts) => server.setFault(fault, opts),
    reset: () => {
      server.reset();
      protocol.reset();
    },
    close: () => server.close(),
    get rateLimitHits() {
      return protocol.rateLimitHits;
    },
    get peakConcurrency() {
      return server.peakConcurrency;
    },
    pageRequests: () => server.requests.filter((request) => 'next_page_token' in request.query),
  };
}

interface Admission {
  allowed: boolean;
  state: WindowState;
}

class CoinMetricsProtocol implements SimProtocol {
  rateLimitHits = 0;
  private readonly perIp: SlidingWindow;
  private readonly perKey: SlidingWindow;
  private rays = 0;
  private randomPages = 0;

  constructor(
    private readonly options: ResolvedSimOptions,
    private readonly apiKey: string | undefined,
    private readonly maxRowsPerPage = Number.POSITIVE_INFINITY,
  ) {
    this.perIp = new SlidingWindow(COMMUNITY_LIMIT.limit, COMMUNITY_LIMIT.windowMs, options.now);
    this.perKey = new SlidingWindow(PRO_LIMIT.limit, PRO_LIMIT.windowMs, options.now);
  }

  reset(): void {
    this.rateLimitHits = 0;
    this.perIp.clear();
    this.perKey.clear();
  }

  handle(ctx: RequestContext): SimReply {
    const admission = this.admit(ctx);
    const headers = this.headers(admission.state);
    if (!admission.allowed) return this.rateLimited(headers);
    if (ctx.url.pathname !== ENDPOINT && ctx.url.pathname !== CATALOG_ENDPOINT) return cmError(404, 'not_found', 'Requested endpoint is not found.', headers);
    if (ctx.req.method !== 'GET') return cmError(405, 'method_not_allowed', 'Requested method is not allowed.', headers);
    const authError = this.authenticate(ctx.url.searchParams.get('api_key'), headers);
    if (authError) return authError;
    if (ctx.record.url.length > MAX_URI_LENGTH) {
      return cmError(414, 'uri_too_long', `Provided URI is too long. It must not be greater than ${MAX_URI_LENGTH} symbols.`, headers);
    }
    try {
      if (ctx.url.pathname === CATALOG_ENDPOINT) return this.catalog(ctx, headers);
      const query = parseAssetMetricsQuery(ctx.url.searchParams);
      return jsonReply(200, this.assetMetrics(query, ctx), headers, query.pretty);
    } catch (error) {
      if (error instanceof BadParameter) return cmError(400, 'bad_parameter', error.message, headers);
      throw error;
    }
  }

  faultReply(fault: AnsweringFault, ctx: RequestContext): SimReply | null {
    switch (fault.kind) {
      case 'status':
        if (fault.status === 403) return cmError(403, 'forbidden', 'Requested resource is not available with supplied credentials.', this.peekHeaders(ctx));
        return cmError(fault.status, 'internal_error', 'Internal server error', this.peekHeaders(ctx));
      case 'malformed':
        return malformedReply(fault, this.peekHeaders(ctx));
      case 'rate_limited':
        return this.rateLimited(this.headers({ limit: this.bucket(ctx).window.limit, remaining: 0, resetS: fault.retryAfterS }));
      case 'credits_exhausted':
        return null;
      case 'random_pages':
        return jsonReply(200, this.randomPage(), this.peekHeaders(ctx));
    }
  }

  /** Rows and a page token as a schema-driven mock makes them up: well-formed JSON, meaningless values. */
  private randomPage(): Record<string, unknown> {
    const seed = `random-page|${++this.randomPages}`;
    const rows = Array.from({ length: 1 + Math.floor(rand(`${seed}|rows`) * 4) }, (_, i) => ({
      asset: randHex(`${seed}|asset|${i}`, 8),
      time: randHex(`${seed}|time|${i}`, 12),
      [randHex(`${seed}|metric|${i}`, 6)]: rand(`${seed}|value|${i}`) < 0.5 ? null : randHex(`${seed}|v|${i}`, 5),
    }));
    return { data: rows, next_page_token: randHex(`${seed}|token`, 16), next_page_url: randHex(`${seed}|url`, 10) };
  }

  payloadTooLarge(ctx: RequestContext): SimReply {
    return cmError(413, 'payload_too_large', 'Request body is too large.', this.peekHeaders(ctx));
  }

  internalError(ctx: RequestContext): SimReply {
    return cmError(500, 'internal_error', 'Internal server error', this.peekHeaders(ctx));
  }

  private assetMetrics(query: AssetMetricsQuery, ctx: RequestContext): Record<string, unknown> {
    const latestDay = latestCompleteDay(this.options.now());
    const series = planSeries(query, latestDay);
    const after = query.nextPageToken === undefined ? undefined : decodeToken(query.nextPageToken);
    const page = selectPage(series, Math.min(query.pageSize, this.maxRowsPerPage), query.pagingFrom, after);
    const data = page.rows.map(({ series: s, day }) => buildRow(s, day, latestDay));
    if (!page.next) return { data };
    const token = encodePageToken(page.next);
    return { data, next_page_token: token, next_page_url: this.nextPageUrl(ctx, token) };
  }

  /** One row per asset with the metrics asked for that it has, and their frequencies and time ranges. */
  private catalog(ctx: RequestContext, headers: Record<string, string>): SimReply {
    const query = parseCatalogQuery(ctx.url.searchParams);
    const page = catalogPage(query, latestCompleteDay(this.options.now()), this.maxRowsPerPage);
    const body = page.next === undefined ? { data: page.data } : { data: page.data, next_page_token: page.next, next_page_url: this.nextPageUrl(ctx, page.next) };
    return jsonReply(200, body, headers, query.pretty);
  }

  /** The same request with the key first and the token last, like the real next_page_url. */
  private nextPageUrl(ctx: RequestContext, token: string): string {
    const original = ctx.rawQuery.split('&').filter((part) => part !== '' && !/^(api_key|next_page_token)(=|$)/.test(part));
    const key = this.apiKey === undefined ? [] : [`api_key=${encodeURIComponent(this.apiKey)}`];
    return `${ctx.origin}${ctx.url.pathname}?${[...key, ...original, `next_page_token=${token}`].join('&')}`;
  }

  private authenticate(suppliedKey: string | null, headers: Record<string, string>): SimReply | null {
    if (this.apiKey === undefined) return null;
    if (suppliedKey === null || suppliedKey === '') {
      return cmError(401, 'unauthorized', 'Requested resource requires authorization.', headers);
    }
    if (suppliedKey !== this.apiKey) return cmError(401, 'wrong_credentials', 'Supplied credentials are not valid.', headers);
    return null;
  }

  private admit(ctx: RequestContext): Admission {
    const { window, key } = this.bucket(ctx);
    const allowed = window.hasRoom(key) || !this.options.rateLimits;
    return { allowed, state: allowed ? window.add(key) : window.state(key) };
  }

  /** Pro requests with the right key count against the key; everything else against the client IP. */
  private bucket(ctx: RequestContext): { window: SlidingWindow; key: string } {
    const key = ctx.url.searchParams.get('api_key');
    if (this.apiKey !== undefined && key === this.apiKey) return { window: this.perKey, key };
    return { window: this.perIp, key: ctx.clientIp };
  }

  private rateLimited(headers: Record<string, string>): SimReply {
    this.rateLimitHits++;
    return cmError(429, 'rate_limit_exceeded', 'Requests rate limit exceeded.', headers);
  }

  /** Headers for an answer that does not count against the rate limit. */
  private peekHeaders(ctx: RequestContext): Record<string, string> {
    const { window, key } = this.bucket(ctx);
    return this.headers(window.state(key));
  }

  private headers(state: WindowState): Record<string, string> {
    return {
      'CF-RAY': `${randHex(`cf-ray|${++this.rays}`, 16)}-SIM`,
      'x-ratelimit-limit': String(state.limit),
      'x-ratelimit-remaining': String(state.remaining),
      'x-ratelimit-reset': String(state.resetS),
    };
  }
}

/**
 * Resolves the requested assets into series of rows. Unknown assets and assets supporting
 * none of the metrics are errors, unless `ignore_unsupported_errors` (or `assets=*`) drops them.
 */
function planSeries(query: AssetMetricsQuery, latestDay: number): AssetSeries[] {
  const ids = query.assets === '*' ? CM_ASSETS.map((asset) => asset.id) : query.assets;
  const dropUnsupported = query.ignoreUnsupported || query.assets === '*';
  const series: AssetSeries[] = [];
  for (const id of ids) {
    const asset = findCmAsset(id);
    if (!asset) {
      if (dropUnsupported) continue;
      throw new BadParameter(`Bad parameter 'assets'. Value '${id}' is not supported.`);
    }
    const metrics = query.metrics.filter((metric) => assetSupportsMetric(asset, metric)).sort();
    if (metrics.length === 0) {
      if (dropUnsupported) continue;
      throw new BadParameter(`Bad parameter 'metrics'. All requested metrics aren't supported for asset '${id}'`);
    }
    series.push({
      asset,
      metrics,
      firstDay: Math.max(dayNumber(asset.since), firstDayFrom(query.start, query.startInclusive)),
      lastDay: Math.min(latestDay, lastDayUntil(query.end, query.endInclusive)),
    });
  }
  return series.sort((a, b) => (a.asset.id < b.asset.id ? -1 : 1));
}

const NS_PER_DAY = 86_400_000_000_000n;

/** First day whose 00:00 row time is at or after (after, when exclusive) `start`. */
function firstDayFrom(start: bigint | undefined, inclusive: boolean): number {
  if (start === undefined) return Number.NEGATIVE_INFINITY;
  let day = start / NS_PER_DAY + (start % NS_PER_DAY > 0n ? 1n : 0n);
  if (!inclusive && day * NS_PER_DAY === start) day += 1n;
  return Number(day);
}

/** Last day whose 00:00 row time is at or before (before, when exclusive) `end`. */
function lastDayUntil(end: bigint | undefined, inclusive: boolean): number {
  if (end === undefined) return Number.POSITIVE_INFINITY;
  let day = end / NS_PER_DAY;
  if (!inclusive && day * NS_PER_DAY === end) day -= 1n;
  return Number(day);
}

function decodeToken(token: string): RowKey {
  const key = decodePageToken(token);
  if (!key) throw new BadParameter(`Bad parameter 'next_page_token'. Value '${token}' is not valid.`);
  return key;
}

/** A row: every supported metric as a string (null on no-data days); flows carry their status keys. */
function buildRow(series: AssetSeries, day: number, latestDay: number): Record<string, string | null> {
  const id = series.asset.id;
  const date = isoDay(day);
  const row: Record<string, string | null> = { asset: id, time: cmRowTime(day) };
  for (const metric of series.metrics) {
    const value = cmMetricValue(id, metric, date) ?? null;
    row[metric] = value;
    if (value === null || metric === PRICE_METRIC) continue;
    const { status, statusTime } = cmFlowStatus(id, metric, date, isoDay(latestDay));
    row[`${metric}-status`] = status;
    row[`${metric}-status-time`] = statusTime;
  }
  return row;
}

function cmError(status: number, type: string, message: string, headers: Record<string, string>): SimReply {
  return jsonReply(status, { error: { type, message } }, headers);
}
