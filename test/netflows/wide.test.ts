import { describe, expect, it } from 'vitest';
import { serialize, toWideCsv } from '../../src/netflows/format.js';
import { widen } from '../../src/netflows/wide.js';
import type { NetflowRecord } from '../../src/model.js';

const HOUR = 3_600_000;
const start = Date.parse('2026-11-21T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace('.000Z', 'Z');

/** A Nansen hourly row: its period starts when its snapshot was taken, minutes after the hour. */
function row(symbol: string, address: string | null, chain: string | null, hour: number, usd: number | null): NetflowRecord {
  const taken = start + (hour + 1) * HOUR + 4 * 60_000;
  return {
    source: 'nansen',
    entity_type: 'smart_money',
    entity: 'smart_money:fund',
    asset: symbol,
    chain,
    token_address: address,
    window: '1h',
    period_start: iso(taken - HOUR),
    period_end: iso(taken),
    net_flow_native: null,
    net_flow_usd: usd,
    market_cap_usd: null,
    trader_count: null,
    token_age_days: null,
    token_sectors: [],
  };
}

describe('widen', () => {
  const range = { interval: '1h' as const, start, end: start + 3 * HOUR };

  it('keys columns by entity, asset and chain; a series without a chain has none; two tokens of one symbol on a chain get their addresses', () => {
    const records = [
      row('uni', '0xaaa', 'ethereum', 0, 5),
      row('pepe', '0x111', 'ethereum', 1, -2.5),
      row('pepe', '0x222', 'ethereum', 1, 7),
      row('pepe', 'So1pepe', 'solana', 2, 1),
      row('wbtc', null, null, 3, 0),
    ];
    const table = widen(records, range, 'net_flow_usd');
    expect(table.columns).toEqual([
      'smart_money:fund:pepe:ethereum:0x111',
      'smart_money:fund:pepe:ethereum:0x222',
      'smart_money:fund:pepe:solana',
      'smart_money:fund:uni:ethereum',
      'smart_money:fund:wbtc',
    ]);
    expect(table.rows).toEqual([
      { time: '2026-11-21T00:00:00Z', 'smart_money:fund:pepe:ethereum:0x111': null, 'smart_money:fund:pepe:ethereum:0x222': null, 'smart_money:fund:pepe:solana': null, 'smart_money:fund:uni:ethereum': 5, 'smart_money:fund:wbtc': null },
      { time: '2026-11-21T01:00:00Z', 'smart_money:fund:pepe:ethereum:0x111': -2.5, 'smart_money:fund:pepe:ethereum:0x222': 7, 'smart_money:fund:pepe:solana': null, 'smart_money:fund:uni:ethereum': null, 'smart_money:fund:wbtc': null },
      { time: '2026-11-21T02:00:00Z', 'smart_money:fund:pepe:ethereum:0x111': null, 'smart_money:fund:pepe:ethereum:0x222': null, 'smart_money:fund:pepe:solana': 1, 'smart_money:fund:uni:ethereum': null, 'smart_money:fund:wbtc': null },
      { time: '2026-11-21T03:00:00Z', 'smart_money:fund:pepe:ethereum:0x111': null, 'smart_money:fund:pepe:ethereum:0x222': null, 'smart_money:fund:pepe:solana': null, 'smart_money:fund:uni:ethereum': null, 'smart_money:fund:wbtc': 0 },
    ]);
    expect(table.warnings).toEqual([]);
  });

  it('gives a row of nulls for a bucket without data, only time for an answer without rows, and warns of columns that are null throughout', () => {
    expect(widen([], range, 'net_flow_usd')).toEqual({ columns: [], rows: [0, 1, 2, 3].map((h) => ({ time: iso(start + h * HOUR) })), warnings: [] });
    const native = widen([row('uni', '0xaaa', 'ethereum', 2, 5)], range, 'net_flow_native');
    expect(native.rows.map((r) => r['smart_money:fund:uni:ethereum'])).toEqual([null, null, null, null]);
    expect(native.warnings).toEqual(['1 of 1 columns have no net_flow_native in the range (smart_money:fund:uni:ethereum); their cells are null']);
  });

  it('writes a CSV a spreadsheet cannot run: a column named like a formula is defused and quoted', () => {
    const csv = toWideCsv(['=cmd|x,y', 'smart_money:uni:ethereum'], [{ time: '2026-11-21T00:00:00Z', '=cmd|x,y': 1.5, 'smart_money:uni:ethereum': null }]);
    expect(csv).toBe(`time,"'=cmd|x,y",smart_money:uni:ethereum\r\n2026-11-21T00:00:00Z,1.5,\r\n`);
  });

  it('writes only time and the numeric columns into JSON, numbers as numbers', () => {
    const body = serialize(
      { records: [], wide: { columns: ['binance:btc:bitcoin'], rows: [{ time: '2026-11-21T00:00:00Z', 'binance:btc:bitcoin': -12.25 }] }, nextCursor: null, complete: true, sources: [], warnings: [] },
      'json',
    );
    expect(body).toBe('{"data":[{"time":"2026-11-21T00:00:00Z","binance:btc:bitcoin":-12.25}],"next_cursor":null,"complete":true,"sources":[],"warnings":[]}');
  });
});
