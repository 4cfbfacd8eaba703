import { createHash } from 'node:crypto';
import { invalidParameter } from '../errors.js';

/**
 * A cursor is base64url JSON `{ o: offset, q: hash of the question }`. The hash binds it
 * to the query it came from, so reusing it with other parameters is caught, not obeyed.
 */
export function encodeCursor(offset: number, fingerprint: string): string {
  return Buffer.from(JSON.stringify({ o: offset, q: questionHash(fingerprint) })).toString('base64url');
}

export function decodeCursor(cursor: string, fingerprint: string): number {
  let parsed: unknown;
  try {
    if (cursor.length > 200 || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw new Error('shape');
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidParameter('cursor', '`cursor` is not a cursor this gateway issued');
  }
  const { o, q } = (parsed ?? {}) as { o?: unknown; q?: unknown };
  if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0 || typeof q !== 'string') {
    throw invalidParameter('cursor', '`cursor` is not a cursor this gateway issued');
  }
  if (q !== questionHash(fingerprint)) {
    throw invalidParameter('cursor', '`cursor` belongs to a different query; repeat the original parameters with it, or drop it');
  }
  return o;
}

function questionHash(fingerprint: string): string {
  return createHash('sha256').update(fingerprint).digest('base64url').slice(0, 16);
}
