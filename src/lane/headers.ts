import { matches, type Rendered } from '../cache/rendered.js';

/** The headers of a kept answer that do not change from one request to the next, flat as writeHead takes them. */
export interface LaneHeaders {
  ok: readonly string[];
  notModified: readonly string[];
}

const blocks = new WeakMap<Rendered, LaneHeaders>();

/**
 * Made the first time the lane serves an answer and kept as long as the answer is: what the
 * route and Fastify's onSend hooks would add (Vary: Accept, and Accept-Encoding when the
 * body is big enough to be compressed for a caller who asks), besides the time-dependent
 * Age and Cache-Control and the per-request id and quota.
 */
export function laneHeaders(answer: Rendered, compressAbove: number): LaneHeaders {
  let block = blocks.get(answer);
  if (block) return block;
  const fixed = Object.entries(answer.headers).flat();
  const validators = ['etag', answer.etag];
  block = {
    ok: [
      ...fixed,
      'vary', answer.body.length >= compressAbove ? 'accept, accept-encoding' : 'accept',
      ...validators,
      'content-type', answer.contentType,
      'content-length', String(answer.body.length),
    ],
    notModified: [...fixed, 'vary', 'accept', ...validators],
  };
  blocks.set(answer, block);
  return block;
}

export function notModified(ifNoneMatch: string | undefined, answer: Rendered): boolean {
  return ifNoneMatch !== undefined && ifNoneMatch !== '' && matches(ifNoneMatch, answer);
}
