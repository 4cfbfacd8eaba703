import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cmFlowNetNtv, cmFlowNetUsd } from '../../src/demo/sim/coinmetrics-data.js';
import type { NetflowRecord } from '../../src/model.js';
import { startStack, type Stack } from '../helpers.js';

type WideRow = Record<string, string | number | null>;
interface WideAnswer {
  data: WideRow[];
  next_cursor: string | null;
  complete: boolean;
  sources: { source: string; status: string }[];
  warnings: string[];
}

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => stack.reset());

async function get(url: string) {
  const response = await stack.app.inject({ method: 'GET', url });
  return { response, json: /^application\/(problem\+)?json/.test(String(response.headers['content-type'])) ? response.json() : undefined };
}

const OCTOBER = Array.from({ length: 31 }, (_, i) => `2026-10-${String(i + 1).padStart(2, '0')}`);
const CODES = { binance: 'BNB', kraken: 'KRK' } as const;
const COLUMNS = ['binance:btc:bitcoin', 'binance:eth:ethereum', 'kraken:btc:bitcoin', 'kraken:eth:ethereum'];
const question = '/netflows?interval=1d&asset=btc,eth&entity=binance,kraken&start=2026-10-01&end=2026-10-31&shape=wide';

/** What the simulator holds for a column and a day, as the wide cell must show it. */
function simulated(column: string, day: string, measure: 'net_flow_usd' | 'net_flow_native'): number | null {
  const [entity, asset] = column.split(':') as [keyof typeof CODES, string];
  const value = (measure === 'net_flow_usd' ? cmFlowNetUsd : cmFlowNetNtv)(asset, CODES[entity], day);
  return value === null ? null : Number(value);
}

describe('GET /netflows?shape=wide', () => {
  it('gives one row per day, a time column and one numeric column per series, with the simulator values in USD', async () => {
    const { response, json } = await get(question);
    expect(response.statusCode).toBe(200);
    expect(String(response.headers['content-type'])).toContain('application/json');
    const answer = json as WideAnswer;
    expect(Object.keys(answer)).toEqual(['data', 'next_cursor', 'complete', 'sources', 'warnings']);
    expect(answer.next_cursor).toBeNull();
    expect(answer.data.map((r) => r.time)).toEqual(OCTOBER.map((d) => `${d}T00:00:00Z`));
    for (const [i, row] of answer.data.entries()) {
      expect(Object.keys(row)).toEqual(['time', ...COLUMNS]);
      for (const column of COLUMNS) expect(row[column]).toBe(simulated(column, OCTOBER[i]!, 'net_flow_usd'));
    }
    // The simulator leaves some days without a value: those cells are JSON null, every other one a JSON number.
    const cells = answer.data.flatMap((r) => COLUMNS.map((c) => r[c]));
    expect(cells).toContain(null);
    expect(cells.filter((v) => v !== null).every((v) => typeof v === 'number')).toBe(true);
  });

  it('holds net_flow_native with measure=net_flow_native', async () => {
    const { json } = await get(`${question}&measure=net_flow_native`);
    const answer = json as WideAnswer;
    expect(answer.data).toHaveLength(31);
    for (const [i, row] of answer.data.entries()) {
      for (const column of COLUMNS) expect(row[column]).toBe(simulated(column, OCTOBER[i]!, 'net_flow_native'));
    }
  });

  it('pages by time rows: limit counts days, the cursor and Link go on, and every page has every column', async () => {
    const whole = (await get(`${question}&limit=1000`)).json as WideAnswer;
    const pages: WideAnswer[] = [];
    let url: string | undefined = `${question}&limit=10`;
    while (url) {
      const { response, json } = await get(url);
      expect(response.statusCode).toBe(200);
      const page = json as WideAnswer;
      pages.push(page);
      for (const row of page.data) expect(Object.keys(row)).toEqual(['time', ...COLUMNS]);
      if (page.next_cursor) expect(String(response.headers.link)).toContain(`cursor=${page.next_cursor}`);
      url = page.next_cursor ? `${question}&limit=10&cursor=${page.next_cursor}` : undefined;
    }
    expect(pages.map((p) => p.data.length)).toEqual([10, 10, 10, 1]);
    expect(pages.flatMap((p) => p.data)).toEqual(whole.data);
  });

  it('writes the same table as CSV, header time and the columns, empty cells for null', async () => {
    const json = (await get(question)).json as WideAnswer;
    const { response } = await get(`${question}&format=csv`);
    expect(response.statusCode).toBe(200);
    expect(String(response.headers['content-type'])).toContain('text/csv');
    const lines = response.body.split('\r\n');
    expect(lines[0]).toBe(['time', ...COLUMNS].join(','));
    expect(lines.slice(1, -1)).toEqual(json.data.map((row) => ['time', ...COLUMNS].map((c) => (row[c] === null ? '' : String(row[c]))).join(',')));
    expect(lines.at(-1)).toBe('');
  });

  it('writes one wide row a line as NDJSON', async () => {
    const json = (await get(question)).json as WideAnswer;
    const { response } = await get(`${question}&format=ndjson`);
    expect(String(response.headers['content-type'])).toContain('application/x-ndjson');
    expect(response.body.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(json.data);
  });

  it('agrees with the long answer of the same question, record for record', async () => {
    const long = (await get(question.replace('&shape=wide', '&limit=1000'))).json as { data: NetflowRecord[] };
    const wide = (await get(question)).json as WideAnswer;
    expect(long.data).toHaveLength(124);
    for (const r of long.data) {
      const row = wide.data.find((w) => w.time === r.period_start)!;
      expect(row[`${r.entity}:${r.asset}:${r.chain}`]).toBe(r.net_flow_usd);
    }
  });

  it.each([
    ['/netflows?shape=wide', 'shape'],
    ['/netflows?window=7d&shape=wide', 'shape'],
    ['/netflows?interval=1d&shape=tall', 'shape'],
    ['/netflows?interval=1d&measure=net_flow_native', 'measure'],
    ['/netflows?interval=1d&shape=long&measure=net_flow_usd', 'measure'],
    ['/netflows?interval=1d&shape=wide&measure=market_cap_usd', 'measure'],
    ['/netflows?interval=1d&shape=wide&sort=-net_flow_usd', 'sort'],
    ['/netflows?interval=1d&shape=wide&shape=long', 'shape'],
  ])('%s is a 400 naming %s', async (url, param) => {
    const { response, json } = await get(url);
    expect(response.statusCode).toBe(400);
    expect(String(response.headers['content-type'])).toContain('application/problem+json');
    expect(json).toMatchObject({ code: 'invalid_parameter', param });
  });

  it('takes no cursor of the long answer, nor the long answer one of the wide', async () => {
    const long = (await get(question.replace('&shape=wide', '&limit=5'))).json as { next_cursor: string };
    const wrong = await get(`${question}&limit=5&cursor=${long.next_cursor}`);
    expect(wrong.response.statusCode).toBe(400);
    expect(wrong.json).toMatchObject({ code: 'invalid_parameter', param: 'cursor' });
    const wide = (await get(`${question}&limit=5`)).json as WideAnswer;
    const back = await get(`${question.replace('&shape=wide', '')}&limit=5&cursor=${wide.next_cursor}`);
    expect(back.json).toMatchObject({ code: 'invalid_parameter', param: 'cursor' });
  });

  it('is not served the long answer kept for the same question, nor the reverse', async () => {
    const longUrl = question.replace('&shape=wide', '');
    const long = (await get(longUrl)).json as { data: NetflowRecord[] };
    const wide = (await get(question)).json as WideAnswer;
    expect(Object.keys(wide.data[0]!)).toEqual(['time', ...COLUMNS]);
    expect((await get(`${question}&measure=net_flow_native`)).json.data[0]).not.toEqual(wide.data[0]);
    expect((await get(longUrl)).json.data).toEqual(long.data);
  });
});
