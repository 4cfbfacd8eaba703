import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startCoinMetricsSim, type CoinMetricsSim } from '../../src/demo/sim/coinmetrics.js';
import {
  CM_ASSETS,
  EXCHANGE_CODES,
  cmFlowNetNtv,
  cmFlowNetUsd,
  cmMetricValue,
  cmPriceUsd,
  dayNumber,
  isoDay,
} from '../../src/demo/sim/coinmetrics-data.js';

const KEY = 'cm-test-key';
const NOW = Date.UTC(2026, 10, 21, 10, 30);
const LATEST_DAY = '2026-11-20';
const ROW_TIME = /^\d{4}-\d{2}-\d{2}T00:00:00\.000000000Z$/;
const NS_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z$/;

interface Row {
  asset: string;
  time: string;
  [metric: string]: string | null;
}
interface Body {
  data: Row[];
  next_page_token?: string;
  next_page_url?: string;
  error?: { type: string; message: string };
}

let clock = NOW;
const now = () => clock;

async function getUrl(url: string) {
  const res = await request(url);
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text, body: JSON.parse(text) as Body };
}

function assetMetrics(sim: CoinMetricsSim, query: string) {
  return getUrl(`${sim.url}/timeseries/asset-metrics?${query}`);
}

function day(row: Row): string {
  return row.time.slice(0, 10);
}

function daysBetween(from: string, to: string): number {
  return dayNumber(to) - dayNumber(from) + 1;
}

function badParameter(message: string) {
  return { error: { type: 'bad_parameter', message } };
}

const TIME_FORMATS_MESSAGE =
  "Supported formats are 'yyyy-MM-dd', 'yyyyMMdd', 'yyyy-MM-ddTHH:mm:ss', 'yyyy-MM-ddTHHmmss', 'yyyy-MM-ddTHH:mm:ss.SSS', " +
  "'yyyy-MM-ddTHHmmss.SSS', 'yyyy-MM-ddTHH:mm:ss.SSSSSS', 'yyyy-MM-ddTHHmmss.SSSSSS', 'yyyy-MM-ddTHH:mm:ss.SSSSSSSSS', " +
  "'yyyy-MM-ddTHHmmss.SSSSSSSSS'.";

describe('Coin Metrics simulator (Pro)', () => {
  let sim: CoinMetricsSim;
  const pro = (query: string) => assetMetrics(sim, `api_key=${KEY}&${query}`);

  beforeAll(async () => {
    sim = await startCoinMetricsSim({ apiKey: KEY, now });
  });
  afterAll(() => sim.close());
  beforeEach(() => {
    clock = NOW;
    sim.reset();
  });

  it('serves its base URL under /v4 on loopback', () => {
    expect(sim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v4$/);
  });

  it('answers one row per asset and day, values as strings, unsupported metrics absent', async () => {
    const metrics = 'FlowNetBMXNtv,FlowNetBNBNtv,FlowNetBNBUSD,PriceUSD';
    const res = await pro(`assets=sol,BTC&metrics=${metrics}&start_time=2026-11-10&end_time=2026-11-20&paging_from=start`);

    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['cf-ray']).toMatch(/^[0-9a-f]{16}-SIM$/);
    expect(res.body.next_page_token).toBeUndefined();
    expect(res.body.data.map((row) => `${row.asset} ${day(row)}`)).toEqual([
      ...Array.from({ length: 11 }, (_, i) => `btc ${isoDay(dayNumber('2026-11-10') + i)}`),
      ...Array.from({ length: 11 }, (_, i) => `sol ${isoDay(dayNumber('2026-11-10') + i)}`),
    ]);
    for (const row of res.body.data) {
      expect(row.time).toMatch(ROW_TIME);
      expect('FlowNetBMXNtv' in row).toBe(row.asset === 'btc');
      for (const metric of metrics.split(',')) {
        const expected = cmMetricValue(row.asset, metric, day(row));
        if (expected === undefined) continue;
        expect(row[metric]).toBe(expected);
      }
    }
  });

  it('prices FlowNet USD as the native flow times PriceUSD', async () => {
    const res = await pro('assets=btc&metrics=FlowNetBNBNtv,FlowNetBNBUSD,PriceUSD&start_time=2026-10-01&end_time=2026-10-31');
    for (const row of res.body.data) {
      if (row.FlowNetBNBNtv === null) continue;
      const product = Number(row.FlowNetBNBNtv) * Number(row.PriceUSD);
      expect(Number(row.FlowNetBNBUSD)).toBeCloseTo(product, 4);
    }
  });

  it('adds -status and -status-time to flows: flash for the last two days, reviewed before', async () => {
    const res = await pro('assets=btc&metrics=FlowNetBFXNtv,FlowNetCBSUSD,PriceUSD&start_time=2026-11-10');
    expect(res.body.data.map(day).slice(-4)).toEqual(['2026-11-17', '2026-11-18', '2026-11-19', LATEST_DAY]);
    for (const row of res.body.data) {
      const expected = day(row) >= '2026-11-19' ? 'flash' : 'reviewed';
      for (const metric of ['FlowNetBFXNtv', 'FlowNetCBSUSD']) {
        expect(row[`${metric}-status`]).toBe(row[metric] === null ? undefined : expected);
      }
      expect(row['PriceUSD-status']).toBeUndefined();
    }
    const complete = res.body.data.find((row) => row.FlowNetBFXNtv !== null && row.FlowNetCBSUSD !== null);
    expect(Object.keys(complete ?? {})).toEqual([
      'asset', 'time',
      'FlowNetBFXNtv', 'FlowNetBFXNtv-status', 'FlowNetBFXNtv-status-time',
      'FlowNetCBSUSD', 'FlowNetCBSUSD-status', 'FlowNetCBSUSD-status-time',
      'PriceUSD',
    ]);
    const statusTime = complete?.['FlowNetBFXNtv-status-time'] ?? '';
    expect(statusTime).toMatch(NS_TIME);
    expect(statusTime.slice(0, 10)).toBe(isoDay(dayNumber(day(complete as Row)) + 1));
  });

  it('sends JSON null, without status keys, on the few days without data', async () => {
    const noDataDay = findNoDataDay('btc', 'KRK', '2026-01-01');
    const res = await pro(`assets=btc&metrics=FlowNetKRKNtv,FlowNetKRKUSD,PriceUSD&start_time=${noDataDay}&end_time=${noDataDay}`);
    expect(res.body.data).toEqual([
      { asset: 'btc', time: `${noDataDay}T00:00:00.000000000Z`, FlowNetKRKNtv: null, FlowNetKRKUSD: null, PriceUSD: cmPriceUsd('btc', noDataDay) },
    ]);
  });

  it('leaves about 2% of asset × exchange × day cells without data', () => {
    let cells = 0;
    let missing = 0;
    for (const asset of CM_ASSETS) {
      for (const code of asset.exchanges) {
        for (let d = dayNumber('2025-01-01'); d <= dayNumber('2025-12-31'); d++) {
          cells++;
          if (cmFlowNetNtv(asset.id, code, isoDay(d)) === null) missing++;
        }
      }
    }
    expect(missing / cells).toBeGreaterThan(0.01);
    expect(missing / cells).toBeLessThan(0.03);
  });

  it('keeps flow magnitudes realistic: btc on Binance in the hundreds to thousands of coins, both signs', () => {
    const values = Array.from({ length: 365 }, (_, i) => cmFlowNetNtv('btc', 'BNB', isoDay(dayNumber('2025-01-01') + i)))
      .filter((value): value is string => value !== null)
      .map(Number);
    expect(Math.max(...values.map(Math.abs))).toBeLessThan(5_000);
    expect(Math.min(...values.map(Math.abs))).toBeGreaterThan(100);
    expect(values.some((value) => value < 0)).toBe(true);
    expect(values.some((value) => value > 0)).toBe(true);
    expect(Number(cmFlowNetUsd('btc', 'BNB', '2025-06-01'))).not.toBe(0);
  });

  it('pages from the end by default: the latest page_size rows, in ascending order', async () => {
    const res = await pro('assets=btc&metrics=PriceUSD');
    expect(res.body.data).toHaveLength(100);
    expect(day(res.body.data[0] as Row)).toBe(isoDay(dayNumber(LATEST_DAY) - 99));
    expect(day(res.body.data[99] as Row)).toBe(LATEST_DAY);
    const token = res.body.next_page_token ?? '';
    expect(token).toMatch(/^0\.[A-Za-z0-9_-]+,[A-Za-z0-9_-]+$/);
    expect(res.body.next_page_url).toBe(
      `${sim.url}/timeseries/asset-metrics?api_key=${KEY}&assets=btc&metrics=PriceUSD&next_page_token=${token}`,
    );
  });

  it('walks backwards through next_page_url until the first row, covering every row once', async () => {
    const pages: Row[][] = [];
    let url: string | undefined = `${sim.url}/timeseries/asset-metrics?assets=eth,btc&metrics=FlowNetBNBNtv&page_size=1000&api_key=${KEY}`;
    while (url) {
      const res = await getUrl(url);
      expect(res.status).toBe(200);
      pages.push(res.body.data);
      expect(res.body.next_page_url === undefined).toBe(res.body.next_page_token === undefined);
      url = res.body.next_page_url;
    }
    const rows = pages.reverse().flat();
    const perAsset = daysBetween('2019-01-01', LATEST_DAY);
    expect(rows).toHaveLength(2 * perAsset);
    expect(rows.map((row) => `${row.asset} ${day(row)}`)).toEqual([
      ...Array.from({ length: perAsset }, (_, i) => `btc ${isoDay(dayNumber('2019-01-01') + i)}`),
      ...Array.from({ length: perAsset }, (_, i) => `eth ${isoDay(dayNumber('2019-01-01') + i)}`),
    ]);
    expect(sim.pageRequests()).toHaveLength(pages.length - 1);
  });

  it('walks forward with paging_from=start and next_page_token, matching one big page', async () => {
    const base = 'assets=usdc_eth,sol&metrics=FlowNetCBSNtv,PriceUSD&paging_from=start&start_time=2024-06-01';
    const whole = await pro(`${base}&page_size=10000`);
    expect(whole.body.next_page_token).toBeUndefined();

    const rows: Row[] = [];
    let token: string | undefined;
    do {
      const res = await pro(`${base}&page_size=333${token ? `&next_page_token=${token}` : ''}`);
      rows.push(...res.body.data);
      token = res.body.next_page_token;
    } while (token);
    expect(rows).toEqual(whole.body.data);
    expect(rows[0]).toMatchObject({ asset: 'sol', time: '2024-06-01T00:00:00.000000000Z' });
    expect(rows.at(-1)).toMatchObject({ asset: 'usdc_eth', time: `${LATEST_DAY}T00:00:00.000000000Z` });
  });

  it('starts each asset at its own first day', async () => {
    const res = await pro('assets=usdc_base.eth&metrics=PriceUSD&paging_from=start&page_size=2&start_time=2020-01-01');
    expect(res.body.data.map(day)).toEqual(['2024-01-01', '2024-01-02']);
  });

  it.each([
    ['start_inclusive=false', ['2026-11-11', '2026-11-12']],
    ['end_inclusive=false', ['2026-11-10', '2026-11-11']],
    ['start_inclusive=false&end_inclusive=false', ['2026-11-11']],
    ['start_inclusive=true&end_inclusive=true', ['2026-11-10', '2026-11-11', '2026-11-12']],
  ])('honours %s', async (flags, days) => {
    const res = await pro(`assets=btc&metrics=PriceUSD&start_time=2026-11-10&end_time=2026-11-12&${flags}`);
    expect(res.body.data.map(day)).toEqual(days);
  });

  it.each([
    '2026-11-10', '20261110', '2026-11-10T00:00:00', '2026-11-10T000000', '2026-11-10T00:00:00Z',
    '2026-11-10T00:00:00.000', '2026-11-10T000000.000Z', '2026-11-10T00:00:00.000000', '2026-11-10T00:00:00.000000000Z',
  ])('accepts the time format %s', async (time) => {
    const res = await pro(`assets=btc&metrics=PriceUSD&start_time=${time}&end_time=${time}`);
    expect(res.status).toBe(200);
    expect(res.body.data.map(day)).toEqual(['2026-11-10']);
  });

  it('compares sub-second start times exactly', async () => {
    const res = await pro('assets=btc&metrics=PriceUSD&start_time=2026-11-10T00:00:00.000000001&end_time=2026-11-12');
    expect(res.body.data.map(day)).toEqual(['2026-11-11', '2026-11-12']);
  });

  it.each(['2026-11-10T00:00', '10/11/2026', '2026-13-01', '2026-02-30', '2026-11-10T00:0000', '2026-11-10T00:00:00.12', 'yesterday'])(
    'rejects the time format %s',
    async (time) => {
      const res = await pro(`assets=btc&metrics=PriceUSD&start_time=${encodeURIComponent(time)}`);
      expect(res.status).toBe(400);
      expect(res.body).toEqual(badParameter(`Bad parameter 'start_time'. Incorrect time format '${time}'. ${TIME_FORMATS_MESSAGE}`));
    },
  );

  it.each([
    ['the documented typo FlowNetBNBNtvFlow', 'assets=btc&metrics=FlowNetBNBNtvFlow', "Bad parameter 'metrics'. Value 'FlowNetBNBNtvFlow' is not supported."],
    ['FlowNetBTXNtvFlow even with ignore_unsupported_errors', 'assets=btc&metrics=PriceUSD,FlowNetBTXNtvFlow&ignore_unsupported_errors=true', "Bad parameter 'metrics'. Value 'FlowNetBTXNtvFlow' is not supported."],
    ['an ETF code that looks like an exchange', 'assets=btc&metrics=FlowNetARKNtv', "Bad parameter 'metrics'. Value 'FlowNetARKNtv' is not supported."],
    ['an unknown asset', 'assets=btc,notacoin&metrics=PriceUSD', "Bad parameter 'assets'. Value 'notacoin' is not supported."],
    ['an asset supporting none of the metrics', 'assets=btc,sol&metrics=FlowNetBMXNtv', "Bad parameter 'metrics'. All requested metrics aren't supported for asset 'sol'"],
    ['page_size over 10000', 'assets=btc&metrics=PriceUSD&page_size=10001', "Bad parameter 'page_size'. Must be at most 10000."],
    ['missing assets', 'metrics=PriceUSD', "Bad parameter 'assets'. Missing required parameter."],
    ['missing metrics', 'assets=btc', "Bad parameter 'metrics'. Missing required parameter."],
    ['an unsupported frequency', 'assets=btc&metrics=PriceUSD&frequency=1h', "Bad parameter 'frequency'. Requested metrics aren't supported with frequency '1h'."],
    ['a bad paging_from', 'assets=btc&metrics=PriceUSD&paging_from=middle', "Bad parameter 'paging_from'. Must be one of 'start', 'end'."],
    ['a forged page token', 'assets=btc&metrics=PriceUSD&next_page_token=garbage', "Bad parameter 'next_page_token'. Value 'garbage' is not valid."],
  ])('answers 400 bad_parameter for %s', async (_, query, message) => {
    const res = await pro(query);
    expect(res.status).toBe(400);
    expect(res.headers['cf-ray']).toBeDefined();
    expect(res.body).toEqual(badParameter(message));
  });

  it('drops unsupported assets with ignore_unsupported_errors=true', async () => {
    const res = await pro('assets=BTC,notacoin,sol&metrics=FlowNetBMXNtv&ignore_unsupported_errors=true&start_time=2026-11-20');
    expect(res.body.data).toEqual([
      expect.objectContaining({ asset: 'btc', time: `${LATEST_DAY}T00:00:00.000000000Z` }),
    ]);
    const none = await pro('assets=notacoin,sol&metrics=FlowNetBMXNtv&ignore_unsupported_errors=true');
    expect(none.status).toBe(200);
    expect(none.text).toBe('{"data":[]}');
  });

  it('ignores unknown parameters, as the real API does', async () => {
    const res = await pro('assets=btc&metrics=PriceUSD&start_time=2026-11-20&flavour=vanilla');
    expect(res.status).toBe(200);
    expect(res.body.data).toHaveLength(1);
  });

  it('pretty-prints with pretty=true', async () => {
    const res = await pro('assets=btc&metrics=PriceUSD&start_time=2026-11-20&pretty=true');
    expect(res.text).toContain('\n  "data": [');
  });

  it('answers 401 unauthorized without api_key and wrong_credentials with a wrong one', async () => {
    const missing = await assetMetrics(sim, 'assets=btc&metrics=PriceUSD');
    expect(missing.status).toBe(401);
    expect(missing.body).toEqual({ error: { type: 'unauthorized', message: 'Requested resource requires authorization.' } });
    const wrong = await assetMetrics(sim, 'api_key=nope&assets=btc&metrics=PriceUSD');
    expect(wrong.status).toBe(401);
    expect(wrong.body).toEqual({ error: { type: 'wrong_credentials', message: 'Supplied credentials are not valid.' } });
  });

  it('answers 404 for other paths', async () => {
    const res = await getUrl(`${sim.url}/timeseries/market-candles?api_key=${KEY}`);
    expect(res.status).toBe(404);
    expect(res.body.error?.type).toBe('not_found');
  });

  it('counts Pro requests per key: 6000 per 20 s', async () => {
    const res = await pro('assets=btc&metrics=PriceUSD&start_time=2026-11-20');
    expect(res.headers['x-ratelimit-limit']).toBe('6000');
    expect(res.headers['x-ratelimit-remaining']).toBe('5999');
    expect(res.headers['x-ratelimit-reset']).toBe('20');
  });

  it('records every request with what it answered', async () => {
    clock = NOW + 1234;
    await pro('assets=btc&metrics=PriceUSD&start_time=2026-11-20');
    await assetMetrics(sim, 'assets=btc&metrics=PriceUSD');
    expect(sim.requests).toEqual([
      expect.objectContaining({
        method: 'GET',
        path: '/v4/timeseries/asset-metrics',
        url: `/v4/timeseries/asset-metrics?api_key=${KEY}&assets=btc&metrics=PriceUSD&start_time=2026-11-20`,
        query: { api_key: KEY, assets: 'btc', metrics: 'PriceUSD', start_time: '2026-11-20' },
        body: undefined,
        status: 200,
        at: NOW + 1234,
      }),
      expect.objectContaining({ status: 401 }),
    ]);
  });

  describe('faults', () => {
    const ok = () => pro('assets=btc&metrics=PriceUSD&start_time=2026-11-20');

    it('status: answers that status with an internal_error body, for `times` requests', async () => {
      sim.setFault({ kind: 'status', status: 503 }, { times: 2 });
      for (let i = 0; i < 2; i++) {
        const res = await ok();
        expect(res.status).toBe(503);
        expect(res.body).toEqual({ error: { type: 'internal_error', message: 'Internal server error' } });
      }
      expect((await ok()).status).toBe(200);
    });

    it('malformed: sends the exact body with 200', async () => {
      sim.setFault({ kind: 'malformed', body: '{"data":[' });
      const res = await request(`${sim.url}/timeseries/asset-metrics?api_key=${KEY}&assets=btc&metrics=PriceUSD`);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toBe('application/json');
      expect(await res.body.text()).toBe('{"data":[');

      sim.setFault({ kind: 'malformed', body: '<html>busy</html>', contentType: 'text/html' });
      const html = await request(`${sim.url}/timeseries/asset-metrics`);
      expect(html.headers['content-type']).toBe('text/html');
      expect(await html.body.text()).toBe('<html>busy</html>');
    });

    it('slow: answers normally after the delay', async () => {
      sim.setFault({ kind: 'slow', delayMs: 120 }, { times: 1 });
      const started = performance.now();
      const res = await ok();
      expect(performance.now() - started).toBeGreaterThanOrEqual(110);
      expect(res.status).toBe(200);
    });

    it('reset: destroys the socket without an answer', async () => {
      sim.setFault({ kind: 'reset' }, { times: 1 });
      await expect(ok()).rejects.toThrow();
      expect(sim.requests[0]?.status).toBe(0);
      expect((await ok()).status).toBe(200);
    });

    it('rate_limited: the real 429 with the given reset', async () => {
      sim.setFault({ kind: 'rate_limited', retryAfterS: 7 }, { times: 1 });
      const res = await ok();
      expect(res.status).toBe(429);
      expect(res.body).toEqual({ error: { type: 'rate_limit_exceeded', message: 'Requests rate limit exceeded.' } });
      expect(res.headers['x-ratelimit-remaining']).toBe('0');
      expect(res.headers['x-ratelimit-reset']).toBe('7');
      expect(res.headers['retry-after']).toBeUndefined();
      expect(sim.rateLimitHits).toBe(1);
    });

    it('credits_exhausted: means nothing to Coin Metrics', async () => {
      sim.setFault({ kind: 'credits_exhausted' });
      expect((await ok()).status).toBe(200);
    });

    it('reset() clears the fault, the requests and the counters', async () => {
      sim.setFault({ kind: 'rate_limited', retryAfterS: 1 });
      await ok();
      sim.reset();
      expect(sim.requests).toEqual([]);
      expect(sim.rateLimitHits).toBe(0);
      expect((await ok()).status).toBe(200);
    });
  });

  describe('/catalog-v2/asset-metrics', () => {
    interface CatalogRow {
      asset: string;
      metrics: { metric: string; frequencies: { frequency: string; min_time: string; max_time: string }[] }[];
    }
    const catalog = async (query: string) => {
      const res = await request(`${sim.url}/catalog-v2/asset-metrics?api_key=${KEY}&${query}`);
      return { status: res.statusCode, body: (await res.body.json()) as { data: CatalogRow[]; next_page_token?: string; next_page_url?: string; error?: unknown } };
    };

    it('lists per asset the metrics asked for that it has, with 1d and its time range, sorted by asset', async () => {
      const { status, body } = await catalog('metrics=FlowNetBMXNtv,FlowNetCBSNtv');
      expect(status).toBe(200);
      const expected = CM_ASSETS.filter((a) => a.exchanges.some((code) => code === 'BMX' || code === 'CBS')).map((a) => a.id).sort();
      expect(body.data.map((row) => row.asset)).toEqual(expected);
      const btc = body.data.find((row) => row.asset === 'btc')!;
      expect(btc.metrics).toEqual([
        { metric: 'FlowNetBMXNtv', frequencies: [{ frequency: '1d', min_time: '2019-01-01T00:00:00.000000000Z', max_time: `${LATEST_DAY}T00:00:00.000000000Z` }] },
        { metric: 'FlowNetCBSNtv', frequencies: [{ frequency: '1d', min_time: '2019-01-01T00:00:00.000000000Z', max_time: `${LATEST_DAY}T00:00:00.000000000Z` }] },
      ]);
      expect(body.next_page_token).toBeUndefined();
    });

    it('pages by asset with next_page_token (100 by default), next_page_url carrying the key, and covers every asset once', async () => {
      const seen: string[] = [];
      let token: string | undefined;
      do {
        const { body } = await catalog(`metrics=FlowNetBNBNtv&page_size=2${token ? `&next_page_token=${token}` : ''}`);
        seen.push(...body.data.map((row) => row.asset));
        if (body.next_page_token) expect(body.next_page_url).toContain(`api_key=${KEY}`);
        token = body.next_page_token;
      } while (token);
      expect(seen).toEqual(CM_ASSETS.filter((a) => a.exchanges.includes('BNB')).map((a) => a.id).sort());
      expect((await catalog('metrics=FlowNetBNBNtv')).body.data).toHaveLength(seen.length);
    });

    it('answers bad_parameter for an unknown metric, 401 without the key, and 403 forbidden when switched so, for the catalog alone', async () => {
      expect(await catalog('metrics=FlowNetXYZNtv')).toEqual({ status: 400, body: badParameter("Bad parameter 'metrics'. Value 'FlowNetXYZNtv' is not supported.") });
      expect((await request(`${sim.url}/catalog-v2/asset-metrics`)).statusCode).toBe(401);
      sim.setFault({ kind: 'status', status: 403 }, { path: '/catalog-v2/asset-metrics' });
      expect(await catalog('metrics=FlowNetBNBNtv')).toEqual({
        status: 403,
        body: { error: { type: 'forbidden', message: 'Requested resource is not available with supplied credentials.' } },
      });
      expect((await pro('assets=btc&metrics=PriceUSD&start_time=2026-11-20')).status).toBe(200);
      expect((await catalog('metrics=FlowNetBNBNtv')).status).toBe(403);
    });
  });
});

describe('Coin Metrics simulator (Community)', () => {
  let sim: CoinMetricsSim;

  beforeAll(async () => {
    sim = await startCoinMetricsSim({ now });
  });
  afterAll(() => sim.close());
  beforeEach(() => {
    clock = NOW;
    sim.reset();
  });

  it('needs no key, ignores an api_key, and leaves it out of next_page_url', async () => {
    const res = await assetMetrics(sim, 'api_key=whatever&assets=eth&metrics=FlowNetOKXNtv&page_size=5');
    expect(res.status).toBe(200);
    expect(res.body.data).toHaveLength(5);
    expect(res.body.next_page_url).toBe(
      `${sim.url}/timeseries/asset-metrics?assets=eth&metrics=FlowNetOKXNtv&page_size=5&next_page_token=${res.body.next_page_token ?? ''}`,
    );
  });

  it('allows 10 requests per 6 s sliding window per IP, then answers 429', async () => {
    const query = 'assets=btc&metrics=PriceUSD&start_time=2026-11-20';
    for (let i = 0; i < 10; i++) {
      clock = NOW + i * 100;
      const res = await assetMetrics(sim, query);
      expect(res.status).toBe(200);
      expect(res.headers['x-ratelimit-limit']).toBe('10');
      expect(res.headers['x-ratelimit-remaining']).toBe(String(9 - i));
      expect(res.headers['x-ratelimit-reset']).toBe(String(Math.ceil((6_000 - i * 100) / 1000)));
    }
    clock = NOW + 1_000;
    const refused = await assetMetrics(sim, query);
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({ error: { type: 'rate_limit_exceeded', message: 'Requests rate limit exceeded.' } });
    expect(refused.headers['x-ratelimit-remaining']).toBe('0');
    expect(refused.headers['x-ratelimit-reset']).toBe('5');
    expect(refused.headers['cf-ray']).toBeDefined();

    clock = NOW + 5_999;
    expect((await assetMetrics(sim, query)).status).toBe(429);
    expect(sim.rateLimitHits).toBe(2);

    // The first hit leaves the window after exactly 6 s; the other nine are still in it.
    clock = NOW + 6_000;
    const again = await assetMetrics(sim, query);
    expect(again.status).toBe(200);
    expect(again.headers['x-ratelimit-remaining']).toBe('0');
    expect((await assetMetrics(sim, query)).status).toBe(429);
  });

  it('with rateLimits: false never answers 429 but still sends the headers', async () => {
    const unlimited = await startCoinMetricsSim({ now, rateLimits: false });
    try {
      for (let i = 0; i < 12; i++) {
        const res = await assetMetrics(unlimited, 'assets=btc&metrics=PriceUSD&start_time=2026-11-20');
        expect(res.status).toBe(200);
        expect(res.headers['x-ratelimit-remaining']).toBe(String(Math.max(0, 9 - i)));
      }
      expect(unlimited.rateLimitHits).toBe(0);
    } finally {
      await unlimited.close();
    }
  });

  it('processes at most 10 requests at once and queues the rest', async () => {
    const slow = await startCoinMetricsSim({ now, rateLimits: false, latencyMs: 100 });
    try {
      const results = await Promise.all(
        Array.from({ length: 25 }, () => assetMetrics(slow, 'assets=btc&metrics=PriceUSD&start_time=2026-11-20')),
      );
      expect(results.every((res) => res.status === 200)).toBe(true);
      expect(slow.peakConcurrency).toBe(10);
    } finally {
      await slow.close();
    }
  });

  it('hang: never answers, and close() still returns promptly', async () => {
    const hanging = await startCoinMetricsSim({ now });
    hanging.setFault({ kind: 'hang' });
    const pending = request(`${hanging.url}/timeseries/asset-metrics?assets=btc&metrics=PriceUSD`);
    const outcome = pending.then(
      () => 'answered',
      () => 'failed',
    );
    await expect.poll(() => hanging.requests.length).toBe(1);
    const started = performance.now();
    await hanging.close();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await outcome).toBe('failed');
    expect(hanging.requests[0]?.status).toBe(0);
  });
});

function findNoDataDay(asset: string, code: (typeof EXCHANGE_CODES)[number], from: string): string {
  for (let d = dayNumber(from); d <= dayNumber(LATEST_DAY); d++) {
    if (cmFlowNetNtv(asset, code, isoDay(d)) === null) return isoDay(d);
  }
  throw new Error(`no missing day for ${asset} ${code} since ${from}`);
}
