import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedHistory } from '../../src/demo/seed.js';
import type { NetflowRecord } from '../../src/model.js';
import { NOW, startStack, type Stack } from '../helpers.js';
import { TestStore } from './helpers.js';

type WideRow = Record<string, string | number | null>;
interface Answer<Row> {
  data: Row[];
  next_cursor: string | null;
  sources: { source: string; status: string }[];
  warnings: string[];
}

/** Every page of a question, following next_cursor. */
async function allPages<Row>(stack: Stack, url: string): Promise<{ pages: Answer<Row>[]; rows: Row[] }> {
  const pages: Answer<Row>[] = [];
  let next: string | undefined = url;
  while (next) {
    const response = await stack.app.inject({ url: next });
    expect(response.statusCode, response.body).toBe(200);
    const page = response.json() as Answer<Row>;
    pages.push(page);
    next = page.next_cursor ? `${url}&cursor=${page.next_cursor}` : undefined;
  }
  return { pages, rows: pages.flatMap((p) => p.data) };
}

/** The wide table must hold each long record's value in its bucket's row, under its series' column, and nothing else. */
function expectSameTable(long: NetflowRecord[], wide: WideRow[], stepMs: number, measure: 'net_flow_usd' | 'net_flow_native') {
  const series = new Map<string, NetflowRecord[]>();
  for (const r of long) {
    const key = `${r.entity}|${r.asset}|${r.chain}|${r.token_address}`;
    series.set(key, [...(series.get(key) ?? []), r]);
  }
  const columns = Object.keys(wide[0]!).slice(1);
  expect(columns).toHaveLength(series.size);
  expect(columns).toEqual([...columns].sort());
  for (const row of wide) expect(Object.keys(row)).toEqual(['time', ...columns]);
  let cells = 0;
  for (const records of series.values()) {
    const r = records[0]!;
    const base = r.chain === null ? `${r.entity}:${r.asset}` : `${r.entity}:${r.asset}:${r.chain}`;
    const column = columns.includes(base) ? base : `${base}:${r.token_address}`;
    expect(columns).toContain(column);
    for (const record of records) {
      const bucket = new Date(Math.floor(Date.parse(record.period_start) / stepMs) * stepMs).toISOString().replace('.000Z', 'Z');
      expect(wide.find((w) => w.time === bucket)![column]).toBe(record[measure]);
      if (record[measure] !== null) cells++;
    }
  }
  expect(wide.flatMap((w) => columns.map((c) => w[c])).filter((v) => v !== null)).toHaveLength(cells);
}

const HOUR = 3_600_000;
const DAY = 86_400_000;

describe('shape=wide over recorded Nansen history', () => {
  let store: TestStore;
  let stack: Stack;
  beforeAll(async () => {
    store = await TestStore.start('pglite');
    stack = await startStack({ history: store.history });
    // The demo's seeding: the simulator's snapshot of every hour start of the last day.
    await seedHistory(store.history, [{ entity: 'smart_money', chain: 'all' }], NOW, 1);
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await store?.stop();
  });

  it('pivots hourly smart-money rows to one row per hour, every column on every page, gaps as rows of nulls', async () => {
    const range = 'source=nansen&interval=1h&start=2026-11-21T02:00:00Z&end=2026-11-21T09:00:00Z';
    const long = await allPages<NetflowRecord>(stack, `/netflows?${range}&limit=1000`);
    const wide = await allPages<WideRow>(stack, `/netflows?${range}&shape=wide&limit=3`);
    expect(wide.pages.map((p) => p.data.length)).toEqual([3, 3, 2]);
    expect(wide.rows.map((r) => r.time)).toEqual(Array.from({ length: 8 }, (_, i) => new Date(Date.parse('2026-11-21T02:00:00Z') + i * HOUR).toISOString().replace('.000Z', 'Z')));
    expect(long.rows.length).toBeGreaterThan(100);
    expectSameTable(long.rows, wide.rows, HOUR, 'net_flow_usd');

    // Before the seeded day (its first snapshot, at 11:00, gives 10:00's row): rows of nulls, and still every column of the answer.
    const early = await allPages<WideRow>(stack, '/netflows?source=nansen&interval=1h&start=2026-11-20T08:00:00Z&end=2026-11-20T11:00:00Z&shape=wide&limit=2');
    expect(early.rows.map((r) => r.time)).toEqual(['2026-11-20T08:00:00Z', '2026-11-20T09:00:00Z', '2026-11-20T10:00:00Z', '2026-11-20T11:00:00Z']);
    const [first, second] = early.pages.map((p) => p.data);
    const columns = Object.keys(second![0]!).slice(1);
    expect(columns.length).toBeGreaterThan(10);
    expect(first!.map((r) => Object.keys(r))).toEqual([['time', ...columns], ['time', ...columns]]);
    expect(first!.every((r) => columns.every((c) => r[c] === null))).toBe(true);
    expect(second!.every((r) => columns.some((c) => r[c] !== null))).toBe(true);
  });

  it('gives null cells and a warning for net_flow_native, which Nansen does not report', async () => {
    const response = await stack.app.inject({ url: '/netflows?source=nansen&interval=1h&start=2026-11-21T08:00:00Z&end=2026-11-21T09:00:00Z&shape=wide&measure=net_flow_native' });
    const answer = response.json() as Answer<WideRow>;
    expect(answer.data).toHaveLength(2);
    const columns = Object.keys(answer.data[0]!).slice(1);
    expect(columns.length).toBeGreaterThan(10);
    expect(answer.data.every((r) => columns.every((c) => r[c] === null))).toBe(true);
    expect(answer.warnings).toContainEqual(expect.stringContaining(`${columns.length} of ${columns.length} columns have no net_flow_native in the range`));
  });

  it('puts both sources on one daily time axis', async () => {
    const range = 'interval=1d&start=2026-11-18&end=2026-11-20';
    const long = await allPages<NetflowRecord>(stack, `/netflows?${range}&limit=1000`);
    const wide = await allPages<WideRow>(stack, `/netflows?${range}&shape=wide`);
    expect(wide.pages[0]!.sources.map((s) => [s.source, s.status])).toEqual([
      ['coinmetrics', 'ok'],
      ['nansen', 'ok'],
    ]);
    expect(wide.rows.map((r) => r.time)).toEqual(['2026-11-18T00:00:00Z', '2026-11-19T00:00:00Z', '2026-11-20T00:00:00Z']);
    expect(new Set(long.rows.map((r) => r.source))).toEqual(new Set(['coinmetrics', 'nansen']));
    expectSameTable(long.rows, wide.rows, DAY, 'net_flow_usd');
  });
});
