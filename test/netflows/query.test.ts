import { describe, expect, it } from 'vitest';
import { ProblemError } from '../../src/errors.js';
import { encodeCursor } from '../../src/netflows/cursor.js';
import { parseNetflowsQuery, type RawQuery } from '../../src/netflows/query.js';

const now = Date.parse('2026-11-21T10:00:00Z');
const day = (d: string) => Date.parse(`${d}T00:00:00Z`);
const hour = (h: string) => Date.parse(`${h}:00:00Z`);

function problemOf(raw: RawQuery): { param?: string; detail: string; code: string } {
  try {
    parseNetflowsQuery(raw, now);
  } catch (error) {
    expect(error).toBeInstanceOf(ProblemError);
    const p = (error as ProblemError).toProblem();
    return { param: p.param, detail: p.detail, code: p.code };
  }
  throw new Error(`expected ${JSON.stringify(raw)} to be rejected`);
}

describe('parseNetflowsQuery', () => {
  it('defaults to a 24h snapshot sorted by -net_flow_usd, 100 rows', () => {
    const { query, warnings } = parseNetflowsQuery({}, now);
    expect(query).toMatchObject({ mode: 'snapshot', window: '24h', limit: 100, offset: 0, sources: undefined, assets: undefined });
    expect(query.sort).toEqual([{ field: 'net_flow_usd', descending: true }]);
    expect(warnings).toEqual([]);
  });

  it('defaults a series to the 30 days before the latest complete day, sorted by period_start,entity,asset', () => {
    const { query } = parseNetflowsQuery({ interval: '1d' }, now);
    expect([query.interval, query.start, query.end]).toEqual(['1d', day('2026-10-21'), day('2026-11-20')]);
    expect(query.sort.map((k) => k.field)).toEqual(['period_start', 'entity', 'asset']);
  });

  it('reads lists, lower-cases ids and drops duplicates', () => {
    const { query } = parseNetflowsQuery({ asset: 'BTC,eth,btc', entity: 'binance,smart_money:fund', chain: 'Ethereum', sort: 'asset,-trader_count' }, now);
    expect(query.assets).toEqual(['btc', 'eth']);
    expect(query.entities).toEqual(['binance', 'smart_money:fund']);
    expect(query.chains).toEqual(['ethereum']);
    expect(query.sort).toEqual([
      { field: 'asset', descending: false },
      { field: 'trader_count', descending: true },
    ]);
  });

  it('takes RFC 3339 times and truncates them to their UTC day', () => {
    const { query } = parseNetflowsQuery({ interval: '1d', start: '2026-10-01T13:00:00+00:00', end: '2026-10-31T23:59:59.999999Z' }, now);
    expect([query.start, query.end]).toEqual([day('2026-10-01'), day('2026-10-31')]);
  });

  it('clamps an end after the latest complete day, with a warning', () => {
    const { query, warnings } = parseNetflowsQuery({ interval: '1d', end: '2026-12-31', start: '2026-11-01' }, now);
    expect(query.end).toBe(day('2026-11-20'));
    expect(warnings[0]).toContain('latest complete day');
  });

  it('defaults an hourly series to the 48 hours up to the latest complete hour', () => {
    const { query } = parseNetflowsQuery({ interval: '1h' }, now + 25 * 60_000);
    expect([query.interval, query.start, query.end]).toEqual(['1h', hour('2026-11-19T10'), hour('2026-11-21T09')]);
  });

  it('takes epoch milliseconds (Grafana ${__from} and ${__to}) and truncates them to the UTC day or hour', () => {
    const from = Date.parse('2026-11-19T07:42:13.250Z');
    const to = Date.parse('2026-11-20T22:05:00Z');
    const daily = parseNetflowsQuery({ interval: '1d', start: String(from), end: String(to) }, now).query;
    expect([daily.start, daily.end]).toEqual([day('2026-11-19'), day('2026-11-20')]);
    const hourly = parseNetflowsQuery({ interval: '1h', start: String(from), end: String(to) }, now).query;
    expect([hourly.start, hourly.end]).toEqual([hour('2026-11-19T07'), hour('2026-11-20T22')]);
  });

  it('takes an hourly range of 31 days, and clamps an end after the latest complete hour with a warning', () => {
    const { query, warnings } = parseNetflowsQuery({ interval: '1h', start: '2026-10-21T09:00:00Z', end: '2026-11-21T10:30:00Z' }, now);
    expect([query.start, query.end]).toEqual([hour('2026-10-21T09'), hour('2026-11-21T09')]);
    expect(warnings).toEqual(['end 2026-11-21T10:00:00Z is after the latest complete hour; the series ends at 2026-11-21T09:00:00Z']);
  });

  it('reads as_of as RFC 3339 or epoch milliseconds, and binds it into the question', () => {
    const rfc = parseNetflowsQuery({ window: '7d', as_of: '2026-11-21T08:30:00+01:00' }, now);
    const epoch = parseNetflowsQuery({ window: '7d', as_of: String(Date.parse('2026-11-21T07:30:00Z')) }, now);
    expect([rfc.query.mode, rfc.query.asOf]).toEqual(['snapshot', Date.parse('2026-11-21T07:30:00Z')]);
    expect(epoch.fingerprint).toBe(rfc.fingerprint);
    expect(parseNetflowsQuery({ window: '7d' }, now).query.asOf).toBeUndefined();
    expect(parseNetflowsQuery({ window: '7d' }, now).fingerprint).not.toBe(rfc.fingerprint);
  });

  it('binds the interval into the question', () => {
    const range = { start: '2026-11-19', end: '2026-11-20' };
    expect(parseNetflowsQuery({ interval: '1d', ...range }, now).fingerprint).not.toBe(parseNetflowsQuery({ interval: '1h', ...range }, now).fingerprint);
  });

  it('records the Nansen-only parameters a caller set', () => {
    const parsed = parseNetflowsQuery({ sector: 'AI', min_market_cap_usd: '1e6', include_stablecoins: 'true' }, now);
    expect([...parsed.ownParams.nansen!].sort()).toEqual(['include_stablecoins', 'min_market_cap_usd', 'sector']);
    expect(parsed.query.sourceParams.nansen).toEqual({ sectors: ['AI'], includeStablecoins: true, marketCapUsd: { min: 1e6 } });
  });

  it('gives the same fingerprint whatever the list order', () => {
    const a = parseNetflowsQuery({ asset: 'btc,eth', entity: 'kraken,binance' }, now).fingerprint;
    const b = parseNetflowsQuery({ entity: 'binance,kraken', asset: 'eth,btc' }, now).fingerprint;
    expect(a).toBe(b);
  });

  it('accepts its own cursor and turns it into an offset', () => {
    const first = parseNetflowsQuery({ window: '7d', limit: '10' }, now);
    const second = parseNetflowsQuery({ window: '7d', limit: '10', cursor: encodeCursor(10, first.fingerprint) }, now);
    expect(second.query.offset).toBe(10);
  });

  const rejected: [string, RawQuery, string][] = [
    ['unknown parameter', { windw: '7d' }, 'windw'],
    ['repeated parameter', { asset: ['btc', 'eth'] }, 'asset'],
    ['empty value', { asset: '' }, 'asset'],
    ['empty list item', { asset: 'btc,,eth' }, 'asset'],
    ['bad window', { window: '2d' }, 'window'],
    ['bad interval', { interval: '2h' }, 'interval'],
    ['hourly range over 31 days', { interval: '1h', start: '2026-10-01T00:00:00Z', end: '2026-11-01T01:00:00Z' }, 'start'],
    ['hourly start after end', { interval: '1h', start: '2026-11-20T12:00:00Z', end: '2026-11-20T11:00:00Z' }, 'start'],
    ['a number too long to be epoch milliseconds', { interval: '1d', start: '12345678901234567' }, 'start'],
    ['as_of in the future', { as_of: '2026-11-21T10:00:01Z' }, 'as_of'],
    ['as_of a date without a time', { as_of: '2026-11-20' }, 'as_of'],
    ['as_of before any net flow', { as_of: '0' }, 'as_of'],
    ['as_of that is no time', { as_of: 'yesterday' }, 'as_of'],
    ['as_of with a series', { interval: '1d', as_of: '2026-11-20T00:00:00Z' }, 'as_of'],
    ['window with interval', { window: '7d', interval: '1d' }, 'interval'],
    ['start in snapshot mode', { start: '2026-10-01' }, 'start'],
    ['end in snapshot mode', { window: '7d', end: '2026-10-01' }, 'end'],
    ['bad start', { interval: '1d', start: '2026-02-30' }, 'start'],
    ['bad end', { interval: '1d', end: 'yesterday' }, 'end'],
    ['start after end', { interval: '1d', start: '2026-11-01', end: '2026-10-01' }, 'start'],
    ['more than 366 days', { interval: '1d', start: '2025-01-01', end: '2026-01-03' }, 'start'],
    ['unknown source', { source: 'glassnode' }, 'source'],
    ['unknown entity', { entity: 'binance,ftx' }, 'entity'],
    ['unknown smart-money label', { entity: 'smart_money:whale' }, 'entity'],
    ['bad asset', { asset: 'btc;drop' }, 'asset'],
    ['bad chain', { chain: 'eth-main' }, 'chain'],
    ['bad token address', { token_address: '0x12/34' }, 'token_address'],
    ['bad boolean', { include_stablecoins: 'yes' }, 'include_stablecoins'],
    ['bad number', { min_market_cap_usd: 'lots' }, 'min_market_cap_usd'],
    ['non-finite number', { max_market_cap_usd: '1e999' }, 'max_market_cap_usd'],
    ['fractional count', { min_trader_count: '2.5' }, 'min_trader_count'],
    ['min above max', { min_token_age_days: '30', max_token_age_days: '7' }, 'min_token_age_days'],
    ['bad sort field', { sort: 'price' }, 'sort'],
    ['sort field twice', { sort: 'asset,-asset' }, 'sort'],
    ['limit zero', { limit: '0' }, 'limit'],
    ['limit too large', { limit: '1001' }, 'limit'],
    ['limit not a number', { limit: '10abc' }, 'limit'],
    ['garbage cursor', { cursor: 'not-a-cursor' }, 'cursor'],
    ['too many items', { asset: Array.from({ length: 101 }, (_, i) => `a${i}`).join(',') }, 'asset'],
  ];

  it.each(rejected)('rejects %s with a 400 naming the parameter', (_name, raw, param) => {
    const problem = problemOf(raw);
    expect(problem.code).toBe('invalid_parameter');
    expect(problem.param).toBe(param);
    expect(problem.detail).toContain(param);
  });

  it('rejects a cursor reused with another query', () => {
    const first = parseNetflowsQuery({ window: '7d' }, now);
    const problem = problemOf({ window: '30d', cursor: encodeCursor(100, first.fingerprint) });
    expect(problem).toMatchObject({ param: 'cursor', code: 'invalid_parameter' });
    expect(problem.detail).toContain('different query');
  });

  it('does not echo control characters from the caller', () => {
    const problem = problemOf({ entity: 'bin\u0007ance' });
    expect(problem.detail).not.toContain('\u0007');
  });
});
