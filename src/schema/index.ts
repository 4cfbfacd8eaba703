import { ERRORS } from '../errors.js';
import { FORMATS, SERIES_INTERVALS, SHAPES, SNAPSHOT_WINDOWS, SORT_FIELDS, WIDE_MEASURES } from '../model.js';
import { COMMON_PARAMS, DEFAULT_LIMIT, MAX_LIMIT, PAGING_PARAMS } from '../netflows/query.js';
import { instantParam, listParam } from './params.js';
import type { JsonSchema, Registry } from '../providers/descriptor.js';

/**
 * The one sign rule, the only place it is written: what every source's net flow means,
 * with what a positive flow is for each registered source.
 */
export function signRule(registry: Registry): string {
  const sources = registry.map((d) => `${d.title}: ${d.catalog.signRule}.`).join(' ');
  return (
    'net_flow_* is the net amount flowing INTO the entity during the period: positive means the entity\'s holdings grew. ' +
    `${sources} Every upstream reports in this orientation; no sign is flipped.`
  );
}

export const WINDOW_RULE =
  'Nansen gives the 1h, 24h, 7d and 30d windows directly, each ending when the snapshot was taken. ' +
  'Coin Metrics is daily: 24h is the latest complete UTC day with data, 7d and 30d the sum of the last 7 and 30 complete days ending there; ' +
  'a day without a value inside the window makes the row null rather than a short sum. period_start and period_end say exactly which days.';

const nullableNumber = { type: ['number', 'null'] } as const;
const nullableInteger = { type: ['integer', 'null'] } as const;
const nullableString = { type: ['string', 'null'] } as const;

/** The record, with the registry's sources and entity types as enums. */
export function recordSchema(registry: Registry) {
  const rule = signRule(registry);
  return {
    $id: 'NetflowRecord',
    type: 'object',
    description: `One net-flow row, whatever its source. ${rule}`,
    additionalProperties: false,
    required: [
      'source', 'entity_type', 'entity', 'asset', 'chain', 'token_address', 'window', 'period_start', 'period_end',
      'net_flow_native', 'net_flow_usd', 'market_cap_usd', 'trader_count', 'token_age_days', 'token_sectors',
    ],
    properties: {
      source: { type: 'string', enum: registry.map((d) => d.id) },
      entity_type: { type: 'string', enum: entityTypes(registry) },
      entity: { type: 'string', description: 'Exchange slug (binance, coinbase, …) or smart_money[:label].' },
      asset: { type: 'string', description: 'Lower-case Coin Metrics asset id (btc, usdt_eth) or Nansen token symbol (uni).' },
      chain: { ...nullableString, description: 'bitcoin, ethereum, solana, …; null when unknown.' },
      token_address: { ...nullableString, description: 'Token contract address (Nansen); null for Coin Metrics.' },
      window: { type: 'string', enum: ['1d', ...SNAPSHOT_WINDOWS], description: 'Length of the period the flow is summed over.' },
      period_start: { type: 'string', format: 'date-time', description: 'Start of the period, inclusive (RFC 3339 UTC).' },
      period_end: { type: 'string', format: 'date-time', description: 'End of the period, exclusive (RFC 3339 UTC).' },
      net_flow_native: { ...nullableNumber, description: `Net flow in the asset's own units; null for Nansen. ${rule}` },
      net_flow_usd: { ...nullableNumber, description: `Net flow in USD. ${rule}` },
      market_cap_usd: { ...nullableNumber, description: 'Nansen only.' },
      trader_count: { ...nullableInteger, description: 'Nansen only: smart-money traders of the token in the past 30 days.' },
      token_age_days: { ...nullableInteger, description: 'Nansen only.' },
      token_sectors: { type: 'array', items: { type: 'string' }, description: 'Nansen only; [] otherwise.' },
    },
  } as const;
}

/** The registry's entity types, each once, in its order. */
export function entityTypes(registry: Registry): string[] {
  return [...new Set(registry.map((d) => d.entityType))];
}

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
    code: { type: 'string', enum: Object.keys(ERRORS), description: 'Stable snake_case error code.' },
    param: { type: 'string', description: 'The query parameter at fault, for invalid_parameter.' },
  },
} as const;

/** A row of `shape=wide`: the bucket's start, then a number or null per series column. */
export const wideRowSchema = {
  $id: 'NetflowsWideRow',
  type: 'object',
  description:
    'One bucket of a series with shape=wide: `time` (the bucket start, RFC 3339 UTC), then one column per series of the whole answer, ' +
    'named <entity>:<asset>:<chain> (<entity>:<asset> when the series has no chain; :<token_address> added when two Nansen tokens share a symbol on a chain), ' +
    'holding the series\' `measure` in that bucket, or null where it has none. Every row has every column.',
  required: ['time'],
  properties: { time: { type: 'string', format: 'date-time', description: 'Start of the bucket: 00:00 UTC of a day (1d) or a whole UTC hour (1h).' } },
  additionalProperties: nullableNumber,
} as const;

/** What `data` holds: records, or with shape=wide, wide rows (the document says both; each writer is given its own). */
const EITHER_ROW = { oneOf: [{ $ref: 'NetflowRecord#' }, { $ref: 'NetflowsWideRow#' }] } as const;

/** The answer: a page of records (or wide rows) and each source's status. */
export function netflowsResponseSchema<Row extends object = typeof EITHER_ROW>(registry: Registry, row: Row = EITHER_ROW as Row) {
  const sourceStatusSchema = {
    type: 'object',
    additionalProperties: false,
    required: ['source', 'status', 'cache', 'as_of'],
    properties: {
      source: { type: 'string', enum: registry.map((d) => d.id) },
      status: {
        type: 'string',
        enum: ['ok', 'stale', 'error', 'skipped'],
        description: 'ok; stale (served from cache after the upstream failed or its budget ran out); error (no data from this source); skipped (not asked or not applicable).',
      },
      cache: { type: ['null', 'string'], enum: ['hit', 'miss', 'stale', null] },
      as_of: { ...nullableString, format: 'date-time', description: 'When the data was current.' },
      error: {
        type: 'object',
        additionalProperties: false,
        required: ['code', 'detail'],
        properties: { code: { type: 'string' }, detail: { type: 'string' } },
      },
      coverage: {
        type: 'object',
        additionalProperties: false,
        required: ['buckets', 'with_data'],
        description:
          'Only for a series answered from recorded history (Nansen): the buckets (days for 1d, hours for 1h) of the asked range, ' +
          'and those for which a qualifying snapshot was recorded. A bucket without one has no rows.',
        properties: { buckets: { type: 'integer' }, with_data: { type: 'integer' } },
      },
    },
  } as const;
  return {
    $id: 'NetflowsResponse',
    type: 'object',
    additionalProperties: false,
    required: ['data', 'next_cursor', 'complete', 'sources', 'warnings'],
    properties: {
      data: { type: 'array', items: row, description: 'The page: records, or with shape=wide one row per time bucket.' },
      next_cursor: { ...nullableString, description: 'Pass as `cursor` for the next page; null on the last page.' },
      complete: { type: 'boolean', description: 'False when any asked-for source is stale or error.' },
      sources: { type: 'array', items: sourceStatusSchema },
      warnings: { type: 'array', items: { type: 'string' } },
    },
  } as const;
}

/** `shape` and `measure`: how a series is laid out (the same for every registry). */
const LAYOUT_PARAMS = {
  shape: {
    type: 'string',
    enum: [...SHAPES],
    description:
      'Series only. long (default): one record per row. wide: one row per time bucket of the range, ascending, ' +
      '`{"time": <bucket start>, "<entity>:<asset>:<chain>": <number|null>, …}`, every row with every column of the whole answer (null where a series has no value): ' +
      "what Grafana's time-series panels and alert rules take. limit and cursor count time rows; sort is refused.",
    examples: ['wide'],
  },
  measure: {
    type: 'string',
    enum: [...WIDE_MEASURES],
    description: 'With shape=wide: the record field the cells hold, net_flow_usd (default) or net_flow_native (null for Nansen). Without shape=wide: a 400.',
    examples: ['net_flow_native'],
  },
} as const;

/** What a series asks for: its interval and range; or a snapshot as of a past time. */
const PERIOD_PARAMS = {
  interval: {
    type: 'string',
    enum: [...SERIES_INTERVALS],
    description:
      'Selects series mode, one row per period between start and end. 1d: daily rows (Coin Metrics; Nansen 24h windows from recorded snapshots). ' +
      '1h: hourly rows, Nansen only, from recorded snapshots. Exclusive with window.',
    examples: ['1d'],
  },
  start: instantParam(
    true,
    'First period of a series, included: epoch milliseconds, YYYY-MM-DD or RFC 3339, truncated to its UTC day (1d) or hour (1h). ' +
      'Default: end − 30 days (1d), end − 47 hours (1h).',
    '2026-10-01',
  ),
  end: instantParam(
    true,
    'Last period of a series, included, in the same forms. Default and latest: the latest complete UTC day (1d) or hour (1h). ' +
      'At most 366 days (1d) or 31 days (1h) after start.',
    '2026-10-31',
  ),
  as_of: instantParam(
    false,
    'A snapshot as it stood at a past time, epoch milliseconds or RFC 3339. Coin Metrics sums the complete days before its UTC day; ' +
      'Nansen answers from the latest snapshot recorded in the hour up to it (none: Nansen is skipped, or a 400 when named).',
    '2026-11-20T12:00:00Z',
  ),
} as const;

/** sort, limit, cursor and format. */
const PAGING = {
  sort: listParam(
    { type: 'string', enum: SORT_FIELDS.flatMap((f) => [f, `-${f}`]) },
    'Fields to sort by, - prefix for descending, nulls last, each once. Default: snapshot -net_flow_usd; series period_start,entity,asset. Not with shape=wide.',
    ['-net_flow_usd'],
  ),
  limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT, description: `Rows per page (time rows with shape=wide), 1–${MAX_LIMIT}.`, examples: [5] },
  cursor: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,200}$', description: 'Opaque next_cursor from a previous page of the same query.' },
  format: { type: 'string', enum: [...FORMATS], description: 'json (default), csv or ndjson; overrides Accept. Anything else is a 406.' },
} as const satisfies Record<(typeof PAGING_PARAMS)[number], JsonSchema>;

/**
 * The /netflows query, typed for clients (integers with bounds, booleans, enums from the
 * registry, comma lists as arrays): the common parameters, each source's own, then paging.
 */
export function netflowsQuerySchema(registry: Registry) {
  const common = {
    source: listParam(
      { type: 'string', enum: registry.map((d) => d.id) },
      'Sources to ask. Default: every enabled source. A named source that cannot answer is a 400; an unnamed one is skipped with a warning.',
    ),
    window: { type: 'string', enum: [...SNAPSHOT_WINDOWS], description: `Snapshot window (default 24h). ${WINDOW_RULE}`, examples: ['7d'] },
    ...PERIOD_PARAMS,
    ...LAYOUT_PARAMS,
    asset: listParam(
      { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$' },
      'Asset ids (btc, usdt_eth) or Nansen token symbols (uni), any case. Default: Coin Metrics the configured set, Nansen every token.',
      ['btc', 'eth'],
    ),
    entity: listParam(
      { type: 'string', enum: registry.flatMap((d) => d.catalog.entities.map((e) => e.entity)) },
      'Exchange slugs and smart-money cohorts (see /catalog). Default: every exchange and smart_money.',
      ['binance', 'smart_money:fund'],
    ),
    chain: listParam(
      { type: 'string', pattern: '^[A-Za-z0-9_]{1,32}$' },
      'Chain names (ethereum, solana, …). Coin Metrics rows are filtered by the chain of their asset.',
      ['ethereum'],
    ),
  } satisfies Record<(typeof COMMON_PARAMS)[number], JsonSchema>;
  const own = Object.assign({}, ...registry.map((d) => d.params.schemas)) as Record<string, JsonSchema>;
  return { type: 'object', additionalProperties: false, properties: { ...common, ...own, ...PAGING } } as const;
}

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
  503: problemResponse(
    'upstream_unavailable: an upstream is unreachable, its circuit is open, or its budget or credits are spent; ' +
      'history_unavailable: the answer needs the history store and the store is unreachable or still opening; see Retry-After',
  ),
  504: problemResponse('upstream_timeout: an upstream did not answer in time'),
};

/** The problem responses of a route that takes no parameters and calls no upstream. */
export const plainProblemResponses = {
  400: problemResponses[400],
  404: problemResponses[404],
  500: problemResponses[500],
};
