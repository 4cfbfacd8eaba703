import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NetflowRecord } from '../../src/model.js';
import { NOW, startStack, type Stack } from '../helpers.js';
import { BACKENDS, D0, DAY, HOUR, MINUTE, TestStore } from './helpers.js';

interface Answer {
  data: NetflowRecord[];
  next_cursor: string | null;
  complete: boolean;
  sources: { source: string; status: string; cache: string | null; as_of: string | null; coverage?: { buckets: number; with_data: number }; error?: { code: string } }[];
  warnings: string[];
}

const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');
/** A record as one comparable line. */
const line = (r: NetflowRecord) => JSON.stringify(r);

describe.each(BACKENDS)('the gateway over its history on %s', (backend) => {
  let store: TestStore;
  let stack: Stack;
  beforeAll(async () => {
    store = await TestStore.start(backend);
    stack = await startStack({ history: store.history });
  }, 60_000);
  afterAll(async () => {
    await stack?.close();
    await store?.stop();
  });
  beforeEach(async () => {
    stack.reset();
    await store.reset();
  });

  /** GET at the clock's time `at`, then let the history write what it queued. */
  async function get(url: string, at: number, status = 200): Promise<Answer> {
    stack.clock.now = at;
    const response = await stack.app.inject({ url });
    expect(response.statusCode, response.body).toBe(status);
    await store.history.flush();
    return response.json() as Answer;
  }

  /** Per series (entity, chain, token) and bucket: the row of the earliest snapshot in the bucket's window that holds the token. */
  function expectedSeries(shown: { t: number; rows: NetflowRecord[] }[], stepMs: number, toleranceMs: number, buckets: number[]): string[] {
    const expected: string[] = [];
    for (const bucket of buckets) {
      const inWindow = shown.filter((s) => s.t >= bucket + stepMs && s.t < bucket + stepMs + toleranceMs).sort((a, b) => a.t - b.t);
      const seen = new Set<string>();
      for (const { rows } of inWindow) {
        for (const row of rows) {
          const series = `${row.entity}|${row.chain}|${row.token_address ?? row.asset}`;
          if (seen.has(series)) continue;
          seen.add(series);
          expected.push(line(row));
        }
      }
    }
    return expected.sort();
  }

  it('builds hourly rows from the earliest snapshot taken in the 10 minutes after each hour, across a day edge, as callers were shown them', async () => {
    const B = D0;
    const times = [B + 9 * HOUR + 2 * MINUTE, B + 9 * HOUR + 7 * MINUTE, B + 10 * HOUR + 10 * MINUTE, B + 11 * HOUR + 10 * MINUTE - 1000, B + 24 * HOUR + 3 * MINUTE];
    const shown = [];
    // 09:07 asks for another top 100 (by symbol): its tokens missing from 09:02's list take their rows from it.
    for (const t of times) shown.push({ t, rows: (await get(`/netflows?source=nansen&window=1h&limit=100${t === times[1] ? '&sort=asset' : ''}`, t)).data });

    const answer = await get(`/netflows?source=nansen&interval=1h&start=${iso(B + 8 * HOUR)}&end=${iso(B + 23 * HOUR)}&limit=1000`, B + 26 * HOUR);
    const buckets = Array.from({ length: 16 }, (_, i) => B + (8 + i) * HOUR);
    expect(answer.data.map(line).sort()).toEqual(expectedSeries(shown, HOUR, 10 * MINUTE, buckets));
    // 08:00 (from 09:02 and 09:07), 10:00 (from 11:09:59) and 23:00 (from 00:03 the next day); 09:00's only snapshot is 10 minutes late.
    expect(new Set(answer.data.map((r) => r.period_start))).toEqual(new Set([iso(times[0]! - HOUR), iso(times[1]! - HOUR), iso(times[3]! - HOUR), iso(times[4]! - HOUR)]));
    expect(answer.sources.find((s) => s.source === 'nansen')).toEqual({ source: 'nansen', status: 'ok', cache: 'hit', as_of: iso(times[4]!), coverage: { buckets: 16, with_data: 3 } });
    // The top 100 changes every hour: a token of one hour's list that is not in another's has no row there.
    const tokensAt = (t: number) => new Set(answer.data.filter((r) => r.period_end === iso(t)).map((r) => `${r.chain}|${r.asset}`));
    const left = [...tokensAt(times[3]!)].filter((k) => !tokensAt(times[4]!).has(k));
    expect(left.length).toBeGreaterThan(0);
  });

  it('builds daily rows with the 24h window from the earliest snapshot in the hour after each UTC day; a later one leaves the day without rows', async () => {
    const B = D0;
    const times = [B + DAY + 3 * MINUTE, B + DAY + 59 * MINUTE, B + 2 * DAY + 61 * MINUTE, B + 3 * DAY];
    const shown = [];
    for (const t of times) shown.push({ t, rows: (await get('/netflows?source=nansen&window=24h&limit=100', t)).data });

    const answer = await get(`/netflows?source=nansen&interval=1d&start=${iso(B)}&end=${iso(B + 2 * DAY)}&limit=1000`, B + 3 * DAY + 2 * HOUR);
    expect(answer.data.map(line).sort()).toEqual(expectedSeries(shown, DAY, 60 * MINUTE, [B, B + DAY, B + 2 * DAY]));
    expect(answer.data.every((r) => r.window === '24h')).toBe(true);
    expect(answer.sources.find((s) => s.source === 'nansen')!.coverage).toEqual({ buckets: 3, with_data: 2 });
    // With Coin Metrics in the same question, its daily rows come too, and only Nansen's entry has a coverage.
    const both = await get(`/netflows?interval=1d&start=${iso(B)}&end=${iso(B + 2 * DAY)}&entity=binance,smart_money&asset=btc&limit=1000`, B + 3 * DAY + 2 * HOUR);
    expect(both.sources.map((s) => [s.source, s.status, s.coverage])).toEqual([
      ['coinmetrics', 'ok', undefined],
      ['nansen', 'ok', { buckets: 3, with_data: 2 }],
    ]);
  });

  it('answers as_of with the leaderboard callers were shown then, and skips Nansen (or refuses it, named) when nothing was recorded in the hour before', async () => {
    const t = D0 + 10 * HOUR + 20 * MINUTE;
    const question = '/netflows?window=7d&limit=50&entity=smart_money,smart_money:fund';
    const shown = await get(question, t);
    // A later snapshot of another order is no leaderboard for this question.
    await get('/netflows?source=nansen&window=24h&limit=100', t + 5 * MINUTE);
    const then = await get(`${question}&as_of=${iso(t + 30 * MINUTE)}`, t + 40 * MINUTE);
    expect(then.data).toEqual(shown.data);
    expect(then.sources).toEqual(shown.sources.map((s) => (s.source === 'nansen' ? { ...s, cache: 'hit' } : s)));
    const epoch = await get(`${question}&as_of=${t + 30 * MINUTE}`, t + 40 * MINUTE);
    expect(epoch.data).toEqual(shown.data);

    const late = await get(`/netflows?window=7d&limit=50&as_of=${iso(t + 61 * MINUTE)}`, t + 2 * HOUR);
    expect(late.sources.map((s) => [s.source, s.status])).toEqual([
      ['coinmetrics', 'ok'],
      ['nansen', 'skipped'],
    ]);
    expect(late.warnings).toEqual([`nansen skipped: no snapshot of smart_money that answers this question was recorded in the hour up to as_of (${iso(t + 61 * MINUTE)})`]);
    const named = await get(`/netflows?source=nansen&window=7d&as_of=${iso(t + 61 * MINUTE)}`, t + 2 * HOUR, 400);
    expect(named).toMatchObject({ code: 'invalid_parameter', param: 'source' });
  });

  it('applies the filters to recorded rows as recorded: chain, sector, market cap, trader count, token age, address', async () => {
    const t = D0 + 10 * HOUR + MINUTE;
    const all = (await get('/netflows?source=nansen&window=1h&limit=1000', t)).data;
    const filters = 'chain=ethereum,solana&sector=Memecoins,Decentralised%20Exchanges&min_market_cap_usd=1000000&max_trader_count=15&min_token_age_days=10';
    const answer = await get(`/netflows?source=nansen&interval=1h&start=${iso(D0 + 9 * HOUR)}&end=${iso(D0 + 9 * HOUR)}&${filters}&limit=1000`, D0 + 12 * HOUR);
    const wanted = all.filter(
      (r) =>
        ['ethereum', 'solana'].includes(r.chain!) &&
        r.token_sectors.some((s) => ['Memecoins', 'Decentralised Exchanges'].includes(s)) &&
        r.market_cap_usd !== null && r.market_cap_usd >= 1e6 &&
        r.trader_count !== null && r.trader_count <= 15 &&
        r.token_age_days !== null && r.token_age_days >= 10,
    );
    expect(wanted.length).toBeGreaterThan(3);
    expect(answer.data.map(line).sort()).toEqual(wanted.map(line).sort());
    const one = wanted[0]!;
    const byAddress = await get(`/netflows?source=nansen&interval=1h&start=${iso(D0 + 9 * HOUR)}&end=${iso(D0 + 9 * HOUR)}&token_address=${one.token_address!.toUpperCase().replace(/^0X/, '0x')}`, D0 + 12 * HOUR);
    expect(byAddress.data).toEqual([one]);
  });

  it('pages, and writes CSV and NDJSON, as every answer', async () => {
    for (const h of [1, 2, 3]) await get('/netflows?source=nansen&window=1h&limit=100', D0 + h * HOUR + MINUTE);
    const range = `source=nansen&interval=1h&start=${iso(D0)}&end=${iso(D0 + 2 * HOUR)}`;
    const whole = await get(`/netflows?${range}&limit=1000`, D0 + 5 * HOUR);
    expect(whole.data).toHaveLength(300);
    const first = await get(`/netflows?${range}&limit=120`, D0 + 5 * HOUR);
    const second = await get(`/netflows?${range}&limit=120&cursor=${first.next_cursor}`, D0 + 5 * HOUR);
    expect([...first.data, ...second.data]).toEqual(whole.data.slice(0, 240));
    stack.clock.now = D0 + 5 * HOUR;
    const csv = await stack.app.inject({ url: `/netflows?${range}&limit=1000&format=csv` });
    expect(csv.body.trimEnd().split('\r\n')).toHaveLength(301);
    expect(csv.headers['netflows-sources']).toBe('coinmetrics;status=skipped, nansen;status=ok;cache=hit');
    const ndjson = await stack.app.inject({ url: `/netflows?${range}&limit=1000&format=ndjson` });
    expect(ndjson.body.trimEnd().split('\n').map((l) => JSON.parse(l))).toEqual(whole.data);
  });

  it('records every page fetched from the upstream, background refreshes too, and nothing on a cache hit', async () => {
    const snapshots = () => store.count('nansen_fetches');
    await get('/netflows?source=nansen&window=24h&limit=100', NOW);
    await get('/netflows?source=nansen&window=24h&limit=100', NOW + 1000);
    stack.rendered.clear();
    await get('/netflows?source=nansen&window=24h&limit=100', NOW + 2000);
    expect(await snapshots()).toBe(1);
    expect(stack.nansen.requests).toHaveLength(1);
    // Expired 10 s ago, inside stale-while-revalidate: served at once and refreshed in the background.
    stack.rendered.clear();
    const stale = await get('/netflows?source=nansen&window=24h&limit=100', NOW + 70_000);
    expect(stale.sources[1]!.cache).toBe('stale');
    await waitFor(async () => (await snapshots()) === 2);
    expect(await store.count('nansen_rows')).toBe(200);
    // Coin Metrics: every day of every exchange asked, once.
    await get('/netflows?source=coinmetrics&interval=1d&asset=btc&entity=binance,kraken&start=2026-11-01&end=2026-11-10', NOW + 80_000);
    expect(await store.count('coinmetrics_days')).toBe(20);
  });

  async function waitFor(done: () => Promise<boolean>): Promise<void> {
    for (let i = 0; i < 200; i++) {
      await store.history.flush();
      if (await done()) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error('timed out waiting');
  }
});
