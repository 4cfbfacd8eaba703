import { negotiateFormat, type Format } from '../netflows/format.js';

const ACCEPTS_KEPT = 64;
const byAccept = new Map<string, Format | undefined>();

/**
 * The format the route would negotiate for this URL and Accept, or undefined when the lane
 * should not guess: a URL with percent-encoding or `+` (the route's query parser decodes
 * those, the lane does not), a `format` given more than once, or nothing acceptable.
 */
export function formatOf(url: string, accept: string | undefined): Format | undefined {
  const query = url.indexOf('?');
  if (query !== -1 && (url.includes('%', query) || url.includes('+', query))) return undefined;
  const param = query === -1 || !url.includes('format=', query) ? undefined : formatParam(url.slice(query + 1));
  if (param === null) return undefined;
  if (param !== undefined) return param === 'json' || param === 'csv' || param === 'ndjson' ? param : undefined;
  return accept === undefined ? 'json' : acceptFormat(accept);
}

/** The one `format=` value, undefined when there is none, null when there are several. */
function formatParam(query: string): string | null | undefined {
  let value: string | null | undefined;
  for (const part of query.split('&')) {
    if (!part.startsWith('format=')) continue;
    if (value !== undefined) return null;
    value = part.slice('format='.length);
  }
  return value;
}

/** Accept headers repeat (a client sends the same one every time): negotiated once each, a few kept. */
function acceptFormat(accept: string): Format | undefined {
  if (byAccept.has(accept)) return byAccept.get(accept);
  let format: Format | undefined;
  try {
    format = negotiateFormat(undefined, accept);
  } catch {
    format = undefined;
  }
  if (byAccept.size >= ACCEPTS_KEPT) byAccept.clear();
  byAccept.set(accept, format);
  return format;
}
