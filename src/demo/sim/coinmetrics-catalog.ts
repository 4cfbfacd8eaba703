// GET /catalog-v2/asset-metrics: which metric of which asset exists at which frequency,
// one row per asset, paged by asset (coinmetrics-contract.md, section 7).
import { CM_ASSETS, EXCHANGE_CODES, PRICE_METRIC, assetSupportsMetric, cmRowTime, dayNumber, isKnownMetric, type CmAsset } from './coinmetrics-data.js';
import { BadParameter, MAX_PAGE_SIZE, type PagingFrom } from './coinmetrics-query.js';

export interface CatalogQuery {
  /** Lower-cased; undefined: every asset. */
  assets: string[] | undefined;
  /** Undefined: every metric. */
  metrics: string[] | undefined;
  pageSize: number;
  pagingFrom: PagingFrom;
  nextPageToken: string | undefined;
  pretty: boolean;
}

const DEFAULT_PAGE_SIZE = 100;
/** Every metric the simulator serves: the price and both units of every exchange's net flow. */
const ALL_METRICS = [PRICE_METRIC, ...EXCHANGE_CODES.flatMap((code) => [`FlowNet${code}Ntv`, `FlowNet${code}USD`])];

export function parseCatalogQuery(params: URLSearchParams): CatalogQuery {
  const metrics = optionalList(params, 'metrics');
  const unknown = metrics?.find((metric) => !isKnownMetric(metric));
  if (unknown !== undefined) throw new BadParameter(`Bad parameter 'metrics'. Value '${unknown}' is not supported.`);
  const format = params.get('format');
  if (format !== null && format !== 'json') throw new BadParameter(`Bad parameter 'format'. Value '${format}' is not supported by the simulator.`);
  const reviewable = params.get('reviewable');
  if (reviewable !== null && reviewable !== 'true' && reviewable !== 'false') throw new BadParameter(`Bad parameter 'reviewable'. Must be 'true' or 'false'.`);
  return {
    assets: optionalList(params, 'assets')?.map((id) => id.toLowerCase()),
    metrics,
    pageSize: pageSize(params.get('page_size')),
    pagingFrom: pagingFrom(params.get('paging_from')),
    nextPageToken: params.get('next_page_token') ?? undefined,
    pretty: params.get('pretty') === 'true',
  };
}

/** One page of catalog rows; `next` is the token of the page after it, when there is one. */
export function catalogPage(query: CatalogQuery, latestDay: number, maxRowsPerPage: number): { data: unknown[]; next: string | undefined } {
  const rows = CM_ASSETS.filter((asset) => !query.assets || query.assets.includes(asset.id))
    .map((asset) => catalogRow(asset, query.metrics ?? ALL_METRICS, latestDay))
    .filter((row) => row.metrics.length > 0)
    .sort((a, b) => (a.asset < b.asset ? -1 : 1));
  if (query.pagingFrom === 'end') rows.reverse();
  const after = query.nextPageToken === undefined ? undefined : decodeToken(query.nextPageToken);
  const from = after === undefined ? 0 : rows.findIndex((row) => (query.pagingFrom === 'start' ? row.asset > after : row.asset < after));
  const start = from === -1 ? rows.length : from;
  const page = rows.slice(start, start + Math.min(query.pageSize, maxRowsPerPage));
  const last = page.at(-1);
  const more = start + page.length < rows.length;
  return { data: query.pagingFrom === 'end' ? page.reverse() : page, next: more && last ? Buffer.from(last.asset).toString('base64url') : undefined };
}

function catalogRow(asset: CmAsset, metrics: readonly string[], latestDay: number) {
  const frequency = { frequency: '1d', min_time: cmRowTime(dayNumber(asset.since)), max_time: cmRowTime(latestDay) };
  const supported = [...new Set(metrics)].filter((metric) => assetSupportsMetric(asset, metric)).sort();
  return { asset: asset.id, metrics: supported.map((metric) => ({ metric, frequencies: [frequency] })) };
}

/** Catalog tokens are unpadded base64 of the last name served (`cGVycA` is `perp`). */
function decodeToken(token: string): string {
  const name = Buffer.from(token, 'base64url').toString('utf8');
  if (!/^[a-z0-9_.-]{1,64}$/.test(name)) throw new BadParameter(`Bad parameter 'next_page_token'. Value '${token}' is not valid.`);
  return name;
}

function optionalList(params: URLSearchParams, name: string): string[] | undefined {
  const text = params.get(name);
  if (text === null) return undefined;
  const items = text.split(',').map((item) => item.trim()).filter((item) => item !== '');
  return items.length > 0 ? items : undefined;
}

function pageSize(text: string | null): number {
  if (text === null) return DEFAULT_PAGE_SIZE;
  const size = /^\d+$/.test(text) ? Number(text) : Number.NaN;
  if (!(size >= 1)) throw new BadParameter(`Bad parameter 'page_size'. Must be at least 1.`);
  if (size > MAX_PAGE_SIZE) throw new BadParameter(`Bad parameter 'page_size'. Must be at most ${MAX_PAGE_SIZE}.`);
  return size;
}

function pagingFrom(text: string | null): PagingFrom {
  if (text === null) return 'start';
  if (text === 'start' || text === 'end') return text;
  throw new BadParameter(`Bad parameter 'paging_from'. Must be one of 'start', 'end'.`);
}
