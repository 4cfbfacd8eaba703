import { UpstreamError } from '../../errors.js';
import type { Secret } from '../../secret.js';
import { statusFailure } from '../../upstream/failures.js';
import type { UpstreamClient } from '../../upstream/http.js';
import { isRecord, parseJsonBody } from '../../upstream/response.js';
import { EXCHANGES, nativeMetric, type Exchange } from './catalog.js';
import { COINMETRICS_FAILURES } from './client.js';

/** Per exchange slug, the asset ids Coin Metrics has daily net flows for, sorted. */
export type ExchangeAssets = Record<string, string[]>;

export const CATALOG_PATH = '/catalog-v2/asset-metrics';
const CATALOG_PAGE_SIZE = 10_000;
/** 24 exchanges × a few hundred assets fit in one page; more pages than this is a runaway walk. */
const MAX_CATALOG_PAGES = 20;
/** Asset ids as COINMETRICS_ASSETS and the query accept them; anything else in the catalog is skipped. */
const ASSET_ID = /^[a-z0-9][a-z0-9_.-]{0,63}$/;

/** The catalog question: every exchange's native net-flow metric (its USD twin exists wherever it does). */
export function catalogParams(exchanges: readonly Exchange[] = EXCHANGES): URLSearchParams {
  return new URLSearchParams({ metrics: exchanges.map(nativeMetric).join(','), page_size: String(CATALOG_PAGE_SIZE) });
}

/**
 * Reads `/catalog-v2/asset-metrics?metrics=FlowNet…Ntv` (what this key can fetch), every page
 * by re-sending our own parameters with `next_page_token` (never `next_page_url`: it embeds
 * the key). An asset counts for an exchange when the exchange's metric has a `1d` frequency.
 */
export async function fetchExchangeAssets(client: UpstreamClient, apiKey: Secret | undefined, signal: AbortSignal, now: number): Promise<ExchangeAssets> {
  const byCode = new Map(EXCHANGES.map((e) => [nativeMetric(e), new Set<string>()]));
  let token: string | undefined;
  for (let page = 1; ; page++) {
    const params = catalogParams();
    if (token !== undefined) params.set('next_page_token', token);
    if (apiKey) params.set('api_key', apiKey.reveal());
    const response = await client.send({ method: 'GET', path: CATALOG_PATH, query: params, signal });
    if (response.status !== 200) throw statusFailure(response, COINMETRICS_FAILURES, now);
    const body = parseJsonBody('coinmetrics', response);
    if (!isRecord(body) || !Array.isArray(body.data)) throw malformed('has no data array');
    for (const row of body.data) takeRow(row, byCode);
    const next = body.next_page_token;
    if (next === undefined || next === null) break;
    if (typeof next !== 'string' || next === '' || next === token || body.data.length === 0) throw malformed('has an unusable next_page_token');
    if (page >= MAX_CATALOG_PAGES) throw malformed(`did not end within ${MAX_CATALOG_PAGES} pages`);
    token = next;
  }
  return Object.fromEntries(EXCHANGES.map((e) => [e.slug, [...byCode.get(nativeMetric(e))!].sort()]));
}

/** One catalog row: `{asset, metrics: [{metric, frequencies: [{frequency, …}]}]}`; metrics we did not ask for are ignored. */
function takeRow(row: unknown, byCode: Map<string, Set<string>>): void {
  if (!isRecord(row) || typeof row.asset !== 'string' || !Array.isArray(row.metrics)) throw malformed('has a row without an asset or metrics');
  const asset = row.asset.toLowerCase();
  for (const metric of row.metrics) {
    if (!isRecord(metric) || typeof metric.metric !== 'string' || !Array.isArray(metric.frequencies)) throw malformed('has a metric without frequencies');
    const assets = byCode.get(metric.metric);
    if (assets && ASSET_ID.test(asset) && metric.frequencies.some((f) => isRecord(f) && f.frequency === '1d')) assets.add(asset);
  }
}

function malformed(what: string): UpstreamError {
  return new UpstreamError('coinmetrics', 'upstream_malformed', `the Coin Metrics catalog ${what}`);
}
