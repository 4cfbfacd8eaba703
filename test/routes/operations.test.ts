import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CM_KEY, NANSEN_KEY, startStack, type Stack } from '../helpers.js';

let stack: Stack;
beforeAll(async () => {
  stack = await startStack({ env: { CORS_ORIGINS: 'https://grafana.example.com,http://localhost:3000', ADMIN_TOKEN: 'adm' } });
});
afterAll(() => stack.close());

const metricsText = async () => (await stack.app.inject('/metrics')).body;
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return undefined;
}

describe('GET /metrics', () => {
  it('shows every family with values that follow the traffic', async () => {
    await stack.app.inject('/netflows?window=7d&limit=5');
    await stack.app.inject('/netflows?window=7d&limit=5');
    await stack.app.inject('/netflows?window=30d&limit=5');
    await stack.app.inject('/no/such/route/123');
    stack.cm.setFault({ kind: 'status', status: 500 }, { times: 1 });
    await stack.app.inject('/netflows?source=coinmetrics&asset=ltc');
    const text = await metricsText();

    expect(sample(text, 'netflows_http_requests_total', { route: '/netflows', status: '200' })).toBe(3);
    expect(sample(text, 'netflows_http_requests_total', { route: 'not_found', status: '404' })).toBe(1);
    expect(text).not.toContain('/no/such/route');
    expect(sample(text, 'netflows_http_request_duration_seconds_count', { route: '/netflows' })).toBe(4);
    expect(sample(text, 'netflows_response_cache_total', { outcome: 'hit' })).toBe(1);
    expect(sample(text, 'netflows_cache_requests_total', { source: 'coinmetrics', outcome: 'miss' })).toBe(1);
    expect(sample(text, 'netflows_cache_requests_total', { source: 'coinmetrics', outcome: 'hit' })).toBe(1);
    expect(sample(text, 'netflows_cache_requests_total', { source: 'coinmetrics', outcome: 'error' })).toBe(1);
    expect(sample(text, 'netflows_upstream_requests_total', { source: 'coinmetrics', outcome: '2xx' })).toBe(1);
    expect(sample(text, 'netflows_upstream_requests_total', { source: 'coinmetrics', outcome: '5xx' })).toBe(1);
    expect(sample(text, 'netflows_upstream_requests_total', { source: 'nansen', outcome: '2xx' })).toBe(2);
    expect(sample(text, 'netflows_upstream_request_duration_seconds_count', { source: 'nansen' })).toBe(2);
    expect(sample(text, 'netflows_upstream_budget_remaining', { source: 'nansen', window: '300/1m' })).toBe(298);
    expect(sample(text, 'netflows_upstream_circuit_state', { source: 'coinmetrics' })).toBe(0);
    expect(sample(text, 'netflows_nansen_credits_remaining')).toBe(1_000_000 - 10);
    expect(sample(text, 'netflows_nansen_credits_spent_today')).toBe(10);
    expect(sample(text, 'netflows_cache_bytes', { cache: 'upstream' })).toBeGreaterThan(10_000);
    expect(sample(text, 'netflows_cache_entries', { cache: 'responses' })).toBeGreaterThan(0);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
    expect(text).not.toContain(CM_KEY);
    expect(text).not.toContain(NANSEN_KEY);
  });
});

describe('request logs', () => {
  it('are one line per request with id, route, status, duration and cache outcome; the id is echoed', async () => {
    stack.logs.length = 0;
    const response = await stack.app.inject({ url: '/netflows?window=24h&limit=2', headers: { 'x-request-id': 'dash-42.a' } });
    expect(response.headers['x-request-id']).toBe('dash-42.a');
    const lines = stack.logs.map((l) => JSON.parse(l));
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ reqId: 'dash-42.a', method: 'GET', route: '/netflows', path: '/netflows', status: 200, cache: 'coinmetrics:hit,nansen:miss' });
    expect(typeof requests[0].durationMs).toBe('number');
    const upstream = lines.filter((l) => l.msg === 'upstream call');
    expect(upstream).toEqual([expect.objectContaining({ upstream: 'nansen', status: 200, path: '/api/v1/smart-money/netflow', creditsUsed: 5 })]);
  });

  it('replace an unusable incoming request id', async () => {
    const response = await stack.app.inject({ url: '/healthz', headers: { 'x-request-id': 'bad id\u0007' } });
    expect(response.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('CORS', () => {
  it('lets a configured origin read answers and the headers a dashboard needs', async () => {
    const preflight = await stack.app.inject({
      method: 'OPTIONS',
      url: '/netflows',
      headers: { origin: 'https://grafana.example.com', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    });
    expect(preflight.statusCode).toBe(204);
    expect(preflight.headers['access-control-allow-origin']).toBe('https://grafana.example.com');
    const answer = await stack.app.inject({ url: '/netflows?limit=1', headers: { origin: 'https://grafana.example.com' } });
    expect(answer.headers['access-control-allow-origin']).toBe('https://grafana.example.com');
    const exposed = String(answer.headers['access-control-expose-headers']).split(/,\s*/);
    for (const header of ['etag', 'link', 'cache-status', 'ratelimit', 'retry-after', 'x-request-id']) expect(exposed).toContain(header);
  });

  it('gives other origins nothing', async () => {
    const answer = await stack.app.inject({ url: '/netflows?limit=1', headers: { origin: 'https://evil.example.com' } });
    expect(answer.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('is off by default', async () => {
    const plain = await startStack();
    try {
      const answer = await plain.app.inject({ url: '/healthz', headers: { origin: 'https://grafana.example.com' } });
      expect(answer.headers['access-control-allow-origin']).toBeUndefined();
    } finally {
      await plain.close();
    }
  });
});

describe('compression', () => {
  it('compresses large answers for callers that accept it, and not small ones', async () => {
    const plain = await stack.app.inject('/netflows?limit=1000&format=csv');
    const gzipped = await stack.app.inject({ url: '/netflows?limit=1000&format=csv', headers: { 'accept-encoding': 'gzip' } });
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(gunzipSync(gzipped.rawPayload).toString('utf8')).toBe(plain.body);
    expect(gzipped.rawPayload.length).toBeLessThan(plain.body.length / 3);
    const small = await stack.app.inject({ url: '/healthz', headers: { 'accept-encoding': 'gzip' } });
    expect(small.headers['content-encoding']).toBeUndefined();
  });
});

describe('Vary', () => {
  const varyOf = (response: { headers: Record<string, unknown> }) => String(response.headers.vary ?? '').split(/,\s*/).map((v) => v.toLowerCase());

  it('keeps the CORS plugin\'s Origin on /netflows, miss and hit (regression: the route replaced it)', async () => {
    for (let i = 0; i < 2; i++) {
      const answer = await stack.app.inject({ url: '/netflows?limit=2&window=30d', headers: { origin: 'http://localhost:3000' } });
      expect(answer.statusCode).toBe(200);
      expect(varyOf(answer)).toEqual(expect.arrayContaining(['origin', 'accept']));
    }
  });

  it('names accept-encoding on an uncompressed answer that could have been compressed, once on a compressed one', async () => {
    const plain = await stack.app.inject('/netflows?limit=100');
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(varyOf(plain)).toEqual(expect.arrayContaining(['accept', 'accept-encoding']));
    const gzipped = await stack.app.inject({ url: '/netflows?limit=100', headers: { 'accept-encoding': 'gzip' } });
    expect(gzipped.headers['content-encoding']).toBe('gzip');
    expect(varyOf(gzipped).filter((v) => v === 'accept-encoding')).toHaveLength(1);
    const small = await stack.app.inject('/healthz');
    expect(varyOf(small)).not.toContain('accept-encoding');
  });
});

describe('GET /docs', () => {
  it('serves Swagger UI over the generated document', async () => {
    const page = await stack.app.inject('/docs/');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('swagger-ui');
    const doc = (await stack.app.inject('/docs/json')).json();
    expect(Object.keys(doc.paths)).toContain('/netflows');
  });
});
