import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cellsOf, isSettled } from '../../src/history/coinmetrics-store.js';
import { History } from '../../src/history/history.js';
import { migrate, MIGRATIONS } from '../../src/history/migrations.js';
import type { AssetDays } from '../../src/providers/coinmetrics/normalize.js';
import { BACKENDS, D0, DAY, HOUR, snapshot, TestStore, token } from './helpers.js';

const btc: AssetDays = {
  asset: 'btc',
  supported: ['binance', 'kraken'],
  days: {
    [D0]: { binance: { native: -12.5, usd: -1_250_000 }, kraken: { native: 3, usd: 300_000 } },
    [D0 + DAY]: { binance: { native: null, usd: null }, kraken: { native: 1, usd: 100_000 } },
  },
};

describe.each(BACKENDS)('on %s', (backend) => {
  let store: TestStore;
  beforeAll(async () => {
    store = await TestStore.start(backend);
  }, 60_000);
  afterAll(async () => store?.stop());
  beforeEach(async () => store.reset());

  describe('Coin Metrics days', () => {
    const exchanges = ['binance', 'kraken', 'okx'];

    it('reads back recorded days in the day cache shape, with the days held for every asked exchange', async () => {
      store.history.recordCoinMetrics(cellsOf([btc], exchanges, D0, D0 + DAY, D0 + 3 * DAY));
      await store.history.flush();
      const held = await store.history.coinMetricsDays(['btc', 'eth'], exchanges, D0 - DAY, D0 + 2 * DAY);
      expect([...held.keys()]).toEqual(['btc']);
      expect(held.get('btc')).toEqual({
        asset: 'btc',
        supported: ['binance', 'kraken'],
        days: {
          [D0]: { binance: { native: -12.5, usd: -1_250_000 }, kraken: { native: 3, usd: 300_000 } },
          [D0 + DAY]: { binance: { native: null, usd: null }, kraken: { native: 1, usd: 100_000 } },
        },
        held: { [D0]: D0 + 3 * DAY, [D0 + DAY]: D0 + 3 * DAY },
      });
      const wider = await store.history.coinMetricsDays(['btc'], [...exchanges, 'coinbase'], D0, D0 + DAY);
      expect(wider.get('btc')?.held).toEqual({});
    });

    it('keeps the later of two fetches of a day, whichever is written last', async () => {
      const later = { ...btc, days: { [D0]: { binance: { native: -13, usd: -1_300_000 }, kraken: { native: 3, usd: 300_000 } } } };
      store.history.recordCoinMetrics(cellsOf([later], exchanges, D0, D0, D0 + 2 * DAY));
      store.history.recordCoinMetrics(cellsOf([btc], exchanges, D0, D0, D0 + DAY + HOUR));
      await store.history.flush();
      const held = await store.history.coinMetricsDays(['btc'], exchanges, D0, D0);
      expect(held.get('btc')?.days[D0]?.binance).toEqual({ native: -13, usd: -1_300_000 });
      expect(held.get('btc')?.held).toEqual({ [D0]: D0 + 2 * DAY });
    });

    it('calls a day settled only when fetched after a later day had completed', () => {
      expect(isSettled(D0, D0 + DAY + HOUR)).toBe(false);
      expect(isSettled(D0, D0 + 2 * DAY)).toBe(true);
    });
  });

  describe('retention and stats', () => {
    it('deletes what is older than the cutoff, in batches, and nothing newer', async () => {
      for (let h = 0; h < 5; h++) store.history.recordNansen(snapshot(D0 + h * HOUR, [token('uni', h), token('aave', h), token('pepe', h)]));
      store.history.recordCoinMetrics(cellsOf([btc], ['binance', 'kraken'], D0, D0 + DAY, D0 + 2 * DAY));
      await store.history.flush();
      for (const hour of [D0 + 2 * HOUR, D0 + 4 * HOUR]) {
        await store.history.claimHour(hour, 'a', hour);
        await store.history.saveRecorderRun({ hour, source: 'nansen', set: 'smart_money@all', outcome: 'recorded', reason: null, credits: 5, rows: 3, startedAt: hour, finishedAt: hour, replica: 'a' });
      }
      const gone = await store.history.retain(D0 + 3 * HOUR);
      expect(gone).toEqual({ nansenRows: 9, nansenSnapshots: 3, coinmetricsCells: 0, recorderRuns: 1 });
      expect(await store.count('nansen_rows')).toBe(6);
      expect(await store.count('recorder_hours')).toBe(1);
      expect(await store.history.retain(D0 + DAY)).toEqual({ nansenRows: 6, nansenSnapshots: 2, coinmetricsCells: 2, recorderRuns: 1 });
      expect(await store.count('coinmetrics_days')).toBe(2);
    });

    it('says where history is kept and how much it holds', async () => {
      store.history.recordNansen(snapshot(D0 + HOUR, [token('uni', 1), token('aave', 2)]));
      store.history.recordNansen(snapshot(D0 + 2 * HOUR, [token('uni', 1)]));
      store.history.recordCoinMetrics(cellsOf([btc], ['binance'], D0, D0 + DAY, D0 + 2 * DAY));
      await store.history.flush();
      const stats = await store.history.stats();
      expect(stats.state).toBe('ready');
      expect(stats.location).toEqual(
        backend === 'postgresql' ? { kind: 'postgresql', host: '127.0.0.1', port: store.server!.port, database: 'history' } : { kind: 'embedded', dir: store.where },
      );
      expect(stats.sources?.nansen).toMatchObject({ rows: 3, rowsEstimated: false, earliest: D0 + HOUR, latest: D0 + 2 * HOUR });
      expect(stats.sources?.coinmetrics).toMatchObject({ rows: 2, rowsEstimated: false, earliest: D0, latest: D0 + DAY });
      expect(stats.sources!.nansen.bytes).toBeGreaterThan(0);
      expect(stats.writes).toMatchObject({ queuedRows: 0, droppedRows: 0 });
      expect(stats.writes.writtenRows).toBeGreaterThanOrEqual(5);
      expect(JSON.stringify(stats)).not.toMatch(/password|postgres:\/\//);
    });
  });

  describe('migrations', () => {
    it('apply once: a second run finds nothing to do and keeps the data', async () => {
      await store.record(snapshot(D0, [token('uni', 1)]));
      expect(await migrate(store.db)).toEqual([]);
      expect(await store.count('history_migrations')).toBe(MIGRATIONS.length);
      expect(await store.count('nansen_rows')).toBe(1);
    });

    it('refuse a database whose schema is newer than this gateway knows', async () => {
      const newer = [...MIGRATIONS, { version: 99, name: 'from the future', statements: ['CREATE TABLE future (a int)'] }];
      await migrate(store.db, {}, newer);
      try {
        await expect(migrate(store.db)).rejects.toThrow(`the history database has schema version 99, newer than this gateway knows (${MIGRATIONS.at(-1)!.version})`);
      } finally {
        await store.db.query('DROP TABLE future');
        await store.db.query('DELETE FROM history_migrations WHERE version = 99');
      }
    });
  });

  it('keeps what was recorded across a close and a new open', async () => {
    await store.record(snapshot(D0 + HOUR, [token('uni', 1)]));
    const reopened = await store.reopen();
    const answer = await reopened.series({ interval: '1h', start: D0, end: D0, entities: ['smart_money'], filters: {} });
    expect(answer.records.map((r) => `${r.asset} ${r.period_end}`)).toEqual(['uni 2026-11-20T01:00:00Z']);
  });
});

describe('a History that is not open yet', () => {
  it('refuses reads as unavailable with a retry-after, and queues writes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const history = new History({ open: () => gate.then(() => Promise.reject(new Error('never opens'))), retryAfterMs: 7000 });
    expect(history.state).toBe('opening');
    await expect(history.series({ interval: '1h', start: D0, end: D0, entities: ['smart_money'], filters: {} })).rejects.toMatchObject({
      name: 'HistoryUnavailable',
      code: 'history_unavailable',
      retryAfterMs: 7000,
    });
    expect(history.recordNansen(snapshot(D0, [token('uni', 1)]))).toBe(true);
    expect((await history.stats()).writes).toMatchObject({ queuedItems: 1, queuedRows: 1 });
    release();
    await expect(history.ready).rejects.toThrow('the history store could not be opened (never opens)');
    expect(history.state).toBe('failed');
    await history.close();
    expect((await history.stats()).writes).toMatchObject({ queuedRows: 0, droppedRows: 1 });
  });
});
