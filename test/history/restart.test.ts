import { afterEach, describe, expect, it } from 'vitest';
import type { NetflowRecord } from '../../src/model.js';
import { NOW, startStack, type Stack } from '../helpers.js';
import { BACKENDS, HOUR, MINUTE, TestStore } from './helpers.js';

interface Answer {
  data: NetflowRecord[];
  sources: { source: string; status: string; cache: string | null }[];
}

/** The day span of each Coin Metrics request the simulator received. */
function spans(stack: Stack): string[] {
  return stack.cm.requests.map((r) => `${r.query.assets} ${r.query.start_time}..${r.query.end_time}`);
}

describe.each(BACKENDS)('a gateway restarted on the same store (%s)', (backend) => {
  let store: TestStore | undefined;
  let stack: Stack | undefined;
  afterEach(async () => {
    await stack?.close();
    await store?.stop();
  });

  async function get(url: string): Promise<Answer> {
    const response = await stack!.app.inject({ url });
    expect(response.statusCode, response.body).toBe(200);
    return response.json() as Answer;
  }

  it('pays Coin Metrics nothing for the settled days it had, fetches only what the store lacks, and still has its Nansen history', async () => {
    store = await TestStore.start(backend);
    stack = await startStack({ history: store.history });
    const month = '/netflows?source=coinmetrics&interval=1d&asset=btc,eth&entity=binance,kraken&start=2026-10-21&end=2026-11-20';
    const settled = '/netflows?source=coinmetrics&interval=1d&asset=btc,eth&entity=binance,kraken&start=2026-10-21&end=2026-11-19';
    // as_of 2026-11-15: the 7 days before its UTC day; the snapshot's 32-day span starts before the month above.
    const asOf = '/netflows?source=coinmetrics&window=7d&asset=btc&entity=binance,kraken&as_of=2026-11-15T12:00:00Z';
    const hourly = `/netflows?source=nansen&interval=1h&start=2026-11-21T09:00:00Z&end=2026-11-21T09:00:00Z&limit=1000`;
    const before = { month: await get(month), asOf: await get(asOf) };
    await store.history.flush();
    expect(spans(stack)).toEqual(['btc,eth 2026-10-21..2026-11-20', 'btc 2026-10-14..2026-10-20']);
    stack.clock.now = NOW + 5 * MINUTE;
    await get('/netflows?source=nansen&window=1h&limit=100');
    await store.history.flush();
    const series = await get(hourly);
    expect(series.data).toHaveLength(100);
    await store.history.flush();

    await stack.close();
    await store.reopen();
    stack = await startStack({ history: store.history });
    stack.clock.now = NOW + HOUR;

    const fromStore = await get(settled);
    expect(spans(stack)).toEqual([]);
    expect(fromStore.sources[0]).toMatchObject({ status: 'ok', cache: 'hit' });
    expect(fromStore.data).toEqual(before.month.data.filter((r) => r.period_start < '2026-11-20'));
    // 2026-11-20 was fetched while it was the latest complete day: it is fetched again, alone.
    expect((await get(month)).data).toEqual(before.month.data);
    expect(spans(stack)).toEqual(['btc,eth 2026-11-20..2026-11-20']);
    expect((await get(asOf)).data).toEqual(before.asOf.data);
    expect(spans(stack)).toHaveLength(1);
    expect((await get(hourly)).data).toEqual(series.data);
  });
});

describe('Coin Metrics as_of', () => {
  let stack: Stack | undefined;
  afterEach(async () => stack?.close());

  it('sums the complete days before as_of’s UTC day, as the daily series has them, without a history too', async () => {
    stack = await startStack();
    const daily = (await stack.app.inject({ url: '/netflows?interval=1d&asset=btc&entity=binance&start=2026-11-08&end=2026-11-14' })).json() as Answer;
    const response = await stack.app.inject({ url: '/netflows?window=7d&asset=btc&entity=binance&as_of=2026-11-15T23:59:59Z' });
    const answer = response.json() as Answer & { warnings: string[] };
    expect(answer.data).toHaveLength(1);
    const sum = (field: 'net_flow_native' | 'net_flow_usd') => daily.data.reduce((total, r) => total + r[field]!, 0);
    expect(answer.data[0]).toMatchObject({ source: 'coinmetrics', entity: 'binance', window: '7d', period_start: '2026-11-08T00:00:00Z', period_end: '2026-11-15T00:00:00Z' });
    expect(answer.data[0]!.net_flow_native).toBeCloseTo(sum('net_flow_native'), 9);
    expect(answer.data[0]!.net_flow_usd).toBeCloseTo(sum('net_flow_usd'), 6);
    expect(answer.warnings).toEqual(['nansen skipped: Nansen has smart_money entities only']);
    // Nansen keeps no history here: as_of skips it.
    const both = (await stack.app.inject({ url: '/netflows?window=7d&as_of=2026-11-15T23:59:59Z' })).json() as Answer & { warnings: string[] };
    expect(both.sources.map((s) => s.status)).toEqual(['ok', 'skipped']);
    expect(both.warnings).toEqual(['nansen skipped: Nansen keeps no history, and this gateway records none (HISTORY=off): as_of is not offered']);
  });
});
