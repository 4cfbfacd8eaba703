// Parsing of the /timeseries/asset-metrics query string, with Coin Metrics' own
// bad_parameter messages where the API documents them.
import { isKnownMetric } from './coinmetrics-data.js';

/** A 400 bad_parameter; the message is what the API sends. */
export class BadParameter extends Error {}

export type PagingFrom = 'start' | 'end';

export interface AssetMetricsQuery {
  /** Lower-cased, de-duplicated ids in request order, or '*' for every asset. */
  assets: string[] | '*';
  metrics: string[];
  /** Instants in ns since the epoch. */
  start: bigint | undefined;
  end: bigint | undefined;
  startInclusive: boolean;
  endInclusive: boolean;
  pageSize: number;
  pagingFrom: PagingFrom;
  nextPageToken: string | undefined;
  ignoreUnsupported: boolean;
  pretty: boolean;
}

export const MAX_PAGE_SIZE = 10_000;
const DEFAULT_PAGE_SIZE = 100;
const FREQUENCIES = ['1b', '1s', '1m', '5m', '10m', '1h', '1d', '1d-ny-close'];
const SUPPORTED_FREQUENCY = '1d';

const SUPPORTED_TIME_FORMATS = [
  'yyyy-MM-dd', 'yyyyMMdd', 'yyyy-MM-ddTHH:mm:ss', 'yyyy-MM-ddTHHmmss',
  'yyyy-MM-ddTHH:mm:ss.SSS', 'yyyy-MM-ddTHHmmss.SSS', 'yyyy-MM-ddTHH:mm:ss.SSSSSS',
  'yyyy-MM-ddTHHmmss.SSSSSS', 'yyyy-MM-ddTHH:mm:ss.SSSSSSSSS', 'yyyy-MM-ddTHHmmss.SSSSSSSSS',
].map((format) => `'${format}'`).join(', ');

export function parseAssetMetricsQuery(params: URLSearchParams): AssetMetricsQuery {
  const assets = requiredList(params, 'assets');
  const metrics = requiredList(params, 'metrics');
  checkFrequency(params.get('frequency') ?? SUPPORTED_FREQUENCY);
  checkFormat(params.get('format'));
  const query: AssetMetricsQuery = {
    assets: assets.includes('*') ? '*' : unique(assets.map((id) => id.toLowerCase())),
    metrics: unique(metrics),
    start: optionalTime(params, 'start_time'),
    end: optionalTime(params, 'end_time'),
    startInclusive: booleanParam(params, 'start_inclusive', true),
    endInclusive: booleanParam(params, 'end_inclusive', true),
    pageSize: pageSizeParam(params.get('page_size')),
    pagingFrom: pagingFromParam(params.get('paging_from')),
    nextPageToken: params.get('next_page_token') ?? undefined,
    ignoreUnsupported: booleanParam(params, 'ignore_unsupported_errors', false),
    pretty: booleanParam(params, 'pretty', false),
  };
  booleanParam(params, 'ignore_forbidden_errors', false);
  const unknownMetric = query.metrics.find((metric) => !isKnownMetric(metric));
  if (unknownMetric !== undefined) throw new BadParameter(`Bad parameter 'metrics'. Value '${unknownMetric}' is not supported.`);
  return query;
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const COMPACT_DATE = /^(\d{4})(\d{2})(\d{2})$/;
// Group 5 captures the optional colon so that both separators must agree.
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})(:?)(\d{2})\5(\d{2})(?:\.(\d{3}|\d{6}|\d{9}))?Z?$/;

/** Parses one of the documented time formats into ns since the epoch (UTC; a trailing Z is optional). */
export function parseCmTime(text: string): bigint | null {
  const match = DATE.exec(text) ?? COMPACT_DATE.exec(text) ?? DATE_TIME.exec(text);
  if (!match) return null;
  const [year, month, day, hour, minute, second] = [1, 2, 3, 4, 6, 7].map((i) => Number(match[i] ?? 0)) as [number, number, number, number, number, number];
  const ms = Date.UTC(year, month - 1, day, hour, minute, second);
  const date = new Date(ms);
  const valid =
    date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day &&
    date.getUTCHours() === hour && date.getUTCMinutes() === minute && date.getUTCSeconds() === second;
  if (!valid) return null;
  const fractionNs = BigInt((match[8] ?? '').padEnd(9, '0'));
  return BigInt(ms) * 1_000_000n + fractionNs;
}

function requiredList(params: URLSearchParams, name: string): string[] {
  const items = (params.get(name) ?? '').split(',').map((item) => item.trim()).filter((item) => item !== '');
  if (items.length === 0) throw new BadParameter(`Bad parameter '${name}'. Missing required parameter.`);
  return items;
}

function checkFrequency(frequency: string): void {
  if (frequency === SUPPORTED_FREQUENCY) return;
  if (FREQUENCIES.includes(frequency)) {
    throw new BadParameter(`Bad parameter 'frequency'. Requested metrics aren't supported with frequency '${frequency}'.`);
  }
  throw new BadParameter(`Bad parameter 'frequency'. Value '${frequency}' is not supported.`);
}

function checkFormat(format: string | null): void {
  if (format !== null && format !== 'json') {
    throw new BadParameter(`Bad parameter 'format'. Value '${format}' is not supported by the simulator.`);
  }
}

function optionalTime(params: URLSearchParams, name: string): bigint | undefined {
  const text = params.get(name);
  if (text === null) return undefined;
  const ns = parseCmTime(text);
  if (ns === null) {
    throw new BadParameter(`Bad parameter '${name}'. Incorrect time format '${text}'. Supported formats are ${SUPPORTED_TIME_FORMATS}.`);
  }
  return ns;
}

function booleanParam(params: URLSearchParams, name: string, fallback: boolean): boolean {
  const text = params.get(name);
  if (text === null) return fallback;
  if (text === 'true' || text === 'false') return text === 'true';
  throw new BadParameter(`Bad parameter '${name}'. Must be 'true' or 'false'.`);
}

function pageSizeParam(text: string | null): number {
  if (text === null) return DEFAULT_PAGE_SIZE;
  if (!/^\d+$/.test(text)) throw new BadParameter(`Bad parameter 'page_size'. Must be an integer.`);
  const size = Number(text);
  if (size < 1) throw new BadParameter(`Bad parameter 'page_size'. Must be at least 1.`);
  if (size > MAX_PAGE_SIZE) throw new BadParameter(`Bad parameter 'page_size'. Must be at most ${MAX_PAGE_SIZE}.`);
  return size;
}

function pagingFromParam(text: string | null): PagingFrom {
  if (text === null) return 'end';
  if (text === 'start' || text === 'end') return text;
  throw new BadParameter(`Bad parameter 'paging_from'. Must be one of 'start', 'end'.`);
}

function unique<T>(items: T[]): T[] {
  return [...new Set(items)];
}
