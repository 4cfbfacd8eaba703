import { describe, expect, it } from 'vitest';
import { normalizeNetflows } from '../../src/providers/nansen/normalize.js';
import { UpstreamError } from '../../src/errors.js';

/** The contract's live sample (a), verbatim. */
const live = JSON.parse(`{"data":[
 {"token_address":"0x1f9840a85d5af5bf1d1762f925bdaddc4201f984","token_symbol":"UNI","net_flow_1h_usd":0,"net_flow_24h_usd":98910.48134913587,"net_flow_7d_usd":-62934.1016687399,"net_flow_30d_usd":-43524.46212126657,"chain":"ethereum","token_sectors":["Decentralised Exchanges"],"trader_count":18,"token_age_days":2198,"market_cap_usd":5446144823.37244},
 {"token_address":"0x643c4e15d7d62ad0abec4a9bd4b001aa3ef52d66","token_symbol":"SYRUP","net_flow_1h_usd":0,"net_flow_24h_usd":18694.773663243956,"net_flow_7d_usd":6989.349844077431,"net_flow_30d_usd":6989.349844077431,"chain":"ethereum","token_sectors":["DeFi Lending (Money Markets)","Yield Bearing"],"trader_count":2,"token_age_days":739,"market_cap_usd":268628114.044823},
 {"token_address":"0xc50673edb3a7b94e8cad8a7d4e0cd68864e33edf","token_symbol":"PNKSTR","net_flow_1h_usd":0,"net_flow_24h_usd":11070.007946545791,"net_flow_7d_usd":11070.007946545791,"net_flow_30d_usd":10974.268118532853,"chain":"ethereum","token_sectors":[],"trader_count":2,"token_age_days":380,"market_cap_usd":9565688.08536539}],
 "pagination":{"page":1,"per_page":3,"is_last_page":false}}`);

const asOf = Date.parse('2026-11-21T09:58:00Z');

describe('normalizeNetflows', () => {
  it('maps the live sample to records, picking the asked window', () => {
    const records = normalizeNetflows(live.data, { entity: 'smart_money', window: '7d', asOf });
    expect(records[0]).toEqual({
      source: 'nansen',
      entity_type: 'smart_money',
      entity: 'smart_money',
      asset: 'uni',
      chain: 'ethereum',
      token_address: '0x1f9840a85d5af5bf1d1762f925bdaddc4201f984',
      window: '7d',
      period_start: '2026-11-14T09:58:00Z',
      period_end: '2026-11-21T09:58:00Z',
      net_flow_native: null,
      net_flow_usd: -62934.1016687399,
      market_cap_usd: 5446144823.37244,
      trader_count: 18,
      token_age_days: 2198,
      token_sectors: ['Decentralised Exchanges'],
    });
    expect(records.map((r) => r.asset)).toEqual(['uni', 'syrup', 'pnkstr']);
    expect(records[2]!.token_sectors).toEqual([]);
  });

  it('keeps the sign: positive is smart money accumulating', () => {
    const [uni] = normalizeNetflows(live.data, { entity: 'smart_money:fund', window: '24h', asOf });
    expect(uni!.net_flow_usd).toBe(98910.48134913587);
    expect(uni!.entity).toBe('smart_money:fund');
    expect(uni!.period_start).toBe('2026-11-20T09:58:00Z');
  });

  it('gives integer 0 for a quiet 1h window, not null', () => {
    expect(normalizeNetflows(live.data, { entity: 'smart_money', window: '1h', asOf })[0]!.net_flow_usd).toBe(0);
  });

  it('turns wrong types into null and never emits a non-finite number', () => {
    const hostile = [{ token_symbol: 'X', chain: 'base', net_flow_24h_usd: '1e999', market_cap_usd: { v: 1 }, trader_count: 2.5, token_age_days: 'old', token_sectors: ['ok', 7] }];
    const [record] = normalizeNetflows(hostile, { entity: 'smart_money', window: '24h', asOf });
    expect([record!.net_flow_usd, record!.market_cap_usd, record!.trader_count, record!.token_age_days, record!.token_address]).toEqual([null, null, null, null, null]);
    expect(record!.token_sectors).toEqual(['ok']);
  });

  it('rejects a row without symbol or chain as malformed', () => {
    expect(() => normalizeNetflows([{ chain: 'ethereum' }], { entity: 'smart_money', window: '24h', asOf })).toThrow(UpstreamError);
    expect(() => normalizeNetflows(['row'], { entity: 'smart_money', window: '24h', asOf })).toThrow(UpstreamError);
  });
});
