import fastJson from 'fast-json-stringify';
import { ProblemError } from '../errors.js';
import { FORMATS, RECORD_FIELDS, type NetflowRecord } from '../model.js';
import { PROVIDERS } from '../providers/index.js';
import { netflowsResponseSchema, recordSchema, wideRowSchema } from '../schema/index.js';
import type { SourceStatus } from './service.js';
import type { WideRow } from './wide.js';

export type Format = (typeof FORMATS)[number];

export const CONTENT_TYPES: Record<Format, string> = {
  json: 'application/json; charset=utf-8',
  csv: 'text/csv; charset=utf-8; header=present',
  ndjson: 'application/x-ndjson; charset=utf-8',
};

// A Map: a media type a caller sends (`__proto__`, `constructor`) must not find Object.prototype's names.
const MEDIA_TYPES = new Map<string, Format>([
  ['application/json', 'json'],
  ['text/csv', 'csv'],
  ['application/x-ndjson', 'ndjson'],
  ['application/ndjson', 'ndjson'],
]);

/** `format` wins over `Accept`; no Accept means JSON; nothing acceptable is a 406. */
export function negotiateFormat(formatParam: unknown, accept: string | undefined): Format {
  if (formatParam !== undefined) {
    if (formatParam === 'json' || formatParam === 'csv' || formatParam === 'ndjson') return formatParam;
    throw new ProblemError('not_acceptable', '`format` must be json, csv or ndjson');
  }
  if (!accept || accept.trim() === '') return 'json';
  const ranges = accept
    .split(',')
    .map((part, index) => {
      const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      const weight = q ? Number(q.slice(2)) : 1;
      return { type, weight: Number.isFinite(weight) ? weight : 0, index };
    })
    .filter((r) => r.weight > 0)
    .sort((a, b) => b.weight - a.weight || specificity(b.type) - specificity(a.type) || a.index - b.index);
  for (const { type } of ranges) {
    const format = MEDIA_TYPES.get(type);
    if (format) return format;
    if (type === '*/*' || type === 'application/*') return 'json';
    if (type === 'text/*') return 'csv';
  }
  throw new ProblemError('not_acceptable', 'this resource is available as application/json, text/csv or application/x-ndjson');
}

function specificity(type: string): number {
  return type === '*/*' ? 0 : type.endsWith('/*') ? 1 : 2;
}

export interface Page {
  records: NetflowRecord[];
  /** shape=wide: written instead of `records`. */
  wide?: { columns: readonly string[]; rows: readonly WideRow[] };
  nextCursor: string | null;
  complete: boolean;
  sources: SourceStatus[];
  warnings: string[];
}

/**
 * The response schema doubles as a leak filter: only its fields are written. The writers
 * do not check enums, so the default registry's schemas serve any registry's records.
 */
const stringifyPage = fastJson(netflowsResponseSchema(PROVIDERS, { $ref: 'NetflowRecord#' }) as never, { schema: { NetflowRecord: recordSchema(PROVIDERS) as never } });
const stringifyRecord = fastJson(recordSchema(PROVIDERS) as never);
const stringifyWidePage = fastJson(netflowsResponseSchema(PROVIDERS, { $ref: 'NetflowsWideRow#' }) as never, { schema: { NetflowsWideRow: wideRowSchema as never } });
const stringifyWideRow = fastJson(wideRowSchema as never);

export function serialize(page: Page, format: Format): string {
  if (page.wide) return serializeWide(page, page.wide, format);
  switch (format) {
    case 'json':
      return stringifyPage({
        data: page.records,
        next_cursor: page.nextCursor,
        complete: page.complete,
        sources: page.sources,
        warnings: page.warnings,
      });
    case 'ndjson':
      return page.records.map((r) => stringifyRecord(r) + '\n').join('');
    case 'csv':
      return toCsv(page.records);
  }
}

/** shape=wide: the JSON envelope with wide rows as `data`; NDJSON one wide row a line; CSV `time` and the columns. */
function serializeWide(page: Page, wide: NonNullable<Page['wide']>, format: Format): string {
  switch (format) {
    case 'json':
      return stringifyWidePage({ data: wide.rows, next_cursor: page.nextCursor, complete: page.complete, sources: page.sources, warnings: page.warnings });
    case 'ndjson':
      return wide.rows.map((r) => stringifyWideRow(r) + '\n').join('');
    case 'csv':
      return toWideCsv(wide.columns, wide.rows);
  }
}

/** The wide table as RFC 4180 CSV: a header of `time` and the columns (defused as any text cell), then a line per bucket. */
export function toWideCsv(columns: readonly string[], rows: readonly WideRow[]): string {
  const names = ['time', ...columns];
  const lines = [names.map(csvCell).join(',')];
  for (const row of rows) lines.push(names.map((name) => csvCell(row[name] ?? null)).join(','));
  return lines.join('\r\n') + '\r\n';
}

/** RFC 4180: CRLF lines, a header row, quotes where needed; string cells a spreadsheet would run are defused. */
export function toCsv(records: readonly NetflowRecord[]): string {
  const lines = [RECORD_FIELDS.join(',')];
  for (const record of records) {
    lines.push(RECORD_FIELDS.map((field) => csvCell(record[field])).join(','));
  }
  return lines.join('\r\n') + '\r\n';
}

function csvCell(value: string | number | null | readonly string[]): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const text = neutralize(typeof value === 'string' ? value : value.join('|'));
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * A formula to a spreadsheet: = + - @ (or their fullwidth and small forms, which some
 * spreadsheets read as the same), tab or CR, first or after whitespace and invisible
 * characters (spaces, LF, NBSP, the other Unicode spaces, zero-width characters, BOM).
 */
const FORMULA = /^[\s\u200b-\u200d\u2060]*[=+\-@\t\r\uff1d\uff0b\uff0d\uff20\ufe62\ufe63\ufe66\ufe6b]/u;

/** A text cell a spreadsheet would run as a formula gets a leading ' that keeps it text (OWASP). */
export function neutralize(text: string): string {
  return FORMULA.test(text) ? `'${text}` : text;
}

/** Source statuses as one header value: `coinmetrics;status=ok;cache=miss, nansen;status=skipped` (RFC 8941 list). */
export function sourcesHeader(sources: readonly SourceStatus[]): string {
  return sources.map((s) => `${s.source};status=${s.status}${s.cache ? `;cache=${s.cache}` : ''}`).join(', ');
}
