import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AsOfQuestion, SeriesQuestion } from '../../src/history/types.js';
import type { NetflowRecord } from '../../src/model.js';
import { BACKENDS, BY_24H, BY_SYMBOL, D0, DAY, HOUR, MINUTE, snapshot, TestStore, token } from './helpers.js';

const H10 = D0 + 10 * HOUR;

/** One line per row: asset, window, period and value, in the answer's order. */
function lines(records: readonly NetflowRecord[]): string[] {
  return records.map((r) => `${r.entity} ${r.asset} ${r.window} ${r.period_start}..${r.period_end} ${r.net_flow_usd}`);
}

function hourly(start: number, end: number, overrides: Partial<SeriesQuestion> = {}): SeriesQuestion {
  return { interval: '1h', start, end, entities: ['smart_money'], filters: {}, ...overrides };
}

function leaderboard(asOf: number, overrides: Partial<AsOfQuestion> = {}): AsOfQuestion {
  return { asOf, window: '24h', orderBy: BY_24H, entities: ['smart_money'], filters: {}, ...overrides };
}

describe.each(BACKENDS)('on %s', (backend) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await TestStore.start(backend);
  }, 60_000);
  afterAll(async () => store?.stop());

  describe('Nansen series', () => {
    beforeEach(async () => store.reset());

    it('builds hourly rows from the earliest snapshot in [H+1h, H+1h+10min), with exact times', async () => {
      await store.record(
        snapshot(H10, [token('uni', 1), token('aave', 2)]),
        snapshot(H10 + 5 * MINUTE, [token('uni', 99), token('aave', 99)]),
        snapshot(H10 + HOUR + 9 * MINUTE + 59_999, [token('uni', 3), token('aave', 4)]),
      );
      const answer = await store.history.series(hourly(H10 - HOUR, H10));
      expect(lines(answer.records)).toEqual([
        'smart_money aave 1h 2026-11-20T09:00:00Z..2026-11-20T10:00:00Z 2',
        'smart_money uni 1h 2026-11-20T09:00:00Z..2026-11-20T10:00:00Z 1',
        'smart_money aave 1h 2026-11-20T10:09:59Z..2026-11-20T11:09:59Z 4',
        'smart_money uni 1h 2026-11-20T10:09:59Z..2026-11-20T11:09:59Z 3',
      ]);
      expect(answer.coverage).toEqual({ buckets: 2, with_data: 2 });
    });

    it('gives a bucket no row when its only snapshot is 10 minutes or more after the hour', async () => {
      await store.record(snapshot(H10 + 10 * MINUTE, [token('uni', 1)]), snapshot(H10 + 59 * MINUTE, [token('uni', 2)]));
      const answer = await store.history.series(hourly(H10 - HOUR, H10 - HOUR));
      expect(answer.records).toEqual([]);
      expect(answer.coverage).toEqual({ buckets: 1, with_data: 0 });
    });

    it('counts missing buckets against coverage and keeps both ends of the range', async () => {
      await store.record(snapshot(H10, [token('uni', 1)]), snapshot(H10 + 3 * HOUR, [token('uni', 4)]), snapshot(H10 + 4 * HOUR, [token('uni', 5)]));
      const answer = await store.history.series(hourly(H10 - HOUR, H10 + 2 * HOUR));
      expect(lines(answer.records)).toEqual([
        'smart_money uni 1h 2026-11-20T09:00:00Z..2026-11-20T10:00:00Z 1',
        'smart_money uni 1h 2026-11-20T12:00:00Z..2026-11-20T13:00:00Z 4',
      ]);
      expect(answer.coverage).toEqual({ buckets: 4, with_data: 2 });
    });

    it('gives no row for a token that left the top list, and rows again when it is back', async () => {
      await store.record(
        snapshot(H10, [token('uni', 1), token('pepe', 1)]),
        snapshot(H10 + HOUR, [token('uni', 2)]),
        snapshot(H10 + 2 * HOUR, [token('uni', 3), token('pepe', 3)]),
      );
      const answer = await store.history.series(hourly(H10 - HOUR, H10 + HOUR, { assets: ['pepe'] }));
      expect(lines(answer.records)).toEqual([
        'smart_money pepe 1h 2026-11-20T09:00:00Z..2026-11-20T10:00:00Z 1',
        'smart_money pepe 1h 2026-11-20T11:00:00Z..2026-11-20T12:00:00Z 3',
      ]);
      expect(answer.coverage).toEqual({ buckets: 3, with_data: 3 });
    });

    it("takes each token's earliest row in the window: a small page first does not hide the recorder's list", async () => {
      await store.record(
        snapshot(H10 + 1000, [token('uni', 1)], { perPage: 100 }),
        snapshot(H10 + 3000, [token('uni', 2), token('aave', 2)]),
      );
      const answer = await store.history.series(hourly(H10 - HOUR, H10 - HOUR));
      expect(lines(answer.records)).toEqual([
        'smart_money uni 1h 2026-11-20T09:00:01Z..2026-11-20T10:00:01Z 1',
        'smart_money aave 1h 2026-11-20T09:00:03Z..2026-11-20T10:00:03Z 2',
      ]);
    });

    it('builds daily rows with the 24h window from the earliest snapshot in [D+1d, D+1d+60min)', async () => {
      await store.record(
        snapshot(D0 + DAY + 30 * MINUTE, [token('uni', 1)]),
        snapshot(D0 + DAY + 40 * MINUTE, [token('uni', 9)]),
        snapshot(D0 + 2 * DAY + 60 * MINUTE, [token('uni', 2)]),
        snapshot(D0 + 3 * DAY + 59 * MINUTE + 59_000, [token('uni', 3)]),
      );
      const answer = await store.history.series({ ...hourly(D0, D0 + 2 * DAY), interval: '1d' });
      expect(lines(answer.records)).toEqual([
        'smart_money uni 24h 2026-11-20T00:30:00Z..2026-11-21T00:30:00Z 24',
        'smart_money uni 24h 2026-11-22T00:59:59Z..2026-11-23T00:59:59Z 72',
      ]);
      expect(answer.coverage).toEqual({ buckets: 3, with_data: 2 });
    });

    it('returns whole records in the contract shape', async () => {
      const uni = token('uni', 1.5, { chain: 'base', tokenAddress: '0xAbC', marketCapUsd: 5e9, traderCount: 18, tokenAgeDays: 2198, sectors: ['Decentralised Exchanges'] });
      await store.record(snapshot(H10 + 2 * MINUTE, [uni]));
      const answer = await store.history.series(hourly(H10 - HOUR, H10 - HOUR));
      expect(answer.records).toEqual([
        {
          source: 'nansen',
          entity_type: 'smart_money',
          entity: 'smart_money',
          asset: 'uni',
          chain: 'base',
          token_address: '0xAbC',
          window: '1h',
          period_start: '2026-11-20T09:02:00Z',
          period_end: '2026-11-20T10:02:00Z',
          net_flow_native: null,
          net_flow_usd: 1.5,
          market_cap_usd: 5e9,
          trader_count: 18,
          token_age_days: 2198,
          token_sectors: ['Decentralised Exchanges'],
        },
      ]);
    });

    it('counts a bucket as covered when every asked cohort has a snapshot in it', async () => {
      await store.record(
        snapshot(H10, [token('uni', 1)]),
        snapshot(H10, [token('uni', 5)], { entity: 'smart_money:fund' }),
        snapshot(H10 + HOUR, [token('uni', 2)]),
      );
      const answer = await store.history.series(hourly(H10 - HOUR, H10, { entities: ['smart_money', 'smart_money:fund'] }));
      expect(answer.coverage).toEqual({ buckets: 2, with_data: 1 });
      expect(answer.coverageByEntity).toEqual({ smart_money: { buckets: 2, with_data: 2 }, 'smart_money:fund': { buckets: 2, with_data: 1 } });
      expect(lines(answer.records).filter((l) => l.startsWith('smart_money:fund'))).toEqual([
        'smart_money:fund uni 1h 2026-11-20T09:00:00Z..2026-11-20T10:00:00Z 5',
      ]);
    });

    it('keys a token without an address by its symbol on its chain', async () => {
      await store.record(
        snapshot(H10, [token('sol', 1, { chain: 'solana', tokenAddress: null }), token('sol', 7, { chain: 'base' })]),
        snapshot(H10 + HOUR, [token('sol', 2, { chain: 'solana', tokenAddress: null })]),
      );
      const answer = await store.history.series(hourly(H10 - HOUR, H10, { chains: ['solana'] }));
      expect(answer.records.map((r) => [r.chain, r.token_address, r.net_flow_usd])).toEqual([
        ['solana', null, 1],
        ['solana', null, 2],
      ]);
    });

    it('keeps a snapshot recorded twice once, and a row held under the same cohort, token and time once', async () => {
      const first = snapshot(H10, [token('uni', 1), token('aave', 2)]);
      await store.record(first, first, snapshot(H10, [token('uni', 1)], { chains: ['ethereum'] }));
      expect(await store.count('nansen_rows')).toBe(2);
      expect(await store.count('nansen_fetches')).toBe(2);
      const answer = await store.history.series(hourly(H10 - HOUR, H10 - HOUR));
      expect(lines(answer.records)).toHaveLength(2);
    });
  });

  describe('as_of', () => {
    beforeEach(async () => store.reset());

    const recorder = snapshot(H10, [token('uni', 1), token('aave', 2), token('pepe', 3)]);
    const caller = snapshot(H10 + 40 * MINUTE, [token('uni', 4), token('aave', 5)], { perPage: 100 });

    it('answers from the latest qualifying snapshot in (as_of - 1h, as_of], whole', async () => {
      await store.record(recorder, caller);
      const answer = await store.history.asOf(leaderboard(H10 + 45 * MINUTE));
      expect(lines(answer.records)).toEqual([
        'smart_money aave 24h 2026-11-19T10:40:00Z..2026-11-20T10:40:00Z 120',
        'smart_money uni 24h 2026-11-19T10:40:00Z..2026-11-20T10:40:00Z 96',
      ]);
      expect(answer.snapshots).toEqual([{ entity: 'smart_money', takenAt: H10 + 40 * MINUTE, tokens: 2, complete: false }]);
      expect(answer.missing).toEqual([]);
    });

    it('includes as_of itself and excludes as_of - 1h', async () => {
      await store.record(recorder, caller);
      expect((await store.history.asOf(leaderboard(H10 + 40 * MINUTE))).snapshots[0]?.takenAt).toBe(H10 + 40 * MINUTE);
      expect((await store.history.asOf(leaderboard(H10 + 40 * MINUTE - 1))).snapshots[0]?.takenAt).toBe(H10);
      expect((await store.history.asOf(leaderboard(H10 + HOUR))).snapshots[0]?.takenAt).toBe(H10 + 40 * MINUTE);
      const none = await store.history.asOf(leaderboard(H10 + 40 * MINUTE + HOUR));
      expect(none).toEqual({ records: [], snapshots: [], missing: ['smart_money'] });
      expect((await store.history.asOf(leaderboard(H10 - 1))).missing).toEqual(['smart_money']);
    });

    it('gives the asked window with period_end = t', async () => {
      await store.record(recorder);
      const answer = await store.history.asOf(leaderboard(H10 + 30 * MINUTE, { window: '7d', assets: ['pepe'] }));
      expect(lines(answer.records)).toEqual(['smart_money pepe 7d 2026-11-13T10:00:00Z..2026-11-20T10:00:00Z 504']);
    });

    it('takes only first pages ordered as the question orders, or holding the whole list', async () => {
      await store.record(
        recorder,
        snapshot(H10 + 10 * MINUTE, [token('zrx', 1)], { page: 2 }),
        snapshot(H10 + 20 * MINUTE, [token('aave', 1)], { orderBy: BY_SYMBOL }),
      );
      expect((await store.history.asOf(leaderboard(H10 + 30 * MINUTE))).snapshots[0]?.takenAt).toBe(H10);
      expect((await store.history.asOf(leaderboard(H10 + 30 * MINUTE, { orderBy: BY_SYMBOL }))).snapshots[0]?.takenAt).toBe(H10 + 20 * MINUTE);
      await store.record(snapshot(H10 + 25 * MINUTE, [token('aave', 7), token('uni', 7)], { orderBy: BY_SYMBOL, isLastPage: true }));
      const complete = await store.history.asOf(leaderboard(H10 + 30 * MINUTE));
      expect(complete.snapshots).toEqual([{ entity: 'smart_money', takenAt: H10 + 25 * MINUTE, tokens: 2, complete: true }]);
    });

    it('applies the qualifying rule and the filters as series do, per cohort', async () => {
      await store.record(
        recorder,
        snapshot(H10 + 5 * MINUTE, [token('uni', 9, { sectors: ['DeFi'] })], { filters: { sectors: ['DeFi'] } }),
        snapshot(H10 + 6 * MINUTE, [token('uni', 8)], { entity: 'smart_money:fund' }),
      );
      const answer = await store.history.asOf(
        leaderboard(H10 + 10 * MINUTE, { entities: ['smart_money', 'smart_money:fund', 'smart_money:smart_trader'], filters: { marketCapUsd: { min: 1 } }, assets: ['uni'] }),
      );
      expect(lines(answer.records)).toEqual([
        'smart_money uni 24h 2026-11-19T10:00:00Z..2026-11-20T10:00:00Z 24',
        'smart_money:fund uni 24h 2026-11-19T10:06:00Z..2026-11-20T10:06:00Z 192',
      ]);
      expect(answer.missing).toEqual(['smart_money:smart_trader']);
      const defi = await store.history.asOf(leaderboard(H10 + 10 * MINUTE, { filters: { sectors: ['DeFi'] } }));
      expect(lines(defi.records)).toEqual(['smart_money uni 24h 2026-11-19T10:05:00Z..2026-11-20T10:05:00Z 216']);
    });
  });

  describe('which snapshots qualify', () => {
    beforeEach(async () => store.reset());

    const bucket = (overrides: Partial<SeriesQuestion> = {}) => store.history.series(hourly(H10 - HOUR, H10 - HOUR, overrides));

    it('ignores a fetch narrowed by an upstream filter the question does not have, and uses it for one that has it', async () => {
      const defi = { sectors: ['DeFi'] };
      await store.record(
        snapshot(H10 + 1000, [token('uni', 1, defi)], { filters: { sectors: ['DeFi'] } }),
        snapshot(H10 + 2000, [token('uni', 2, defi), token('pepe', 2)]),
      );
      expect(lines((await bucket()).records)).toEqual([
        'smart_money pepe 1h 2026-11-20T09:00:02Z..2026-11-20T10:00:02Z 2',
        'smart_money uni 1h 2026-11-20T09:00:02Z..2026-11-20T10:00:02Z 2',
      ]);
      expect(lines((await bucket({ filters: { sectors: ['DeFi'] } })).records)).toEqual([
        'smart_money uni 1h 2026-11-20T09:00:01Z..2026-11-20T10:00:01Z 1',
      ]);
    });

    it('needs the same stablecoin and native-token choice, which rows cannot show', async () => {
      await store.record(snapshot(H10 + 1000, [token('usdc', 1)], { filters: { includeStablecoins: true } }), snapshot(H10 + 2000, [token('uni', 2)]));
      expect((await bucket()).records.map((r) => r.asset)).toEqual(['uni']);
      expect((await bucket({ filters: { includeStablecoins: true } })).records.map((r) => r.asset)).toEqual(['usdc']);
      expect((await bucket({ filters: { includeNativeTokens: true } })).coverage).toEqual({ buckets: 1, with_data: 0 });
    });

    it('takes a chain-scoped fetch for questions inside its scope only', async () => {
      await store.record(snapshot(H10 + 1000, [token('bonk', 1, { chain: 'solana' })], { chains: ['solana'] }));
      expect((await bucket()).coverage.with_data).toBe(0);
      expect((await bucket({ chains: ['solana'] })).records.map((r) => r.asset)).toEqual(['bonk']);
      expect((await bucket({ chains: ['solana', 'base'] })).coverage.with_data).toBe(0);
      await store.record(snapshot(H10 + 2000, [token('bonk', 2, { chain: 'solana' }), token('uni', 2)]));
      expect((await bucket({ chains: ['solana', 'base'] })).records.map((r) => `${r.asset} ${r.net_flow_usd}`)).toEqual(['bonk 2']);
    });

    it('takes a fetch with a range only for questions inside that range', async () => {
      await store.record(snapshot(H10 + 1000, [token('uni', 1, { marketCapUsd: 5e7 })], { filters: { marketCapUsd: { min: 1e6 } } }));
      expect((await bucket()).coverage.with_data).toBe(0);
      expect((await bucket({ filters: { marketCapUsd: { min: 1e5 } } })).coverage.with_data).toBe(0);
      expect((await bucket({ filters: { marketCapUsd: { min: 1e7, max: 1e8 } } })).records.map((r) => r.asset)).toEqual(['uni']);
    });

    it('takes a fetch of some token addresses for questions about those addresses', async () => {
      const uni = token('uni', 1);
      await store.record(snapshot(H10 + 1000, [uni], { filters: { tokenAddresses: [uni.tokenAddress!.toUpperCase(), '0xother'] } }));
      expect((await bucket()).coverage.with_data).toBe(0);
      expect((await bucket({ filters: { tokenAddresses: [uni.tokenAddress!] } })).records.map((r) => r.asset)).toEqual(['uni']);
    });

    it("ignores another cohort's snapshots", async () => {
      await store.record(snapshot(H10, [token('uni', 1)], { entity: 'smart_money:fund' }));
      expect(await bucket()).toEqual({ records: [], coverage: { buckets: 1, with_data: 0 }, coverageByEntity: { smart_money: { buckets: 1, with_data: 0 } } });
    });
  });

  describe('filters over recorded rows', () => {
    beforeAll(async () => {
      await store.reset();
      await store.record(
        snapshot(H10, [
          token('uni', 1, { sectors: ['DeFi', 'DEX'], marketCapUsd: 5e9, traderCount: 18, tokenAgeDays: 2000 }),
          token('pepe', 2, { sectors: ['Meme'], marketCapUsd: 99e6, traderCount: 3, tokenAgeDays: 400 }),
          token('bonk', 3, { chain: 'solana', tokenAddress: 'DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263', sectors: ['Meme'], marketCapUsd: null, traderCount: null, tokenAgeDays: null }),
        ]),
        snapshot(H10 + HOUR, [
          token('uni', 4, { sectors: ['DeFi', 'DEX'], marketCapUsd: 5e9, traderCount: 18, tokenAgeDays: 2000 }),
          token('pepe', 5, { sectors: ['Meme'], marketCapUsd: 101e6, traderCount: 30, tokenAgeDays: 400 }),
        ]),
      );
    });

    const assets = async (overrides: Partial<SeriesQuestion>) =>
      (await store.history.series(hourly(H10 - HOUR, H10, overrides))).records.map((r) => `${r.asset} ${r.net_flow_usd}`);

    it('by symbol, address (any case), chain and sector', async () => {
      expect(await assets({ assets: ['pepe', 'bonk'] })).toEqual(['bonk 3', 'pepe 2', 'pepe 5']);
      expect(await assets({ filters: { tokenAddresses: [token('uni', 0).tokenAddress!.toUpperCase()] } })).toEqual(['uni 1', 'uni 4']);
      expect(await assets({ assets: ['uni'], chains: ['ethereum'] })).toEqual(['uni 1', 'uni 4']);
      expect(await assets({ chains: ['solana'] })).toEqual(['bonk 3']);
      expect(await assets({ filters: { sectors: ['DEX', 'Gaming'] } })).toEqual(['uni 1', 'uni 4']);
    });

    it('by market cap, trader count and token age as recorded at t; a missing value fails a range', async () => {
      expect(await assets({ filters: { marketCapUsd: { min: 100e6 }, traderCount: { max: 30 } } })).toEqual(['uni 1', 'pepe 5', 'uni 4']);
      expect(await assets({ filters: { traderCount: { min: 3, max: 3 } } })).toEqual(['pepe 2']);
      expect(await assets({ filters: { tokenAgeDays: { min: 1000 } } })).toEqual(['uni 1', 'uni 4']);
    });
  });
});
