import type { FastifyInstance, FastifyReply } from 'fastify';

/** Answers of these types are compressed for callers that accept it. */
export const COMPRESSIBLE_TYPES = /^(?:text\/|application\/(?:[\w.+-]+\+)?json\b|application\/(?:x-)?ndjson\b|application\/javascript\b|image\/svg\+xml\b)/i;

/** Adds `field` to the answer's Vary, keeping what others put there (CORS adds Origin). */
export function addVary(reply: FastifyReply, field: string): void {
  const current = reply.getHeader('vary');
  const fields = (Array.isArray(current) ? current.join(',') : String(current ?? ''))
    .split(',')
    .map((f) => f.trim())
    .filter(Boolean);
  if (fields.some((f) => f === '*' || f.toLowerCase() === field.toLowerCase())) return;
  reply.header('vary', [...fields, field].join(', '));
}

/**
 * An answer that would be compressed for a caller who accepts it says so in Vary even when
 * it goes out uncompressed, so a shared cache does not hand it to a caller who asked for
 * gzip (or the reverse). Runs before the compression's own hook, which adds the same field.
 */
export function varyOnEncoding(app: FastifyInstance, thresholdBytes: number): void {
  app.addHook('onSend', async (_request, reply, payload) => {
    if (couldCompress(reply, payload, thresholdBytes)) addVary(reply, 'accept-encoding');
    return payload;
  });
}

function couldCompress(reply: FastifyReply, payload: unknown, thresholdBytes: number): boolean {
  if (payload === null || payload === undefined || reply.statusCode === 204 || reply.statusCode === 206) return false;
  if (reply.hasHeader('content-encoding') || !COMPRESSIBLE_TYPES.test(String(reply.getHeader('content-type') ?? 'application/json'))) return false;
  if (typeof (payload as { pipe?: unknown }).pipe === 'function') return true;
  return (typeof payload === 'string' || Buffer.isBuffer(payload)) && Buffer.byteLength(payload) >= thresholdBytes;
}
