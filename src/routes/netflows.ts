import { createHash } from 'node:crypto';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest, FastifySchema, FastifySchemaCompiler } from 'fastify';
import { KeptAnswer, matches, type Rendered, type RenderedCache } from '../cache/rendered.js';
import { encodeCursor } from '../netflows/cursor.js';
import { CONTENT_TYPES, negotiateFormat, serialize, sourcesHeader, type Format } from '../netflows/format.js';
import { parseNetflowsQuery, rejectStrays, type QueryRules, type RawQuery } from '../netflows/query.js';
import type { Admission, NetflowsAnswer, NetflowsService, SourceStatus } from '../netflows/service.js';
import { addVary } from '../plugins/vary.js';
import { problemResponses, WINDOW_RULE, type netflowsQuerySchema } from '../schema/index.js';
import type { Clock } from '../time.js';

export interface NetflowsRouteOptions {
  service: NetflowsService;
  clock: Clock;
  /** Bound on one whole /netflows request: every page and upstream call inside it (ms). */
  deadlineMs: number;
  rendered: RenderedCache;
  /** Caller tokens are on: answers are per caller, so shared caches must not keep them. */
  privateCache: boolean;
  /** Told whether a kept answer was served again. */
  onKeptAnswer?: (hit: boolean) => void;
  /** How a caller's question is admitted at its planned cost (its credit allowance); default: free. */
  admit?: (caller: string | undefined) => Admission;
  /** The registry's query schema, query rules and sign rule. */
  querySchema: ReturnType<typeof netflowsQuerySchema>;
  rules: QueryRules;
  signRule: string;
}

export const netflowsRoute: FastifyPluginAsync<NetflowsRouteOptions> = async (app, options) => {
  const { service, clock, rendered, deadlineMs, privateCache, onKeptAnswer = () => {}, admit, rules } = options;
  const send = (reply: FastifyReply, answer: Rendered, ifNoneMatch: string | undefined) => sendRendered(reply, answer, ifNoneMatch, clock(), privateCache);
  const servedAgain = (request: FastifyRequest, reply: FastifyReply, kept: KeptAnswer) => {
    onKeptAnswer(true);
    request.cacheOutcome = 'hit';
    return send(reply, kept.answer, request.headers['if-none-match']);
  };

  app.get('/netflows', { schema: routeSchema(options.querySchema, options.signRule), validatorCompiler: queryValidator }, async (request, reply) => {
    const query = request.query as RawQuery;
    const format = negotiateFormat(query.format, request.headers.accept);
    // By the negotiated format, not the raw Accept: a caller cannot make keys by spelling it anew.
    const requestKey = `${format}\n${request.url}`;
    const kept = rendered.get(requestKey);
    if (kept) return servedAgain(request, reply, kept);

    const parsed = parseNetflowsQuery(query, clock(), rules);
    const questionKey = `${format}|${parsed.query.offset}|${parsed.fingerprint}`;
    const same = rendered.get(questionKey);
    if (same) {
      rendered.set([requestKey], same);
      return servedAgain(request, reply, same);
    }

    onKeptAnswer(false);
    const answer = await service.answer(parsed, AbortSignal.timeout(deadlineMs), admit?.(request.caller));
    request.plannedCost = answer.planned;
    request.cacheOutcome = answer.sources.flatMap((s) => (s.cache ? [`${s.source}:${s.cache}`] : s.status === 'error' ? [`${s.source}:error`] : [])).join(',');
    const nextCursor = answer.nextOffset === null ? null : encodeCursor(answer.nextOffset, parsed.fingerprint);
    const link = nextCursor ? `<${nextLink(request.routeOptions.url ?? '/netflows', query, nextCursor)}>; rel="next"` : undefined;
    const fresh = render(answer, format, nextCursor, link);
    if (answer.complete) rendered.set([requestKey, questionKey], keptAnswer(answer, fresh, format, nextCursor, link));
    return send(reply, fresh, request.headers['if-none-match']);
  });
};

/**
 * The query schema tells clients what the values are (integers, booleans, comma lists as
 * arrays); on the wire they are text, which the parser reads, naming the parameter at fault.
 * So the schema is not run as such: in its place, an unknown or repeated parameter is a 400
 * before anything else, as Ajv's would be.
 */
const queryValidator: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) => {
  if (httpPart !== 'querystring') return () => true;
  const known = Object.keys((schema as { properties: Record<string, unknown> }).properties);
  return (query) => {
    try {
      rejectStrays((query ?? {}) as RawQuery, known);
      return true;
    } catch (error) {
      return { error: error as Error };
    }
  };
};

/** The route's schema: its query from the registry, its description with the one sign rule. */
function routeSchema(querySchema: NetflowsRouteOptions['querySchema'], signRule: string): FastifySchema {
  return {
    summary: 'Net flows from Coin Metrics (exchanges) and Nansen (smart money), in one record schema',
    operationId: 'getNetflows',
    tags: ['netflows'],
    security: [{ bearer: [] }, {}],
    description:
      'Snapshot mode (window=…, the default) gives one row per source × entity × asset with the flow over the trailing window; ' +
      'with as_of, the leaderboard as it stood at a past time. ' +
      'Series mode (interval=1d or 1h) gives one row per period between start and end: daily Coin Metrics rows, and Nansen rows built ' +
      'from the snapshots the gateway recorded (1h: the 1h window of the earliest snapshot in the 10 minutes after each hour; ' +
      '1d: the 24h window of the earliest in the hour after each UTC day); sources[].coverage says how many periods had one. ' +
      `${WINDOW_RULE} ` +
      `Sign rule: ${signRule} ` +
      'Rows are merged from every source, sorted (nulls last) and paged with an opaque cursor. ' +
      'Examples: `?window=7d&limit=5` (the weekly leaderboard across both sources); ' +
      '`?interval=1d&asset=btc&entity=binance&start=2026-10-01&end=2026-10-31` (31 daily rows); ' +
      '`?interval=1d&asset=btc&entity=binance,coinbase&shape=wide` (one row per day, one numeric column per exchange: what charting tools take); ' +
      '`?interval=1h&source=nansen&asset=uni` (the last 48 hours of smart-money flows into UNI, from recorded history); ' +
      '`?window=24h&entity=smart_money:fund,binance&format=csv` (a spreadsheet); ' +
      '`?source=nansen&chain=solana&sort=-trader_count&limit=20` (where smart money crowds on Solana).',
    querystring: querySchema,
    response: {
      200: {
        description: 'A page of rows (JSON), or the same rows as CSV or NDJSON.',
        headers: ANSWER_HEADERS,
        content: {
          'application/json': { schema: { $ref: 'NetflowsResponse#' } },
          'text/csv': { schema: { type: 'string' } },
          'application/x-ndjson': { schema: { type: 'string' } },
        },
      },
      304: { description: 'Not modified (If-None-Match matched the ETag).', type: 'null' },
      ...problemResponses,
    },
  };
}

/**
 * A complete answer, kept for as long as its data is fresh. Served again it says `hit` for
 * every source; the ETag of the answer that said `miss` still matches it.
 */
function keptAnswer(answer: NetflowsAnswer, fresh: Rendered, format: Format, nextCursor: string | null, link: string | undefined): KeptAnswer {
  const allHits = answer.sources.every((s) => s.cache === null || s.cache === 'hit');
  const asHit = () => render({ ...answer, sources: answer.sources.map((s) => (s.cache === null ? s : { ...s, cache: 'hit' })) }, format, nextCursor, link, [fresh.etag]);
  const bytes = allHits ? fresh.body.length : fresh.body.length + answerBytes(fresh.body.length, format);
  return new KeptAnswer(allHits ? () => fresh : asHit, bytes, answer.storedAt, answer.freshUntil);
}

function render(answer: NetflowsAnswer, format: Format, nextCursor: string | null, link: string | undefined, alsoMatches: string[] = []): Rendered {
  const body = Buffer.from(serialize({ ...answer, nextCursor }, format));
  return {
    body,
    etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
    alsoMatches,
    contentType: CONTENT_TYPES[format],
    headers: {
      'cache-status': cacheStatus(answer.sources),
      'netflows-complete': String(answer.complete),
      'netflows-sources': sourcesHeader(answer.sources),
      ...(link ? { link } : {}),
    },
    storedAt: answer.storedAt,
    freshUntil: answer.freshUntil,
  };
}

/** The answer with its validators and freshness as of `now`, or a 304 when the caller holds it. */
function sendRendered(reply: FastifyReply, answer: Rendered, ifNoneMatch: string | undefined, now: number, privateCache: boolean) {
  reply.headers(answer.headers);
  addVary(reply, 'accept');
  reply.header('etag', answer.etag);
  reply.header('age', String(Math.max(0, Math.floor((now - answer.storedAt) / 1000))));
  const maxAge = Math.max(0, Math.floor((answer.freshUntil - now) / 1000));
  reply.header('cache-control', privateCache ? `private, max-age=${maxAge}` : `max-age=${maxAge}`);
  if (ifNoneMatch && matches(ifNoneMatch, answer)) return reply.code(304).send();
  return reply.type(answer.contentType).send(answer.body);
}

const header = (description: string) => ({ type: 'string', description });

const ANSWER_HEADERS = {
  ETag: header('Strong validator of this answer; send it back as If-None-Match for a 304.'),
  'Cache-Control': header('max-age = seconds the data stays fresh; private when caller tokens are on.'),
  Age: header('Seconds since the oldest data in the answer was fetched from its upstream.'),
  'Cache-Status': header('RFC 9211, per source: hit, fwd=uri-miss; stored, or hit; detail=stale-if-error.'),
  Link: header('<…&cursor=…>; rel="next" when there is a next page.'),
  'Netflows-Complete': header('false when an asked-for source is stale or failed.'),
  'Netflows-Sources': header('Per source: status and cache outcome, e.g. coinmetrics;status=ok;cache=hit.'),
  'X-Request-Id': header('The request id: the caller\'s own X-Request-Id when it sent a usable one.'),
  RateLimit: header('With caller tokens: what is left of the tightest quota window (draft-ietf-httpapi-ratelimit-headers).'),
  'RateLimit-Policy': header('With caller tokens: the caller\'s quota windows.'),
};

/**
 * Heap an answer's records take until the kept answer is rendered as a hit, from the size
 * of the body made of them: as the upstream cache counts, twice their JSON; a CSV body is a
 * third to a half of the JSON of the same rows.
 */
function answerBytes(bodyBytes: number, format: Format): number {
  return 2 * (format === 'csv' ? 3 * bodyBytes : bodyBytes);
}

/** RFC 9211, one member per source that answered. */
function cacheStatus(sources: readonly SourceStatus[]): string {
  return sources
    .filter((s) => s.cache !== null)
    .map((s) => {
      if (s.cache === 'hit') return `netflows-${s.source}; hit`;
      if (s.cache === 'stale') return `netflows-${s.source}; hit; detail=${s.status === 'stale' ? 'stale-if-error' : 'stale-while-revalidate'}`;
      return `netflows-${s.source}; fwd=uri-miss; stored`;
    })
    .join(', ');
}

/**
 * The next page: the caller's parameters as parsed (never the raw URL), every name and
 * value percent-encoded, with `cursor` replaced; nothing a caller sends can end the target.
 */
export function nextLink(path: string, query: RawQuery, cursor: string): string {
  const params = Object.entries(query).flatMap(([name, value]) =>
    name === 'cursor' || typeof value !== 'string' ? [] : [`${encodeURIComponent(name)}=${encodeURIComponent(value)}`],
  );
  return `${path}?${[...params, `cursor=${encodeURIComponent(cursor)}`].join('&')}`;
}
