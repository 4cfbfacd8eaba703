// The question the page asks, as /netflows parameters, a curl line and a Grafana URL.
// No DOM here: the unit tests run it in Node.

export type Mode = 'snapshot' | 'series';

export interface Question {
  mode: Mode;
  /** '' = every enabled source. */
  source: string;
  /** Snapshot window (1h, 24h, 7d, 30d). */
  window: string;
  /** Series interval (1d, 1h). */
  interval: string;
  /** Empty = the gateway's default (every exchange, and smart_money). */
  entities: readonly string[];
  /** Empty = the gateway's default. */
  assets: readonly string[];
  /** '' = every chain. */
  chain: string;
  /** Snapshot only; '' = the gateway's default (-net_flow_usd). */
  sort: string;
  limit: number;
}

/** Series are fetched in pages this large; Grafana asks for one page this large. */
export const SERIES_LIMIT = 1000;

/** The /netflows parameters of a question, in a stable order. */
export function parameters(question: Question, cursor?: string): [string, string][] {
  const params: [string, string][] = [];
  if (question.source) params.push(['source', question.source]);
  if (question.mode === 'snapshot') params.push(['window', question.window]);
  else params.push(['interval', question.interval]);
  if (question.entities.length > 0) params.push(['entity', question.entities.join(',')]);
  if (question.assets.length > 0) params.push(['asset', question.assets.join(',')]);
  if (question.chain) params.push(['chain', question.chain]);
  if (question.mode === 'snapshot' && question.sort) params.push(['sort', question.sort]);
  params.push(['limit', String(question.mode === 'series' ? SERIES_LIMIT : question.limit)]);
  if (cursor) params.push(['cursor', cursor]);
  return params;
}

/** `/netflows?…`, with commas and colons left readable. */
export function netflowsPath(question: Question, cursor?: string): string {
  return `/netflows?${queryString(parameters(question, cursor))}`;
}

/**
 * A line to paste into a shell. The token itself never goes into the clipboard: the line reads it
 * from $NETFLOWS_TOKEN. `'` is percent-encoded, so no value can end the single-quoted URL.
 */
export function curlLine(origin: string, question: Question, withToken: boolean): string {
  const auth = withToken ? `-H "Authorization: Bearer $NETFLOWS_TOKEN" ` : '';
  return `curl ${auth}'${origin}${netflowsPath(question)}'`;
}

/**
 * The URL for a Grafana Infinity query (root selector `data`). A series takes the dashboard's time
 * range as epoch milliseconds (contract §3.1); the caller token belongs in the data source, not here.
 */
export function grafanaUrl(origin: string, question: Question): string {
  const params = parameters({ ...question, limit: SERIES_LIMIT });
  const range = question.mode === 'series' ? '&start=${__from}&end=${__to}' : '';
  return `${origin}/netflows?${queryString(params)}${range}`;
}

/** Splits a comma or space separated list typed by a person; lower-cases, drops blanks and repeats. */
export function splitList(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).map((s) => s.trim().toLowerCase()).filter(Boolean))];
}

function queryString(params: readonly [string, string][]): string {
  return params.map(([name, value]) => `${name}=${encodeValue(value)}`).join('&');
}

function encodeValue(value: string): string {
  return encodeURIComponent(value).replace(/%2C/g, ',').replace(/%3A/g, ':').replace(/'/g, '%27');
}
