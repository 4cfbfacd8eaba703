import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { cmFlowNetNtv, cmFlowNetUsd } from '../../src/demo/sim/coinmetrics-data.js';
import { RECORD_FIELDS, type NetflowRecord } from '../../src/model.js';
import { CM_KEY, NANSEN_KEY, startStack, type Stack } from '../helpers.js';

let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => {
  stack.cm.reset();
  stack.nansen.reset();
  stack.clearCaches();
});

async function get(url: string, headers: Record<string, string> = {}) {
  const response = await stack.app.inject({ method: 'GET', url, headers });
  const json = /^application\/(problem\+)?json/.test(String(response.headers['content-type'])) && response.body ? response.json() : undefined;
  return { response, json };
}

function problemOf(response: { statusCode: number; headers: Record<string, unknown>; json: () => unknown }) {
  expect(String(response.headers['content-type'])).toContain('application/problem+json');
  return response.json() as { type: string; title: string; status: number; detail: string; code: string; param?: string };
}

describe('GET /netflows snapshot', () => {
  it('answers window=7d&limit=5 with rows from both sources, merged and sorted by -net_flow_usd', async () => {
    const { response, json } = await get('/netflows?window=7d&limit=5');
    expect(response.statusCode).toBe(200);
    expect(json.data).toHaveLength(5);
    expect(json.complete).toBe(true);
    expect(json.sources.map((s: { source: string; status: string }) => [s.source, s.status])).toEqual([
      ['coinmetrics', 'ok'],
      ['nansen', 'ok'],
    ]);
    for (const row of json.data) {
      expect(Object.keys(row)).toEqual([...RECORD_FIELDS]);
      expect(row.window).toBe('7d');
    }
    const flows = json.data.map((r: NetflowRecord) => r.net_flow_usd);
    expect(flows).toEqual([...flows].sort((a, b) => b - a));

    const all = await get('/netflows?window=7d&limit=1000');
    const sources = new Set(all.json.data.map((r: NetflowRecord) => r.source));
    expect([...sources].sort()).toEqual(['coinmetrics', 'nansen']);
  });

  it('sums the last 7 complete days of Coin Metrics, or gives null when a day is missing', async () => {
    const { json } = await get('/netflows?source=coinmetrics&window=7d&asset=btc&limit=1000');
    const days = ['2026-11-14', '2026-11-15', '2026-11-16', '2026-11-17', '2026-11-18', '2026-11-19', '2026-11-20'];
    const binance = json.data.find((r: NetflowRecord) => r.entity === 'binance');
    expect([binance.period_start, binance.period_end]).toEqual(['2026-11-14T00:00:00Z', '2026-11-21T00:00:00Z']);
    for (const row of json.data as NetflowRecord[]) {
      const code = { binance: 'BNB', coinbase: 'CBS', kraken: 'KRK', bitmex: 'BMX' }[row.entity as 'binance'];
      if (!code) continue;
      const natives = days.map((d) => cmFlowNetNtv('btc', code as 'BNB', d));
      const expected = natives.includes(null) ? null : natives.reduce((sum, v) => sum + Number(v), 0);
      if (expected === null) expect(row.net_flow_native).toBeNull();
      else expect(row.net_flow_native).toBeCloseTo(expected, 6);
      const usd = days.map((d) => cmFlowNetUsd('btc', code as 'BNB', d));
      if (usd.includes(null)) expect(row.net_flow_usd).toBeNull();
      else expect(row.net_flow_usd).toBeCloseTo(usd.reduce((sum, v) => sum + Number(v), 0), 2);
    }
    expect(json.data.every((r: NetflowRecord) => r.asset === 'btc' && r.chain === 'bitcoin')).toBe(true);
  });

  it('asks Coin Metrics with the key in api_key, correct metric ids and start paging, once', async () => {
    await get('/netflows?source=coinmetrics&entity=binance,bittrex&window=24h');
    expect(stack.cm.requests).toHaveLength(1);
    const { query, path } = stack.cm.requests[0]!;
    expect(path).toBe('/v4/timeseries/asset-metrics');
    expect(query).toMatchObject({
      assets: 'btc,eth',
      metrics: 'FlowNetBNBNtv,FlowNetBNBUSD,FlowNetBTXNtv,FlowNetBTXUSD',
      frequency: '1d',
      paging_from: 'start',
      page_size: '10000',
      ignore_unsupported_errors: 'true',
      ignore_forbidden_errors: 'true',
      api_key: CM_KEY,
      end_time: '2026-11-20',
    });
    expect(query.metrics).not.toContain('NtvFlow');
  });

  it('asks Nansen once per cohort with its label, the apikey header, a pushed-down order and one page', async () => {
    const { json } = await get('/netflows?source=nansen&entity=smart_money,smart_money:smart_trader&window=30d&sort=-trader_count&limit=20');
    expect(json.data).toHaveLength(20);
    expect(stack.nansen.requests).toHaveLength(2);
    const bodies = stack.nansen.requests.map((r) => r.body as Record<string, unknown>);
    for (const request of stack.nansen.requests) expect(request.headers.apikey).toBe(NANSEN_KEY);
    expect(bodies.map((b) => (b.filters as { include_smart_money_labels?: string[] } | undefined)?.include_smart_money_labels)).toEqual(
      expect.arrayContaining([undefined, ['Smart Trader']]),
    );
    for (const body of bodies) {
      expect(body.chains).toEqual(['all']);
      expect(body.pagination).toEqual({ page: 1, per_page: 100 });
      expect((body.order_by as { field: string }[])[0]).toEqual({ field: 'trader_count', direction: 'DESC' });
    }
    const counts = json.data.map((r: NetflowRecord) => r.trader_count);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
  });

  it('maps Nansen filters into the strict body', async () => {
    const { response } = await get(
      '/netflows?source=nansen&chain=ethereum,solana,bitcoin&sector=AI&include_stablecoins=true&min_market_cap_usd=1000000&max_trader_count=50&token_address=0xABC',
    );
    expect(response.statusCode).toBe(200);
    expect(stack.nansen.requests[0]!.body).toMatchObject({
      chains: ['ethereum', 'solana'],
      filters: {
        token_sector: ['AI'],
        include_stablecoins: true,
        market_cap_usd: { min: 1_000_000 },
        trader_count: { max: 50 },
        token_address: ['0xabc'],
      },
    });
  });

  it('reads only the Nansen pages the requested slice needs', async () => {
    await get('/netflows?source=nansen&limit=5');
    expect(stack.nansen.requests).toHaveLength(1);
    stack.nansen.reset();
    const first = await get('/netflows?source=nansen&limit=1000&include_stablecoins=true&include_native_tokens=true');
    expect(first.json.data.length).toBeGreaterThan(100);
    expect(stack.nansen.requests.map((r) => (r.body as { pagination: unknown }).pagination)).toEqual([{ page: 1, per_page: 1000 }]);
  });

  it('pages with a cursor bound to its query: no overlap, no gap, Link header, null at the end', async () => {
    const seen: string[] = [];
    let url: string | null = '/netflows?window=30d&asset=btc,eth&source=coinmetrics&limit=7';
    let pages = 0;
    while (url) {
      const { response, json } = await get(url);
      expect(response.statusCode).toBe(200);
      seen.push(...json.data.map((r: NetflowRecord) => `${r.entity}/${r.asset}`));
      if (json.next_cursor) {
        const next: string = `${url.replace(/&cursor=[^&]*/, '')}&cursor=${json.next_cursor}`;
        expect(decodeURIComponent(String(response.headers.link))).toBe(`<${next}>; rel="next"`);
        url = next;
      } else {
        expect(response.headers.link).toBeUndefined();
        url = null;
      }
      pages++;
    }
    const whole = await get('/netflows?window=30d&asset=btc,eth&source=coinmetrics&limit=1000');
    expect(seen).toEqual(whole.json.data.map((r: NetflowRecord) => `${r.entity}/${r.asset}`));
    expect(pages).toBe(Math.ceil(seen.length / 7));
  });

  it('rejects a cursor reused with another query', async () => {
    const { json } = await get('/netflows?window=7d&limit=2&source=coinmetrics');
    const { response } = await get(`/netflows?window=30d&limit=2&source=coinmetrics&cursor=${json.next_cursor}`);
    expect(response.statusCode).toBe(400);
    expect(problemOf(response)).toMatchObject({ code: 'invalid_parameter', param: 'cursor' });
  });
});

describe('the Link header', () => {
  it('has one next target on /netflows that asks the same question, whatever the values hold', async () => {
    const { response, json } = await get('/netflows?source=nansen&limit=1&sector=AI,Gaming%20%26%20Metaverse&window=7d');
    expect(response.statusCode).toBe(200);
    const link = String(response.headers.link);
    const targets = [...link.matchAll(/<([^>]*)>/g)].map((m) => m[1]!);
    expect(targets).toHaveLength(1);
    expect(link).toBe(`<${targets[0]}>; rel="next"`);
    const next = new URL(targets[0]!, 'http://gateway.example');
    expect(next.pathname).toBe('/netflows');
    expect([...next.searchParams]).toEqual([
      ['source', 'nansen'],
      ['limit', '1'],
      ['sector', 'AI,Gaming & Metaverse'],
      ['window', '7d'],
      ['cursor', json.next_cursor],
    ]);
    expect((await get(`${next.pathname}${next.search}`)).response.statusCode).toBe(200);
  });

  it('refuses a sector with the characters of an injection', async () => {
    const { response } = await get('/netflows?limit=1&source=nansen&sector=AI,x>;rel="x",<https://evil.example/steal');
    expect(response.statusCode).toBe(400);
    expect(problemOf(response)).toMatchObject({ code: 'invalid_parameter', param: 'sector' });
    expect(response.headers.link).toBeUndefined();
  });
});

describe('GET /netflows series', () => {
  it('gives 31 daily Coin Metrics rows for October with the simulator values', async () => {
    const { response, json } = await get('/netflows?interval=1d&asset=btc&entity=binance&start=2026-10-01&end=2026-10-31');
    expect(response.statusCode).toBe(200);
    expect(json.data).toHaveLength(31);
    json.data.forEach((row: NetflowRecord, i: number) => {
      const day = `2026-10-${String(i + 1).padStart(2, '0')}`;
      expect(row).toMatchObject({ source: 'coinmetrics', entity: 'binance', asset: 'btc', window: '1d', period_start: `${day}T00:00:00Z` });
      const native = cmFlowNetNtv('btc', 'BNB', day);
      expect(row.net_flow_native).toBe(native === null ? null : Number(native));
    });
    expect(json.sources[1]).toMatchObject({ source: 'nansen', status: 'skipped' });
    expect(json.warnings.join(' ')).toContain('nansen skipped');
  });

  it('refuses a series asked of Nansen by name', async () => {
    const { response } = await get('/netflows?interval=1d&source=nansen');
    expect(response.statusCode).toBe(400);
    expect(problemOf(response)).toMatchObject({ code: 'invalid_parameter', param: 'source' });
  });
});

describe('sources that cannot answer', () => {
  it.each([
    ['/netflows?window=1h&limit=3', 'coinmetrics'],
    ['/netflows?sector=AI&limit=3', 'coinmetrics'],
    ['/netflows?entity=smart_money&limit=3', 'coinmetrics'],
    ['/netflows?entity=binance&limit=3', 'nansen'],
    ['/netflows?chain=bitcoin&limit=3', 'nansen'],
  ])('%s skips %s with a warning', async (url, skipped) => {
    const { response, json } = await get(url);
    expect(response.statusCode).toBe(200);
    expect(json.sources.find((s: { source: string }) => s.source === skipped).status).toBe('skipped');
    expect(json.warnings.some((w: string) => w.startsWith(`${skipped} skipped`))).toBe(true);
    expect(json.complete).toBe(true);
  });

  it.each([
    '/netflows?window=1h&source=coinmetrics',
    '/netflows?sector=AI&source=coinmetrics',
    '/netflows?entity=binance&source=nansen',
  ])('%s is a 400 when the source is named', async (url) => {
    const { response } = await get(url);
    expect(response.statusCode).toBe(400);
    expect(problemOf(response)).toMatchObject({ code: 'invalid_parameter', param: 'source' });
  });
});

describe('formats', () => {
  it('serves CSV with the record columns and the source status in headers', async () => {
    const { response } = await get('/netflows?window=24h&entity=smart_money,binance&format=csv&limit=10');
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toBe('text/csv; charset=utf-8; header=present');
    const lines = response.body.split('\r\n');
    expect(lines[0]).toBe(RECORD_FIELDS.join(','));
    expect(lines).toHaveLength(12);
    expect(response.headers['netflows-sources']).toBe('coinmetrics;status=ok;cache=miss, nansen;status=ok;cache=miss');
    expect(response.headers['netflows-complete']).toBe('true');
  });

  it('serves NDJSON from Accept', async () => {
    const { response } = await get('/netflows?limit=3', { accept: 'application/x-ndjson' });
    expect(response.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    const lines = response.body.trimEnd().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(3);
  });

  it('answers 406 for an Accept it cannot serve', async () => {
    const { response } = await get('/netflows', { accept: 'application/xml' });
    expect(response.statusCode).toBe(406);
    expect(problemOf(response).code).toBe('not_acceptable');
  });

  it('carries ETag, Cache-Control and Cache-Status, and answers 304 on If-None-Match', async () => {
    const { response } = await get('/netflows?limit=3');
    expect(response.headers.etag).toMatch(/^"[A-Za-z0-9_-]+"$/);
    expect(response.headers['cache-control']).toMatch(/^max-age=\d+$/);
    expect(response.headers['cache-status']).toContain('netflows-coinmetrics;');
    const again = await get('/netflows?limit=3', { 'if-none-match': String(response.headers.etag) });
    expect(again.response.statusCode).toBe(304);
    expect(again.response.body).toBe('');
  });
});

describe('errors', () => {
  it('rejects an unknown parameter, naming it', async () => {
    const { response } = await get('/netflows?windw=7d');
    expect(response.statusCode).toBe(400);
    expect(problemOf(response)).toMatchObject({
      type: 'urn:netflows:problem:invalid_parameter',
      title: 'Invalid parameter',
      status: 400,
      code: 'invalid_parameter',
      param: 'windw',
    });
  });

  it('rejects a repeated parameter', async () => {
    const { response } = await get('/netflows?asset=btc&asset=eth');
    expect(problemOf(response)).toMatchObject({ status: 400, param: 'asset' });
  });

  // The document types these (integers with bounds, booleans, enums, comma lists); on the wire they are text, and our parser names the fault.
  it.each([
    ['limit=0', 'limit'],
    ['limit=1001', 'limit'],
    ['limit=3.5', 'limit'],
    ['limit=', 'limit'],
    ['include_stablecoins=yes', 'include_stablecoins'],
    ['min_trader_count=1.5', 'min_trader_count'],
    ['min_market_cap_usd=lots', 'min_market_cap_usd'],
    ['source=coinmetrics,bloomberg', 'source'],
    ['entity=binance,nyse', 'entity'],
    ['sort=-price', 'sort'],
    ['window=2h', 'window'],
    ['interval=1d&start=yesterday', 'start'],
    ['asset=btc,,eth', 'asset'],
    ['format=json&format=csv', 'format'],
    ['cursor=%20', 'cursor'],
  ])('answers %s with a 400 naming %s', async (query, param) => {
    for (const method of ['GET', 'HEAD'] as const) {
      const response = await stack.app.inject({ method, url: `/netflows?${query}` });
      expect(response.statusCode).toBe(400);
      expect(String(response.headers['content-type'])).toContain('application/problem+json');
      if (method === 'GET') expect(problemOf(response)).toMatchObject({ code: 'invalid_parameter', param });
    }
  });

  it('takes what a typed client sends: numbers, booleans and comma lists as text', async () => {
    const { response, json } = await get('/netflows?source=nansen&include_stablecoins=false&min_trader_count=2&min_market_cap_usd=1e6&limit=3&sort=-trader_count,asset');
    expect(response.statusCode).toBe(200);
    expect(json.data).toHaveLength(3);
    expect(json.data.every((r: NetflowRecord) => r.trader_count! >= 2 && r.market_cap_usd! >= 1e6)).toBe(true);
  });

  it('answers an unknown route with a 404 problem', async () => {
    const { response } = await get('/netflow');
    expect(response.statusCode).toBe(404);
    expect(problemOf(response)).toMatchObject({ code: 'not_found', status: 404 });
  });

  it('reports one failed source and keeps the other', async () => {
    stack.nansen.setFault({ kind: 'status', status: 500 });
    const { response, json } = await get('/netflows?window=7d&limit=5');
    expect(response.statusCode).toBe(200);
    expect(json.complete).toBe(false);
    expect(json.sources[1]).toMatchObject({ source: 'nansen', status: 'error', error: { code: 'upstream_error' } });
    expect(json.data.every((r: NetflowRecord) => r.source === 'coinmetrics')).toBe(true);
  });

  it.each([
    [{ kind: 'status', status: 500 } as const, 502, 'upstream_error'],
    [{ kind: 'malformed', body: '<html>oops</html>', contentType: 'text/html' } as const, 502, 'upstream_error'],
    [{ kind: 'malformed', body: '{"data":[' } as const, 502, 'upstream_error'],
    [{ kind: 'reset' } as const, 503, 'upstream_unavailable'],
    [{ kind: 'rate_limited', retryAfterS: 7 } as const, 503, 'upstream_unavailable'],
    [{ kind: 'hang' } as const, 504, 'upstream_timeout'],
  ])('maps a Coin Metrics fault %j to %i %s when it is the only source', async (fault, status, code) => {
    stack.cm.setFault(fault);
    const { response } = await get('/netflows?source=coinmetrics');
    expect(response.statusCode).toBe(status);
    const problem = problemOf(response);
    expect(problem.code).toBe(code);
    expect(JSON.stringify(problem)).not.toMatch(/127\.0\.0\.1|api_key|oops|<html/);
    if (status === 503) expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
  });

  it('logs an upstream call that the upstream refused at warn (regression: a rejected key logged at info)', async () => {
    const other = await startStack({ env: { NANSEN_API_KEY: 'nsk_wrong' } });
    try {
      await other.app.inject('/netflows?source=nansen');
      const calls = other.logs.map((line) => JSON.parse(line)).filter((line) => line.msg === 'upstream call' && line.upstream === 'nansen');
      expect(calls.length).toBeGreaterThan(0);
      expect(calls.map((line) => [line.status, line.level])).toEqual(calls.map(() => [401, 40]));
    } finally {
      await other.close();
    }
  });

  it('maps a rejected Nansen key to 502 without leaking the key or the upstream body', async () => {
    const other = await startStack({ env: { NANSEN_API_KEY: 'nsk_wrong' } });
    try {
      const response = await other.app.inject('/netflows?source=nansen');
      expect(response.statusCode).toBe(502);
      expect(response.body).not.toContain('nsk_wrong');
      expect(response.body).not.toContain('app.nansen.ai');
    } finally {
      await other.close();
    }
  });
});

describe('keys', () => {
  it('never appear in a response or a log line', async () => {
    const urls = ['/netflows?limit=1000', '/netflows?interval=1d&asset=btc,eth', '/netflows?format=csv', '/netflows?windw=1', '/catalog'];
    stack.logs.length = 0;
    for (const url of urls) {
      const { response } = await get(url);
      const text = response.body + JSON.stringify(response.headers);
      expect(text).not.toContain(CM_KEY);
      expect(text).not.toContain(NANSEN_KEY);
    }
    stack.cm.setFault({ kind: 'status', status: 500 });
    await get('/netflows?source=coinmetrics');
    const logs = stack.logs.join('\n');
    expect(logs.length).toBeGreaterThan(0);
    expect(logs).not.toContain(CM_KEY);
    expect(logs).not.toContain(NANSEN_KEY);
  });
});

describe('other routes', () => {
  it('GET /catalog lists sources, entities with codes, labels, windows and defaults', async () => {
    const { response, json } = await get('/catalog');
    expect(response.statusCode).toBe(200);
    expect(json.sources).toEqual([
      expect.objectContaining({ source: 'coinmetrics', enabled: true, mode: 'pro' }),
      expect.objectContaining({ source: 'nansen', enabled: true }),
    ]);
    expect(json.entities).toContainEqual({
      entity: 'binance',
      entity_type: 'exchange',
      name: 'Binance',
      source: 'coinmetrics',
      coinmetrics_code: 'BNB',
      assets: expect.arrayContaining(['btc', 'eth', 'sol']),
    });
    expect(json.entities).toContainEqual(expect.objectContaining({ entity: 'smart_money:fund', nansen_label: 'Fund' }));
    expect(json.entities.filter((e: { entity_type: string }) => e.entity_type === 'exchange')).toHaveLength(24);
    expect(json.default_assets.coinmetrics).toEqual(['btc', 'eth']);
  });

  it('GET /catalog says why Nansen is disabled without a key', async () => {
    const other = await startStack({ nansenDisabled: true });
    try {
      const catalog = (await other.app.inject('/catalog')).json();
      expect(catalog.sources[1]).toMatchObject({ source: 'nansen', enabled: false });
      expect(catalog.sources[1].detail).toContain('NANSEN_API_KEY');
      const named = await other.app.inject('/netflows?source=nansen');
      expect(named.statusCode).toBe(400);
      const unnamed = (await other.app.inject('/netflows?limit=2')).json();
      expect(unnamed.sources[1]).toMatchObject({ source: 'nansen', status: 'skipped' });
    } finally {
      await other.close();
    }
  });

  it('GET /healthz, /readyz and /openapi.json answer', async () => {
    expect((await get('/healthz')).json).toEqual({ status: 'ok' });
    expect((await get('/readyz')).json).toEqual({ status: 'ready' });
    expect((await get('/openapi.json')).json.openapi).toBe('3.1.0');
  });
});
