import { describe, expect, it } from 'vitest';
import { curlLine, grafanaUrl, netflowsPath, splitList, type Question } from '../../src/explorer/page/question.js';
import { alignSeries, type SeriesRow } from '../../src/explorer/page/series.js';

const ORIGIN = 'http://127.0.0.1:8080';
const snapshot: Question = { mode: 'snapshot', source: '', window: '7d', interval: '1d', entities: [], assets: [], chain: '', sort: '', limit: 25 };

describe('the explorer\'s question', () => {
  it('asks /netflows with only the parameters that are set, lists comma-separated and readable', () => {
    expect(netflowsPath(snapshot)).toBe('/netflows?window=7d&limit=25');
    expect(netflowsPath({ ...snapshot, source: 'nansen', entities: ['smart_money:fund', 'smart_money'], assets: ['uni'], chain: 'solana', sort: '-trader_count' }, 'abc')).toBe(
      '/netflows?source=nansen&window=7d&entity=smart_money:fund,smart_money&asset=uni&chain=solana&sort=-trader_count&limit=25&cursor=abc',
    );
    expect(netflowsPath({ ...snapshot, mode: 'series', interval: '1h', assets: ['btc'], sort: '-net_flow_usd' })).toBe('/netflows?interval=1h&asset=btc&limit=1000');
  });

  it('copies as curl with the token left in the shell, never in the line', () => {
    expect(curlLine(ORIGIN, snapshot, false)).toBe(`curl '${ORIGIN}/netflows?window=7d&limit=25'`);
    expect(curlLine(ORIGIN, snapshot, true)).toBe(`curl -H "Authorization: Bearer $NETFLOWS_TOKEN" '${ORIGIN}/netflows?window=7d&limit=25'`);
  });

  it('keeps a quote typed into a picker from ending the curl line\'s quoted URL', () => {
    const line = curlLine(ORIGIN, { ...snapshot, assets: ["btc'; rm -rf ~; echo '"] }, false);
    expect(line).toBe(`curl '${ORIGIN}/netflows?window=7d&asset=btc%27%3B%20rm%20-rf%20~%3B%20echo%20%27&limit=25'`);
    expect(line.split("'")).toHaveLength(3);
  });

  it('gives Grafana one large page, and a series the dashboard\'s time range in epoch ms', () => {
    expect(grafanaUrl(ORIGIN, snapshot)).toBe(`${ORIGIN}/netflows?window=7d&limit=1000`);
    expect(grafanaUrl(ORIGIN, { ...snapshot, mode: 'series', assets: ['btc'], entities: ['binance'] })).toBe(
      `${ORIGIN}/netflows?interval=1d&entity=binance&asset=btc&limit=1000&start=\${__from}&end=\${__to}`,
    );
  });

  it('reads a typed list: commas or spaces, lower case, no blanks or repeats', () => {
    expect(splitList(' BTC, eth  uni,,btc ')).toEqual(['btc', 'eth', 'uni']);
    expect(splitList('')).toEqual([]);
  });
});

describe('the explorer\'s series alignment', () => {
  const row = (source: string, entity: string, start: string, usd: number | null): SeriesRow => ({
    source, entity, asset: 'btc', chain: 'bitcoin', token_address: null, period_start: start, net_flow_usd: usd,
  });

  it('puts daily and hourly periods of both sources on one ascending axis, null where a line has no value', () => {
    const aligned = alignSeries([
      row('coinmetrics', 'binance', '2026-11-20T00:00:00Z', 5),
      row('coinmetrics', 'binance', '2026-11-19T00:00:00Z', null),
      row('nansen', 'smart_money', '2026-11-20T01:00:00Z', -2.5),
    ]);
    const t = (iso: string) => Date.parse(iso) / 1000;
    expect(aligned.times).toEqual([t('2026-11-19T00:00:00Z'), t('2026-11-20T00:00:00Z'), t('2026-11-20T01:00:00Z')]);
    expect(aligned.lines).toEqual([
      { source: 'coinmetrics', label: 'binance btc (bitcoin)', values: [null, 5, null] },
      { source: 'nansen', label: 'smart_money btc (bitcoin)', values: [null, null, -2.5] },
    ]);
    expect(aligned.points).toBe(2);
  });
});
