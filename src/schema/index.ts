import { SNAPSHOT_WINDOWS, SORT_FIELDS } from '../model.js';
import { NETFLOWS_PARAMS } from '../netflows/query.js';

const SIGN_RULE =
  'net_flow_* is the net amount flowing INTO the entity during the period: positive means the entity\'s holdings grew. ' +
  'Coin Metrics: into the exchange (deposits minus withdrawals). Nansen: into the smart-money cohort (buys and exchange withdrawals minus sells and exchange deposits). ' +
  'Both upstreams use this orientation; no sign is flipped.';

export const WINDOW_RULE =
  'Nansen gives the 1h, 24h, 7d and 30d windows directly, each ending when the snapshot was taken. ' +
  'Coin Metrics is daily: 24h is the latest complete UTC day with data, 7d and 30d the sum of the last 7 and 30 complete days ending there; ' +
  'a day without a value inside the window makes the row null rather than a short sum. period_start and period_end say exactly which days.';

const nullableNumber = { type: ['number', 'null'] } as const;
const nullableInteger = { type: ['integer', 'null'] } as const;
const nullableString = { type: ['string', 'null'] } as const;

export const recordSchema = {
  $id: 'NetflowRecord',
  type: 'object',
  description: `One net-flow row, whatever its source. ${SIGN_RULE}`,
  additionalProperties: false,
  required: [
    'source', 'entity_type', 'entity', 'asset', 'chain', 'token_address', 'window', 'period_start', 'period_end',
    'net_flow_native', 'net_flow_usd', 'market_cap_usd', 'trader_count', 'token_age_days', 'token_sectors',
  ],
  properties: {
    source: { type: 'string', enum: ['coinmetrics', 'nansen'] },
    entity_type: { type: 'string', enum: ['exchange', 'smart_money'] },
    entity: { type: 'string', description: 'Exchange slug (binance, coinbase, …) or smart_money[:label].' },
    asset: { type: 'string', description: 'Lower-case Coin Metrics asset id (btc, usdt_eth) or Nansen token symbol (uni).' },
    chain: { ...nullableString, description: 'bitcoin, ethereum, solana, …; null when unknown.' },
    token_address: { ...nullableString, description: 'Token contract address (Nansen); null for Coin Metrics.' },
    window: { type: 'string', enum: ['1d', ...SNAPSHOT_WINDOWS], description: 'Length of the period the flow is summed over.' },
    period_start: { type: 'string', format: 'date-time', description: 'Start of the period, inclusive (RFC 3339 UTC).' },
    period_end: { type: 'string', format: 'date-time', description: 'End of the period, exclusive (RFC 3339 UTC).' },
    net_flow_native: { ...nullableNumber, description: `Net flow in the asset's own units; null for Nansen. ${SIGN_RULE}` },
    net_flow_usd: { ...nullableNumber, description: `Net flow in USD. ${SIGN_RULE}` },
    market_cap_usd: { ...nullableNumber, description: 'Nansen only.' },
    trader_count: { ...nullableInteger, description: 'Nansen only: smart-money traders of the token in the past 30 days.' },
    token_age_days: { ...nullableInteger, description: 'Nansen only.' },
    token_sectors: { type: 'array', items: { type: 'string' }, description: 'Nansen only; [] otherwise.' },
  },
} as const;

export const problemSchema = {
  $id: 'Problem',
  type: 'object',
  description: 'RFC 9457 problem details, served as application/problem+json.',
  required: ['type', 'title', 'status', 'detail', 'code'],
  properties: {
    type: { type: 'string', description: 'urn:netflows:problem:<code>' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string', description: 'Stable snake_case error code.' },
    param: { type: 'string', description: 'The query parameter at fault, for invalid_parameter.' },
  },
} as const;

const sourceStatusSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['source', 'status', 'cache', 'as_of'],
  properties: {
    source: { type: 'string', enum: ['coinmetrics', 'nansen'] },
    status: {
      type: 'string',
      enum: ['ok', 'stale', 'error', 'skipped'],
      description: 'ok; stale (served from cache after the upstream failed or its budget ran out); error (no data from this source); skipped (not asked or not applicable).',
    },
    cache: { type: ['string', 'null'], enum: ['hit', 'miss', 'stale', null] },
    as_of: { ...nullableString, format: 'date-time', description: 'When the data was current.' },
    error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'detail'],
      properties: { code: { type: 'string' }, detail: { type: 'string' } },
    },
  },
} as const;

export const netflowsResponseSchema = {
  $id: 'NetflowsResponse',
  type: 'object',
  additionalProperties: false,
  required: ['data', 'next_cursor', 'complete', 'sources', 'warnings'],
  properties: {
    data: { type: 'array', items: { $ref: 'NetflowRecord#' } },
    next_cursor: { ...nullableString, description: 'Pass as `cursor` for the next page; null on the last page.' },
    complete: { type: 'boolean', description: 'False when any asked-for source is stale or error.' },
    sources: { type: 'array', items: sourceStatusSchema },
    warnings: { type: 'array', items: { type: 'string' } },
  },
} as const;

const list = (text: string, example?: string) => ({ type: 'string', description: `${text} Comma-separated.`, ...(example ? { examples: [example] } : {}) }) as const;
const numberParam = (text: string) => ({ type: 'string', pattern: '^-?[0-9.eE+-]+$', description: `${text} Nansen only.` }) as const;

export const netflowsQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    source: list('Sources to ask: coinmetrics, nansen. Default: every enabled source. A named source that cannot answer is a 400; an unnamed one is skipped with a warning.'),
    window: { type: 'string', enum: [...SNAPSHOT_WINDOWS], description: `Snapshot window (default 24h). ${WINDOW_RULE}`, examples: ['7d'] },
    interval: { type: 'string', enum: ['1d'], description: 'Selects series mode: daily Coin Metrics rows between start and end. Exclusive with window.', examples: ['1d'] },
    start: { type: 'string', description: 'Series start day, YYYY-MM-DD or RFC 3339 (truncated to its UTC day). Default: end − 30 days.', examples: ['2026-10-01'] },
    end: { type: 'string', description: 'Series end day, inclusive. Default: the latest complete UTC day. At most 366 days after start.', examples: ['2026-10-31'] },
    asset: list('Asset ids (btc, usdt_eth) or Nansen token symbols (uni). Default: Coin Metrics the configured set, Nansen every token.', 'btc,eth'),
    entity: list('Exchange slugs (binance, coinbase, …) and/or smart_money, smart_money:<label>. Default: every exchange and smart_money.', 'binance,smart_money:fund'),
    chain: list('Chain names (ethereum, solana, …). Coin Metrics rows are filtered by the chain of their asset.', 'ethereum'),
    token_address: list('Token contract addresses. Nansen only.'),
    sector: list("Nansen token sectors: letters, digits, spaces and ( ) & ' . / + - _ :. Nansen only."),
    include_stablecoins: { type: 'string', enum: ['true', 'false'], description: 'Default false. Nansen only.' },
    include_native_tokens: { type: 'string', enum: ['true', 'false'], description: 'Default false. Nansen only.' },
    min_market_cap_usd: numberParam('Lower bound of market cap, USD.'),
    max_market_cap_usd: numberParam('Upper bound of market cap, USD.'),
    min_trader_count: numberParam('Lower bound of smart-money trader count.'),
    max_trader_count: numberParam('Upper bound of smart-money trader count.'),
    min_token_age_days: numberParam('Lower bound of token age, days.'),
    max_token_age_days: numberParam('Upper bound of token age, days.'),
    sort: list(`Fields to sort by, - prefix for descending, nulls last: ${SORT_FIELDS.join(', ')}. Default: snapshot -net_flow_usd; series period_start,entity,asset.`, '-net_flow_usd'),
    limit: { type: 'string', pattern: '^[0-9]+$', description: 'Rows per page, 1–1000 (default 100).', examples: ['5'] },
    cursor: { type: 'string', description: 'Opaque next_cursor from a previous page of the same query.' },
    format: { type: 'string', description: 'json (default), csv or ndjson; overrides Accept. Anything else is a 406.' },
  },
} as const;

netflowsQuerySchema.properties satisfies Record<(typeof NETFLOWS_PARAMS)[number], unknown>;

const problemResponse = (description: string) => ({
  description,
  content: { 'application/problem+json': { schema: { $ref: 'Problem#' } } },
});

/** The problem responses of a data route (/netflows). */
export const problemResponses = {
  400: problemResponse('invalid_parameter: bad value, unknown parameter, conflicting parameters, bad cursor, a named source that cannot answer'),
  401: problemResponse('unauthenticated: caller tokens are configured and the request has none or a wrong one'),
  403: problemResponse('forbidden: a valid token without the right'),
  404: problemResponse('not_found'),
  406: problemResponse('not_acceptable: unsupported Accept or format'),
  429: problemResponse("rate_limited: this caller's quota is spent; see Retry-After and RateLimit"),
  500: problemResponse('internal_error'),
  502: problemResponse('upstream_error: an upstream answered with an error or a malformed body, or rejected our key'),
  503: problemResponse('upstream_unavailable: an upstream is unreachable, its circuit is open, or its budget or credits are spent; see Retry-After'),
  504: problemResponse('upstream_timeout: an upstream did not answer in time'),
};

/** The problem responses of a route that takes no parameters and calls no upstream. */
export const plainProblemResponses = {
  400: problemResponses[400],
  404: problemResponses[404],
  500: problemResponses[500],
};
