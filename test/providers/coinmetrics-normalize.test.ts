import { describe, expect, it } from 'vitest';
import { EXCHANGE_BY_SLUG, EXCHANGES, chainOfAsset, nativeMetric, usdMetric } from '../../src/providers/coinmetrics/catalog.js';
import { decodeAssetMetrics, seriesRecords, snapshotRecords } from '../../src/providers/coinmetrics/normalize.js';
import { UpstreamError } from '../../src/errors.js';

const binance = EXCHANGE_BY_SLUG.get('binance')!;
const bitmex = EXCHANGE_BY_SLUG.get('bitmex')!;
const kraken = EXCHANGE_BY_SLUG.get('kraken')!;
const day = (d: string) => Date.parse(`${d}T00:00:00Z`);

/** Shaped like the contract's verbatim example A: string values, nanosecond times, -status columns. */
function row(date: string, values: Record<string, string | null>) {
  const extra: Record<string, string> = {};
  for (const metric of Object.keys(values)) {
    extra[`${metric}-status`] = 'reviewed';
    extra[`${metric}-status-time`] = `${date}T09:59:13.847251000Z`;
  }
  return { asset: 'btc', time: `${date}T00:00:00.000000000Z`, ...values, ...extra };
}

describe('Coin Metrics metric ids', () => {
  it('builds FlowNet{CODE}Ntv and FlowNet{CODE}USD for all 24 exchanges, never the NtvFlow typos', () => {
    expect(EXCHANGES).toHaveLength(24);
    expect(new Set(EXCHANGES.map((e) => e.code)).size).toBe(24);
    expect(nativeMetric(binance)).toBe('FlowNetBNBNtv');
    expect(usdMetric(binance)).toBe('FlowNetBNBUSD');
    expect(nativeMetric(EXCHANGE_BY_SLUG.get('bittrex')!)).toBe('FlowNetBTXNtv');
    for (const e of EXCHANGES) expect(nativeMetric(e)).toMatch(/^FlowNet[A-Z]{3}Ntv$/);
  });

  it('derives chains from asset ids', () => {
    expect(chainOfAsset('btc')).toBe('bitcoin');
    expect(chainOfAsset('usdt_eth')).toBe('ethereum');
    expect(chainOfAsset('usdc_base.eth')).toBe('base');
    expect(chainOfAsset('mystery')).toBeNull();
  });
});

describe('decodeAssetMetrics', () => {
  const rows = [
    row('2026-11-18', { FlowNetBNBNtv: '-120.5', FlowNetBNBUSD: '-10845000.25', FlowNetKRKNtv: '3.25', FlowNetKRKUSD: '292500' }),
    row('2026-11-19', { FlowNetBNBNtv: null, FlowNetBNBUSD: null, FlowNetKRKNtv: '1', FlowNetKRKUSD: '90000' }),
    row('2026-11-20', { FlowNetBNBNtv: '20', FlowNetBNBUSD: '1800000', FlowNetKRKNtv: '-0.5', FlowNetKRKUSD: '-45000' }),
  ];

  it('reads string values, treats null as no data and an absent key as unsupported', () => {
    const decoded = decodeAssetMetrics(rows, [binance, bitmex, kraken]).get('btc')!;
    expect([...decoded.supported].sort()).toEqual(['binance', 'kraken']);
    expect(decoded.days[day('2026-11-18')]!.binance).toEqual({ native: -120.5, usd: -10845000.25 });
    expect(decoded.days[day('2026-11-19')]!.binance).toEqual({ native: null, usd: null });
  });

  it('gives series rows per day, null where a day has no data, none for unsupported exchanges', () => {
    const decoded = decodeAssetMetrics(rows, [binance, bitmex])!.get('btc')!;
    const records = seriesRecords(decoded, [binance, bitmex], day('2026-11-18'), day('2026-11-20'));
    expect(records.map((r) => [r.entity, r.period_start, r.period_end, r.net_flow_native, r.net_flow_usd])).toEqual([
      ['binance', '2026-11-18T00:00:00Z', '2026-11-19T00:00:00Z', -120.5, -10845000.25],
      ['binance', '2026-11-19T00:00:00Z', '2026-11-20T00:00:00Z', null, null],
      ['binance', '2026-11-20T00:00:00Z', '2026-11-21T00:00:00Z', 20, 1800000],
    ]);
    expect(records[0]).toEqual({
      source: 'coinmetrics',
      entity_type: 'exchange',
      entity: 'binance',
      asset: 'btc',
      chain: 'bitcoin',
      token_address: null,
      window: '1d',
      period_start: '2026-11-18T00:00:00Z',
      period_end: '2026-11-19T00:00:00Z',
      net_flow_native: -120.5,
      net_flow_usd: -10845000.25,
      market_cap_usd: null,
      trader_count: null,
      token_age_days: null,
      token_sectors: [],
    });
  });

  it('sums complete days for a snapshot and makes the sum null when a day is missing', () => {
    const decoded = decodeAssetMetrics(rows, [binance, kraken]).get('btc')!;
    const latest = day('2026-11-20');
    const week = snapshotRecords(decoded, [binance, kraken], '7d', latest);
    expect(week.map((r) => [r.entity, r.window, r.period_start, r.period_end, r.net_flow_native])).toEqual([
      ['binance', '7d', '2026-11-14T00:00:00Z', '2026-11-21T00:00:00Z', null],
      ['kraken', '7d', '2026-11-14T00:00:00Z', '2026-11-21T00:00:00Z', null],
    ]);
    const day1 = snapshotRecords(decoded, [binance, kraken], '24h', latest);
    expect(day1.map((r) => [r.entity, r.net_flow_native, r.net_flow_usd])).toEqual([
      ['binance', 20, 1800000],
      ['kraken', -0.5, -45000],
    ]);
  });

  it('sums across days when every day is present', () => {
    const threeDays = [0, 1, 2].map((i) => row(`2026-11-${18 + i}`, { FlowNetKRKNtv: String(i + 1), FlowNetKRKUSD: String((i + 1) * 10) }));
    const sevenDays = [...Array(7).keys()].map((i) => row(`2026-11-${14 + i}`, { FlowNetKRKNtv: '1.5', FlowNetKRKUSD: '-2' }));
    expect(snapshotRecords(decodeAssetMetrics(threeDays, [kraken]).get('btc')!, [kraken], '24h', day('2026-11-20'))[0]!.net_flow_native).toBe(3);
    const week = snapshotRecords(decodeAssetMetrics(sevenDays, [kraken]).get('btc')!, [kraken], '7d', day('2026-11-20'))[0]!;
    expect([week.net_flow_native, week.net_flow_usd]).toEqual([10.5, -14]);
  });

  it('ends the window at the latest day with data when the latest day is not published yet', () => {
    const late = [row('2026-11-19', { FlowNetKRKNtv: '4', FlowNetKRKUSD: '40' })];
    const [record] = snapshotRecords(decodeAssetMetrics(late, [kraken]).get('btc')!, [kraken], '24h', day('2026-11-20'));
    expect([record!.period_start, record!.period_end, record!.net_flow_native]).toEqual(['2026-11-19T00:00:00Z', '2026-11-20T00:00:00Z', 4]);
  });

  it('turns unreadable values into null, never NaN', () => {
    const hostile = [{ asset: 'btc', time: '2026-11-20T00:00:00.000000000Z', FlowNetKRKNtv: 'NaN', FlowNetKRKUSD: { x: 1 } }];
    const cell = decodeAssetMetrics(hostile, [kraken]).get('btc')!.days[day('2026-11-20')]!.kraken;
    expect(cell).toEqual({ native: null, usd: null });
  });

  it('rejects rows without asset or time as malformed', () => {
    expect(() => decodeAssetMetrics([{ time: '2026-11-20T00:00:00Z' }], [kraken])).toThrow(UpstreamError);
    expect(() => decodeAssetMetrics([{ asset: 'btc', time: 'yesterday' }], [kraken])).toThrow(UpstreamError);
  });
});
