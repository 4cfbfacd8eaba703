import type { EnvReader } from '../../../src/env.js';
import type { NetflowRecord, NetflowsQuery, Provider, SourceAnswer } from '../../../src/model.js';
import type { ProviderDeps, ProviderDescriptor, SourceParams, UpstreamConfig } from '../../../src/providers/descriptor.js';
import { rfc3339 } from '../../../src/time.js';
import { UpstreamError } from '../../../src/errors.js';
import { statusFailure, type FailurePolicy } from '../../../src/upstream/failures.js';
import { finiteNumber, header, isRecord, parseJsonBody, retryAfterMs, wholeHeader, type UpstreamResponse } from '../../../src/upstream/response.js';

/**
 * A third upstream, for tests only: exchange flows of every exchange as one cluster, from
 * a made-up "ExFlows" API (test/providers/third-provider/sim.ts). It exists to show that
 * an upstream is one folder and one registry entry: nothing in src/ names it.
 */
export const ENTITY = 'all_exchanges';
const WINDOWS = ['24h', '7d'] as const;
const WINDOW_MS: Record<string, number> = { '24h': 86_400_000, '7d': 7 * 86_400_000 };

export interface ExFlowsConfig extends UpstreamConfig {
  ttlMs: number;
}

/** Its one parameter of its own: count derivatives venues too. */
interface ExFlowsParams {
  includeDerivatives?: boolean;
}

const PARAMS: SourceParams<ExFlowsParams> = {
  schemas: { include_derivatives: { type: 'string', enum: ['true', 'false'], description: 'Count derivatives venues too (default false). ExFlows only.' } },
  parse: (read) => {
    const includeDerivatives = read.boolean('include_derivatives');
    return includeDerivatives === undefined ? {} : { includeDerivatives };
  },
  fingerprint: (params) => [params.includeDerivatives ?? null],
};

const FAILURES: FailurePolicy = {
  source: 'exflows',
  title: 'ExFlows',
  errorCode: (body) => (isRecord(body) ? body.error : undefined),
  retryAfter: (response, now) => retryAfterMs(header(response, 'retry-after'), now),
};

export const exflows: ProviderDescriptor<'exflows', ExFlowsConfig, ExFlowsParams> = {
  id: 'exflows',
  title: 'ExFlows',
  entityType: 'exchange_cluster',
  catalog: {
    entities: [{ entity: ENTITY, name: 'All exchanges (one cluster)', fields: { exflows_cluster: 'ALL' } }],
    entityHint: 'the exchange cluster all_exchanges',
    entityFields: { exflows_cluster: { type: 'string' } },
    windows: WINDOWS,
    intervals: [],
    chains: [],
    signRule: 'into the exchanges of the cluster (deposits minus withdrawals)',
  },
  params: PARAMS,
  readConfig: (read: EnvReader) => ({
    apiKey: read.secret('EXFLOWS_API_KEY'),
    baseUrl: read.url('EXFLOWS_BASE_URL', 'https://exflows.invalid'),
    rateLimits: read.rateLimits('EXFLOWS_RATE_LIMIT', '5/1s'),
    ttlMs: read.seconds('EXFLOWS_TTL_S', 60, 1, 86_400),
  }),
  status: (config) =>
    config.apiKey
      ? { enabled: true, detail: 'ExFlows API with the configured key' }
      : { enabled: false, because: 'no EXFLOWS_API_KEY is configured', warning: 'EXFLOWS_API_KEY is not set: the ExFlows source is disabled' },
  defaultAssets: () => ['every asset'],
  budget: () => ({ maxInFlight: 4, readLimits, retryAfter: FAILURES.retryAfter, recordedHeaders: /^x-flows-quota/ }),
  create: createExFlowsProvider,
};

/** `x-flows-quota-*`: what is left of its per-second limit. */
function readLimits(response: UpstreamResponse) {
  const remaining = wholeHeader(response, 'x-flows-quota-remaining');
  const limit = wholeHeader(response, 'x-flows-quota-limit');
  const reset = wholeHeader(response, 'x-flows-quota-reset');
  return remaining === undefined ? [] : [{ remaining, ...(limit !== undefined ? { limit } : {}), ...(reset !== undefined ? { resetMs: reset * 1000 } : {}) }];
}

interface Row {
  asset: string;
  usd: number | null;
  native: number | null;
}

function createExFlowsProvider({ config, client, cache, clock, loadTimeoutMs }: ProviderDeps<ExFlowsConfig>): Provider {
  const apiKey = config.apiKey!;
  const load = async (query: URLSearchParams) => {
    const response = await client.send({ method: 'GET', path: '/v1/exchange-flows', query, headers: { 'x-api-key': apiKey.reveal() }, signal: AbortSignal.timeout(loadTimeoutMs) });
    if (response.status !== 200) throw statusFailure(response, FAILURES, clock());
    const body = parseJsonBody('exflows', response);
    if (!isRecord(body) || !Array.isArray(body.data)) throw new UpstreamError('exflows', 'upstream_malformed', 'the ExFlows answer has no data array');
    const rows: Row[] = body.data.map((row) => {
      if (!isRecord(row) || typeof row.symbol !== 'string') throw new UpstreamError('exflows', 'upstream_malformed', 'an ExFlows row has no symbol');
      return { asset: row.symbol.toLowerCase(), usd: finiteNumber(row.netflow_usd), native: finiteNumber(row.netflow_native) };
    });
    return { value: rows, freshForMs: config.ttlMs, sizeBytes: response.body.length * 2 };
  };
  return {
    id: 'exflows',
    cannotAnswer: (query) => {
      if (query.mode === 'series') return 'ExFlows has no history: interval=1d is not offered';
      if (!(WINDOWS as readonly string[]).includes(query.window)) return 'ExFlows offers the 24h and 7d windows only';
      if (query.entities && !query.entities.includes(ENTITY)) return `ExFlows has the exchange cluster ${ENTITY} only`;
      if (query.chains) return 'ExFlows rows carry no chain';
      return undefined;
    },
    plan: (query) => {
      const held = cache.peek(cacheKey(upstreamQuery(query)));
      return { calls: held && cache.usability(held) === 'fresh' ? 0 : 1, credits: 0 };
    },
    fetch: async (query): Promise<SourceAnswer> => {
      const params = upstreamQuery(query);
      const result = await cache.get<Row[]>(cacheKey(params), () => load(params));
      const { entry } = result;
      return {
        records: entry.value.map((row) => toRecord(row, query, entry.storedAt)),
        asOf: entry.storedAt,
        storedAt: entry.storedAt,
        freshUntil: entry.freshUntil,
        cache: result.outcome,
        stale: result.error !== undefined,
        ...(result.error ? { staleBecause: result.error } : {}),
        hasMore: false,
        warnings: [],
      };
    },
  };
}

function upstreamQuery(query: NetflowsQuery): URLSearchParams {
  const own = (query.sourceParams.exflows ?? {}) as ExFlowsParams;
  const params = new URLSearchParams({ window: query.window });
  if (query.assets) params.set('assets', [...query.assets].sort().join(','));
  if (own.includeDerivatives !== undefined) params.set('include_derivatives', String(own.includeDerivatives));
  return params;
}

function cacheKey(params: URLSearchParams): string {
  return `exflows|${params.toString()}`;
}

function toRecord(row: Row, query: NetflowsQuery, asOf: number): NetflowRecord {
  return {
    source: 'exflows',
    entity_type: 'exchange_cluster',
    entity: ENTITY,
    asset: row.asset,
    chain: null,
    token_address: null,
    window: query.window,
    period_start: rfc3339(asOf - WINDOW_MS[query.window]!),
    period_end: rfc3339(asOf),
    net_flow_native: row.native,
    net_flow_usd: row.usd,
    market_cap_usd: null,
    trader_count: null,
    token_age_days: null,
    token_sectors: [],
  };
}
