import { describe, expect, it } from 'vitest';
import { ProblemError } from '../../src/errors.js';
import { negotiateFormat, neutralize, serialize, toCsv } from '../../src/netflows/format.js';
import { RECORD_FIELDS, type NetflowRecord } from '../../src/model.js';

const record: NetflowRecord = {
  source: 'nansen',
  entity_type: 'smart_money',
  entity: 'smart_money',
  asset: 'uni',
  chain: 'ethereum',
  token_address: '0x1f98',
  window: '24h',
  period_start: '2026-11-20T10:00:00Z',
  period_end: '2026-11-21T10:00:00Z',
  net_flow_native: null,
  net_flow_usd: -62934.5,
  market_cap_usd: 5446144823.37,
  trader_count: 18,
  token_age_days: 2198,
  token_sectors: ['Decentralised Exchanges', 'Yield, Bearing'],
};

describe('negotiateFormat', () => {
  it.each([
    [undefined, undefined, 'json'],
    [undefined, '*/*', 'json'],
    [undefined, 'text/csv', 'csv'],
    [undefined, 'application/x-ndjson', 'ndjson'],
    [undefined, 'text/html;q=0.9, text/csv;q=0.8', 'csv'],
    [undefined, 'application/json;q=0.5, text/csv', 'csv'],
    [undefined, 'text/*', 'csv'],
    ['ndjson', 'text/csv', 'ndjson'],
    ['csv', undefined, 'csv'],
  ])('format=%s Accept=%s → %s', (format, accept, expected) => {
    expect(negotiateFormat(format, accept)).toBe(expected);
  });

  it.each([
    ['xml', undefined],
    [undefined, 'text/html'],
    [undefined, 'application/xml, image/png'],
    [undefined, 'text/csv;q=0'],
    // Names of Object.prototype: a 500 the fuzz test found.
    [undefined, '__proto__'],
    [undefined, 'constructor'],
    [undefined, 'hasOwnProperty, toString'],
  ])('format=%s Accept=%s → 406', (format, accept) => {
    expect(() => negotiateFormat(format, accept)).toThrow(ProblemError);
    try {
      negotiateFormat(format, accept);
    } catch (error) {
      expect((error as ProblemError).toProblem()).toMatchObject({ status: 406, code: 'not_acceptable' });
    }
  });
});

describe('CSV', () => {
  it('has the record fields as columns in contract order, CRLF lines, sectors joined by |', () => {
    const csv = toCsv([record]);
    const [header, line, end] = csv.split('\r\n');
    expect(header).toBe(RECORD_FIELDS.join(','));
    expect(line).toBe(
      'nansen,smart_money,smart_money,uni,ethereum,0x1f98,24h,2026-11-20T10:00:00Z,2026-11-21T10:00:00Z,,-62934.5,5446144823.37,18,2198,"Decentralised Exchanges|Yield, Bearing"',
    );
    expect(end).toBe('');
  });

  it.each(['=HYPERLINK("http://x")', '+1+2', '-2+3', '@SUM(A1)', '\tcmd', '\rcmd'])('neutralises the formula cell %j', (text) => {
    expect(neutralize(text)).toBe(`'${text}`);
    const csv = toCsv([{ ...record, token_sectors: [text] }]);
    const lastCell = csv.split('\r\n')[1]!.split(',').slice(14).join(',');
    expect(lastCell.replace(/^"|"$/g, '').replace(/""/g, '"')).toBe(`'${text}`);
  });

  it.each([
    ' =hyperlink("http://evil.example","x")',
    '\n=1+1',
    '\u00a0@SUM(A1)',
    '\u3000\u2003-2+3',
    ' \t+cmd',
    '\uff1dHYPERLINK("http://evil.example")',
    '\uff0b1',
    '\uff0d1',
    '\uff20SUM(A1)',
    '\ufe62\ufe63\ufe66\ufe6b',
    '\u200b\ufeff=1',
  ])('neutralises the formula behind whitespace or in fullwidth form %j (regression: they passed)', (text) => {
    expect(neutralize(text)).toBe(`'${text}`);
  });

  it.each(['Decentralised Exchanges', 'AI', ' Layer 1', 'x=1', 'a-b', '\u00a0'])('leaves the plain text %j alone', (text) => {
    expect(neutralize(text)).toBe(text);
  });

  it('leaves numbers, including negative ones, as numbers', () => {
    const line = toCsv([record]).split('\r\n')[1]!;
    expect(line).toContain(',-62934.5,');
    expect(line).not.toContain("'-62934.5");
  });

  it('quotes cells holding quotes and newlines', () => {
    const line = toCsv([{ ...record, token_sectors: ['say "hi"\nnow'] }]);
    expect(line).toContain('"say ""hi""\nnow"');
  });
});

describe('serialize', () => {
  it('writes only the fields of the response schema', () => {
    const leaky = { ...record, api_key: 'secret' } as NetflowRecord;
    const body = serialize({ records: [leaky], nextCursor: null, complete: true, sources: [], warnings: [] }, 'json');
    expect(body).not.toContain('secret');
    expect(Object.keys(JSON.parse(body).data[0])).toEqual([...RECORD_FIELDS]);
  });

  it('writes one record per line as NDJSON', () => {
    const body = serialize({ records: [record, record], nextCursor: null, complete: true, sources: [], warnings: [] }, 'ndjson');
    const lines = body.split('\n');
    expect(lines).toHaveLength(3);
    expect(JSON.parse(lines[1]!)).toEqual(record);
  });
});
