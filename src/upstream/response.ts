import type { SourceId } from '../model.js';
import { UpstreamError } from '../errors.js';

/** One upstream answer as the client read it: status, headers and the whole body. */
export interface UpstreamResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** Parses a JSON body; anything else (HTML, truncated JSON) is a malformed answer. */
export function parseJsonBody(source: SourceId, response: UpstreamResponse): unknown {
  try {
    return JSON.parse(response.body);
  } catch (error) {
    throw new UpstreamError(source, 'upstream_malformed', 'the upstream answered with a body that is not JSON', { cause: error });
  }
}

export function header(response: UpstreamResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** A header holding a whole number, or undefined. */
export function wholeHeader(response: UpstreamResponse, name: string): number | undefined {
  const value = header(response, name);
  return value !== undefined && /^\s*\d{1,15}\s*$/.test(value) ? Number(value) : undefined;
}

/** `Retry-After` as seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: number): number | undefined {
  if (value === undefined) return undefined;
  if (/^\s*\d+\s*$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : undefined;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A finite number from a number or a decimal string, else null. Never NaN or Infinity. */
export function finiteNumber(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value === 'string' && /^\s*-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$/.test(value)) {
    const n = Number(value);
    return Number.isFinite(n) ? n : null;
  }
  return null;
}
