import { approximateSize, type CacheEntry, type Loaded } from '../../cache/upstream-cache.js';
import { staleReason, UpstreamError, type StaleReason } from '../../errors.js';
import type { EntityAssets } from '../../model.js';
import { rfc3339 } from '../../time.js';
import type { ProviderDeps } from '../descriptor.js';
import { CATALOG_PATH, fetchExchangeAssets, type ExchangeAssets } from './asset-catalog.js';
import { EXCHANGES } from './catalog.js';
import type { CoinMetricsConfig } from './config.js';

/** What Coin Metrics has flows for changes when it adds an asset, a few times a year: a day is fresh enough. */
export const CATALOG_TTL_MS = 86_400_000;
/** After a failure other than a 403 the catalog is asked again this much later; a 403 is the key's, so a day later. */
export const CATALOG_RETRY_MS = 300_000;
const CATALOG_KEY = `coinmetrics|${CATALOG_PATH}|FlowNet*Ntv|1d`;
/** Beside the catalog, in the same cache (and its shared tier): why it could not be read, until it is worth asking again. */
const FAILURE_KEY = `${CATALOG_KEY}|failed`;

/**
 * Per exchange, the assets Coin Metrics' catalog lists net flows for: read through the
 * upstream cache (one load however many ask, shared by replicas, fresh for a day) with the
 * client bound to Coin Metrics' budget. When it cannot be read (a key without access gets
 * 403, the upstream is down, its answer is malformed, the budget is spent) every exchange
 * gets the configured assets, and the failure is kept in the cache beside it so that
 * /catalog does not spend the budget asking again on every request.
 */
export function exchangeAssetsReader({ config, client, cache, clock, logger, loadTimeoutMs }: ProviderDeps<CoinMetricsConfig>): () => Promise<EntityAssets> {
  const load = async (): Promise<Loaded<ExchangeAssets>> => {
    const value = await fetchExchangeAssets(client, config.apiKey, AbortSignal.timeout(loadTimeoutMs), clock());
    logger.info({ upstream: 'coinmetrics', assets: new Set(Object.values(value).flat()).size }, 'coinmetrics catalog read');
    return { value, freshForMs: CATALOG_TTL_MS, sizeBytes: approximateSize(value) };
  };
  const configured = (why: string): EntityAssets => ({
    from: 'configured',
    detail: `COINMETRICS_ASSETS for every exchange: Coin Metrics' catalog could not be read (${why})`,
    byEntity: Object.fromEntries(EXCHANGES.map((e) => [e.slug, [...config.assets]])),
  });
  const fromCatalog = (entry: CacheEntry<ExchangeAssets>, failure: string | undefined): EntityAssets => {
    const read = `Coin Metrics' catalog (${CATALOG_PATH}), read ${rfc3339(entry.storedAt)}`;
    return { from: 'upstream_catalog', detail: failure ? `${read}; reading it again failed (${failure})` : read, byEntity: entry.value };
  };
  const remember = (reason: StaleReason, retryMs: number) => {
    cache.put(FAILURE_KEY, { value: reason.detail, freshForMs: retryMs, sizeBytes: approximateSize(reason.detail) });
    logger.warn({ upstream: 'coinmetrics', failure: reason.code, retryInS: retryMs / 1000 }, 'coinmetrics catalog could not be read');
  };
  return async () => {
    const failed = await cache.adopt<string>(FAILURE_KEY);
    if (failed && cache.usability(failed) === 'fresh') {
      // Not asked again yet: the catalog read before, while the cache may still stand it in, else the configured assets.
      const held = cache.peek<ExchangeAssets>(CATALOG_KEY);
      return held ? fromCatalog(held, failed.value) : configured(failed.value);
    }
    try {
      const { entry, error } = await cache.get(CATALOG_KEY, load);
      if (error) remember(error, CATALOG_RETRY_MS);
      return fromCatalog(entry, error?.detail);
    } catch (error) {
      const forbidden = error instanceof UpstreamError && error.options.status === 403;
      remember(staleReason(error), forbidden ? CATALOG_TTL_MS : CATALOG_RETRY_MS);
      return configured(staleReason(error).detail);
    }
  };
}
