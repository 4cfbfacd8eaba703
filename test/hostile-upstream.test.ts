import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NetflowRecord } from '../src/model.js';
import { startStack, type Stack } from './helpers.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { UPSTREAM_MAX_BODY_MB: '1', UPSTREAM_RETRIES: '0' } });
});
afterAll(() => stack.close());
beforeEach(() => stack.reset());

const cmRow = (extra: Record<string, unknown>) => ({ asset: 'btc', time: '2026-11-20T00:00:00.000000000Z', ...extra });
const cmBody = (rows: unknown[]) => JSON.stringify({ data: rows });
const nansenRow = (extra: Record<string, unknown>) => ({
  token_address: '0xabc',
  token_symbol: 'UNI',
  chain: 'ethereum',
  net_flow_1h_usd: 0,
  net_flow_24h_usd: 10,
  net_flow_7d_usd: 20,
  net_flow_30d_usd: 30,
  token_sectors: [],
  trader_count: 3,
  token_age_days: 100,
  market_cap_usd: 1e9,
  ...extra,
});
const nansenBody = (rows: unknown[], isLastPage = true) => JSON.stringify({ data: rows, pagination: { page: 1, per_page: 100, is_last_page: isLastPage } });

async function cm(body: string) {
  stack.cm.setFault({ kind: 'malformed', body });
  return stack.app.inject('/netflows?source=coinmetrics&window=24h&entity=binance,kraken&asset=btc&sort=entity');
}
async function nansen(body: string, query = '') {
  stack.nansen.setFault({ kind: 'malformed', body });
  return stack.app.inject(`/netflows?source=nansen&window=7d${query}`);
}

describe('hostile Coin Metrics bodies', () => {
  it.each([
    ['a number as an object', { FlowNetBNBNtv: { value: 1 }, FlowNetBNBUSD: '5' }, [null, 5]],
    ['a huge exponent', { FlowNetBNBNtv: '1e999', FlowNetBNBUSD: '-1e400' }, [null, null]],
    ['NaN and Infinity', { FlowNetBNBNtv: 'NaN', FlowNetBNBUSD: 'Infinity' }, [null, null]],
    ['numbers instead of strings', { FlowNetBNBNtv: 12.5, FlowNetBNBUSD: -3 }, [12.5, -3]],
    ['extra fields', { FlowNetBNBNtv: '1', FlowNetBNBUSD: '2', Surprise: { deep: [1] }, 'FlowNetBNBNtv-status': 7 }, [1, 2]],
  ])('%s gives row-level nulls, never a non-finite number', async (_name, values, expected) => {
    const response = await cm(cmBody([cmRow({ ...values, FlowNetKRKNtv: '1', FlowNetKRKUSD: '2' })]));
    expect(response.statusCode).toBe(200);
    const [row, kraken] = response.json().data as NetflowRecord[];
    expect([row!.entity, kraken!.entity, kraken!.net_flow_native]).toEqual(['binance', 'kraken', 1]);
    expect([row!.net_flow_native, row!.net_flow_usd]).toEqual(expected);
    expect(response.body).not.toMatch(/NaN|Infinity/);
  });

  it.each([
    ['HTML', '<!doctype html><title>Cloudflare</title>'],
    ['truncated JSON', '{"data":[{"asset":"btc","time":"2026-11'],
    ['data that is not a list', '{"data":{"asset":"btc"}}'],
    ['a row without time', cmBody([{ asset: 'btc', FlowNetBNBNtv: '1' }])],
    ['a time that is not a day', cmBody([cmRow({ time: 'yesterday', FlowNetBNBNtv: '1' })])],
    ['a bare array', '[]'],
    ['null', 'null'],
    ['a page token that is a number', JSON.stringify({ data: [], next_page_token: 42 })],
  ])('%s is a 502 and is not cached', async (_name, body) => {
    const response = await cm(body);
    expect(response.statusCode).toBe(502);
    expect(response.json()).toMatchObject({ code: 'upstream_error' });
    expect(response.body).not.toContain('Cloudflare');
    stack.cm.setFault(null);
    expect((await stack.app.inject('/netflows?source=coinmetrics&window=24h&entity=binance&asset=btc')).statusCode).toBe(200);
  });

  it('an enormous body is cut at UPSTREAM_MAX_BODY_MB', async () => {
    const response = await cm(cmBody([cmRow({ FlowNetBNBNtv: '1', padding: 'x'.repeat(2 * 1024 * 1024) })]));
    expect(response.statusCode).toBe(502);
    expect(response.json().detail).toContain('larger than 1048576 bytes');
  });
});

describe('hostile Nansen bodies', () => {
  it('wrong types give nulls, and the row survives', async () => {
    const rows = [nansenRow({ net_flow_7d_usd: '20', market_cap_usd: 'big', trader_count: 2.5, token_age_days: -0.5, token_sectors: 'AI' })];
    const response = await nansen(nansenBody(rows));
    expect(response.statusCode).toBe(200);
    const [row] = response.json().data as NetflowRecord[];
    expect([row!.net_flow_usd, row!.market_cap_usd, row!.trader_count, row!.token_age_days, row!.token_sectors]).toEqual([20, null, null, null, []]);
  });

  it('a huge exponent parses to Infinity and comes out null', async () => {
    const response = await nansen(nansenBody([nansenRow({})]).replace('"net_flow_7d_usd":20', '"net_flow_7d_usd":1e400'));
    expect(response.json().data[0].net_flow_usd).toBeNull();
  });

  it.each([
    ['a row without symbol', nansenBody([nansenRow({ token_symbol: undefined })])],
    ['a row that is a string', nansenBody(['UNI'])],
    ['no pagination', JSON.stringify({ data: [nansenRow({})] })],
    ['is_last_page as a string', JSON.stringify({ data: [], pagination: { is_last_page: 'yes' } })],
    ['HTML', '<html>Service Unavailable</html>'],
  ])('%s is a 502', async (_name, body) => {
    const response = await nansen(body);
    expect(response.statusCode).toBe(502);
    expect(response.json().code).toBe('upstream_error');
  });

  it('short pages whose is_last_page never turns true stop at the pages the slice needs, with a warning', async () => {
    const response = await nansen(nansenBody([nansenRow({})], false), '&limit=1000');
    expect(response.statusCode).toBe(200);
    expect(stack.nansen.requests).toHaveLength(1);
    expect(response.json().warnings.join(' ')).toContain('smart_money was read to 1 page; rows beyond were not fetched');
  });
});
