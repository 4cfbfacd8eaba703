import { createHash } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { encodeCursor } from '../netflows/cursor.js';
import { CONTENT_TYPES, negotiateFormat, serialize, sourcesHeader } from '../netflows/format.js';
import { parseNetflowsQuery, type RawQuery } from '../netflows/query.js';
import type { NetflowsService, SourceStatus } from '../netflows/service.js';
import { netflowsQuerySchema, problemResponses, WINDOW_RULE } from '../schema/index.js';
import type { Clock } from '../time.js';

export interface NetflowsRouteOptions {
  service: NetflowsService;
  clock: Clock;
  /** Bound on one whole /netflows request: every page and upstream call inside it (ms). */
  deadlineMs: number;
}

export const netflowsRoute: FastifyPluginAsync<NetflowsRouteOptions> = async (app, { service, clock, deadlineMs }) => {
  app.get(
    '/netflows',
    {
      schema: {
        summary: 'Net flows from Coin Metrics (exchanges) and Nansen (smart money), in one record schema',
        description:
          'Snapshot mode (window=…, the default) gives one row per source × entity × asset with the flow over the trailing window. ' +
          `Series mode (interval=1d) gives daily Coin Metrics rows between start and end. ${WINDOW_RULE} ` +
          'net_flow_* is the net amount flowing into the entity: positive means the entity\'s holdings grew, for both sources. ' +
          'Rows are merged from every source, sorted (nulls last) and paged with an opaque cursor.',
        querystring: netflowsQuerySchema,
        response: {
          200: {
            description: 'A page of rows (JSON), or the same rows as CSV or NDJSON.',
            content: {
              'application/json': { schema: { $ref: 'NetflowsResponse#' } },
              'text/csv': { schema: { type: 'string' } },
              'application/x-ndjson': { schema: { type: 'string' } },
            },
          },
          304: { description: 'Not modified (If-None-Match matched the ETag).', type: 'null' },
          ...problemResponses,
        },
      },
    },
    async (request, reply) => {
      const query = request.query as RawQuery;
      const format = negotiateFormat(query.format, request.headers.accept);
      const parsed = parseNetflowsQuery(query, clock());
      const answer = await service.answer(parsed, AbortSignal.timeout(deadlineMs));
      const nextCursor = answer.nextOffset === null ? null : encodeCursor(answer.nextOffset, parsed.fingerprint);
      const body = serialize({ ...answer, nextCursor }, format);
      const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`;

      reply.header('etag', etag);
      reply.header('cache-control', `max-age=${Math.max(0, Math.floor((answer.freshUntil - clock()) / 1000))}`);
      reply.header('cache-status', cacheStatus(answer.sources));
      reply.header('netflows-complete', String(answer.complete));
      reply.header('netflows-sources', sourcesHeader(answer.sources));
      reply.header('vary', 'accept');
      if (nextCursor) reply.header('link', `<${nextLink(request.url, nextCursor)}>; rel="next"`);
      if (ifNoneMatch(request.headers['if-none-match'], etag)) return reply.code(304).send();
      return reply.type(CONTENT_TYPES[format]).send(body);
    },
  );
};

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

/** The request's own URL with `cursor` replaced, so every other parameter reads as the caller wrote it. */
function nextLink(url: string, cursor: string): string {
  const [path = '/netflows', search = ''] = url.split('?', 2);
  const kept = search.split('&').filter((part) => part !== '' && !part.startsWith('cursor='));
  return `${path}?${[...kept, `cursor=${cursor}`].join('&')}`;
}

function ifNoneMatch(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  return header.split(',').some((tag) => {
    const t = tag.trim();
    return t === '*' || t === etag || t === `W/${etag}`;
  });
}
