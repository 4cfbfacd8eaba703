import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CM_KEY, NANSEN_KEY, startStack, type Stack } from '../helpers.js';

const ADMIN = 'admin-token-3f9c';
const hash = (token: string) => createHash('sha256').update(token).digest('hex');

function callersFile(callers: { name: string; token: string; rate_limit: string }[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'callers-')), 'callers.json');
  writeFileSync(file, JSON.stringify(callers.map((c) => ({ name: c.name, sha256: hash(c.token), rate_limit: c.rate_limit }))));
  return file;
}

let stack: Stack | undefined;
afterEach(async () => {
  await stack?.close();
  stack = undefined;
});

const seriesUrl = (i: number) => {
  const start = new Date(Date.parse('2025-01-01') + i * 86_400_000).toISOString().slice(0, 10);
  return `/netflows?source=coinmetrics&interval=1d&asset=btc&entity=binance&start=${start}&end=${start}`;
};
const nansenUrl = (i: number) => `/netflows?source=nansen&min_trader_count=${i}`;

describe('upstream budgets', () => {
  it('a burst of 40 distinct Coin Metrics questions in Community mode earns no upstream 429', async () => {
    stack = await startStack({ community: true });
    const s = stack;
    const responses = await Promise.all(Array.from({ length: 40 }, (_, i) => s.app.inject(seriesUrl(i))));
    expect(s.cm.rateLimitHits).toBe(0);
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.filter((x) => x === 200)).toHaveLength(10);
    expect(statuses.filter((x) => x !== 200 && x !== 503)).toEqual([]);
    for (const r of responses.filter((x) => x.statusCode === 503)) {
      expect(Number(r.headers['retry-after'])).toBeGreaterThanOrEqual(6);
      expect(r.json()).toMatchObject({ code: 'upstream_unavailable' });
      expect(r.json().detail).toContain('rate-limit budget is spent');
    }
    s.clock.now += 6200;
    const later = await Promise.all(Array.from({ length: 10 }, (_, i) => s.app.inject(seriesUrl(100 + i))));
    expect(later.map((r) => r.statusCode)).toEqual(Array(10).fill(200));
    expect(s.cm.rateLimitHits).toBe(0);
  });

  it('honours a Nansen 429 Retry-After: 1 by not calling for a second', async () => {
    stack = await startStack({ env: { BUDGET_MAX_WAIT_MS: '0' } });
    stack.nansen.setFault({ kind: 'rate_limited', retryAfterS: 1 }, { times: 1 });
    const limited = await stack.app.inject(nansenUrl(1));
    expect(limited.statusCode).toBe(503);
    expect(limited.headers['retry-after']).toBe('1');
    const paused = await stack.app.inject(nansenUrl(2));
    expect(paused.statusCode).toBe(503);
    expect(stack.nansen.requests).toHaveLength(1);
    stack.clock.now += 1000;
    expect((await stack.app.inject(nansenUrl(3))).statusCode).toBe(200);
    expect(stack.nansen.requests).toHaveLength(2);
  });

  it('stops calling Nansen at the credit reserve', async () => {
    stack = await startStack({ nansen: { credits: 100 }, env: { NANSEN_CREDIT_RESERVE: '80' } });
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await stack.app.inject(nansenUrl(i))).statusCode);
    expect(statuses).toEqual([200, 200, 200, 200, 503, 503, 503, 503, 503, 503]);
    expect(stack.nansen.credits).toBe(80);
    expect(stack.nansen.requests).toHaveLength(4);
    const refused = await stack.app.inject(nansenUrl(99));
    expect(refused.json().detail).toContain('credit reserve is reached: 80 credits left, reserve 80');
  });

  it('does not retry a 403 insufficient_credits, and reopens after the next credit check', async () => {
    stack = await startStack({ nansen: { credits: 3 } });
    const first = await stack.app.inject(nansenUrl(1));
    expect(first.statusCode).toBe(503);
    expect(first.json().detail).toContain('no credits left');
    for (let i = 2; i < 6; i++) expect((await stack.app.inject(nansenUrl(i))).statusCode).toBe(503);
    expect(stack.nansen.requests).toHaveLength(1);
    stack.nansen.credits = 2000;
    stack.clock.now += 60_000;
    expect((await stack.app.inject(nansenUrl(7))).statusCode).toBe(200);
    expect((await stack.app.inject(nansenUrl(8))).statusCode).toBe(200);
    expect(stack.nansen.requests).toHaveLength(3);
  });
});

describe('callers', () => {
  it('need a known token, and get 429 with RateLimit headers past their quota', async () => {
    stack = await startStack({ env: { CALLER_TOKENS_FILE: callersFile([{ name: 'grafana', token: 'tok-g', rate_limit: '3/1m' }]) } });
    expect((await stack.app.inject('/netflows')).statusCode).toBe(401);
    const wrong = await stack.app.inject({ url: '/netflows', headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toMatchObject({ code: 'unauthenticated' });
    expect(wrong.headers['www-authenticate']).toBe('Bearer realm="netflows"');

    const auth = { authorization: 'Bearer tok-g' };
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await stack.app.inject({ url: '/netflows?limit=3', headers: auth }));
    expect(answers.map((r) => r.statusCode)).toEqual([200, 200, 200, 429]);
    expect(answers[0]!.headers['ratelimit-policy']).toBe('"3-per-60s";q=3;w=60');
    expect(answers[0]!.headers.ratelimit).toBe('"3-per-60s";r=2;t=60');
    const over = answers[3]!;
    expect(over.json()).toMatchObject({ code: 'rate_limited', status: 429 });
    expect(over.headers['retry-after']).toBe('60');
    expect(over.headers.ratelimit).toBe('"3-per-60s";r=0;t=60');
    expect(stack.logs.some((line) => line.includes('"caller":"grafana"'))).toBe(true);
    expect(stack.logs.join('\n')).not.toContain('tok-g');
  });

  it('leave health and docs open', async () => {
    stack = await startStack({ env: { CALLER_TOKENS_FILE: callersFile([{ name: 'a', token: 't', rate_limit: '1/1m' }]) } });
    for (const url of ['/healthz', '/readyz', '/openapi.json']) expect((await stack.app.inject(url)).statusCode).toBe(200);
  });
});

describe('GET /metrics with caller tokens on', () => {
  const metrics = (authorization?: string) => stack!.app.inject({ url: '/metrics', headers: authorization ? { authorization } : {} });

  it('needs the admin token or METRICS_TOKEN (regression: it named callers and budgets to anyone)', async () => {
    stack = await startStack({
      env: { ADMIN_TOKEN: ADMIN, METRICS_TOKEN: 'metrics-token-77', CALLER_TOKENS_FILE: callersFile([{ name: 'grafana', token: 'tok-g', rate_limit: '10/1m' }]) },
    });
    const anonymous = await metrics();
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.json()).toMatchObject({ code: 'unauthenticated' });
    expect(anonymous.headers['www-authenticate']).toBe('Bearer realm="netflows-metrics"');
    expect(anonymous.body).not.toContain('grafana');
    expect((await metrics('Bearer tok-g')).statusCode).toBe(403);
    expect((await metrics('Bearer metrics-token-77x')).statusCode).toBe(401);
    for (const token of [ADMIN, 'metrics-token-77']) {
      const open = await metrics(`Bearer ${token}`);
      expect(open.statusCode).toBe(200);
      expect(open.body).toContain('netflows_caller_quota_remaining{caller="grafana"');
    }
  });

  it('is open without caller tokens', async () => {
    stack = await startStack({ env: { METRICS_TOKEN: 'metrics-token-77' } });
    expect((await metrics()).statusCode).toBe(200);
  });
});

describe('GET /admin/budgets', () => {
  it('is a 404 without an admin token configured', async () => {
    stack = await startStack();
    const response = await stack.app.inject({ url: '/admin/budgets', headers: { authorization: `Bearer ${ADMIN}` } });
    expect(response.statusCode).toBe(404);
  });

  it('needs the admin token: 401 without, 403 with a caller token', async () => {
    stack = await startStack({ env: { ADMIN_TOKEN: ADMIN, CALLER_TOKENS_FILE: callersFile([{ name: 'grafana', token: 'tok-g', rate_limit: '10/1m' }]) } });
    expect((await stack.app.inject('/admin/budgets')).statusCode).toBe(401);
    expect((await stack.app.inject({ url: '/admin/budgets', headers: { authorization: 'Bearer tok-g' } })).statusCode).toBe(403);
    expect((await stack.app.inject({ url: '/admin/budgets', headers: { authorization: `Bearer ${ADMIN}x` } })).statusCode).toBe(401);
  });

  it('shows budgets draining and refilling, credits, and caller quotas', async () => {
    const callers = callersFile([{ name: 'grafana', token: 'tok-g', rate_limit: '100/1m,1000/1d' }]);
    stack = await startStack({ community: true, env: { ADMIN_TOKEN: ADMIN, NANSEN_CREDIT_RESERVE: '50', NANSEN_DAILY_CREDIT_CAP: '500', CALLER_TOKENS_FILE: callers } });
    const admin = async () => (await stack!.app.inject({ url: '/admin/budgets', headers: { authorization: `Bearer ${ADMIN}` } })).json();
    const asCaller = (url: string) => stack!.app.inject({ url, headers: { authorization: 'Bearer tok-g' } });
    const before = await admin();
    expect(before.upstreams.map((u: { source: string }) => u.source)).toEqual(['coinmetrics', 'nansen']);
    expect(before.upstreams[0].windows).toEqual([{ limit: '10/6s', remaining: 10, refills_in_s: 0 }]);

    for (let i = 0; i < 3; i++) expect((await asCaller(seriesUrl(i))).statusCode).toBe(200);
    expect((await asCaller(nansenUrl(1))).statusCode).toBe(200);
    const during = await admin();
    expect(during.callers).toEqual([
      {
        name: 'grafana',
        windows: [
          { limit: '100/1m', remaining: 96, refills_in_s: 60 },
          { limit: '1000/1d', remaining: 996, refills_in_s: 86_400 },
        ],
      },
    ]);
    const [cm, nansen] = during.upstreams;
    expect(cm.windows[0]).toMatchObject({ limit: '10/6s', remaining: 7 });
    expect(cm.last_rate_limit_headers['x-ratelimit-remaining']).toBe('7');
    expect(cm).toMatchObject({ in_flight: 0, max_in_flight: 10, upstream_429s: 0 });
    expect(nansen.windows.map((w: { limit: string; remaining: number }) => [w.limit, w.remaining])).toEqual([
      ['15/1s', 14],
      ['300/1m', 299],
    ]);
    expect(nansen.credits).toMatchObject({ remaining: 999_995, spent_today: 5, reserve: 50, daily_cap: 500, in_flight: 0, closed_for_s: 0 });

    stack.clock.now += 6200;
    expect((await admin()).upstreams[0].windows[0].remaining).toBe(10);
  });
});

describe('keys', () => {
  it('never appear in a response, header, cursor or log line after a full run', async () => {
    stack = await startStack({ cm: { maxRowsPerPage: 50 }, env: { ADMIN_TOKEN: ADMIN } });
    const s = stack;
    const texts: string[] = [];
    const record = (r: Awaited<ReturnType<typeof s.app.inject>>) => {
      texts.push(r.body, JSON.stringify(r.headers));
      const cursor = /"next_cursor":"([^"]+)"/.exec(r.body)?.[1];
      if (cursor) texts.push(Buffer.from(cursor, 'base64url').toString('utf8'));
    };
    const urls = [
      '/netflows?window=7d&limit=5',
      '/netflows?interval=1d&asset=btc,eth,sol&start=2026-06-01&end=2026-11-20&limit=1000',
      '/netflows?format=csv&limit=1000',
      '/netflows?format=ndjson',
      '/netflows?source=nansen&limit=1000&include_stablecoins=true',
      '/netflows?windw=1',
      '/catalog',
    ];
    for (const url of urls) record(await s.app.inject(url));
    expect(s.cm.pageRequests().length).toBeGreaterThan(5);
    for (const fault of [{ kind: 'status', status: 500 }, { kind: 'malformed', body: `{"next_page_url":"http://x/?api_key=${CM_KEY}"}` }, { kind: 'rate_limited', retryAfterS: 1 }] as const) {
      s.cm.setFault(fault);
      s.nansen.setFault(fault);
      s.clearCaches();
      record(await s.app.inject('/netflows?window=30d'));
    }
    record(await s.app.inject({ url: '/admin/budgets', headers: { authorization: `Bearer ${ADMIN}` } }));
    const everything = [...texts, ...s.logs].join('\n');
    expect(everything.length).toBeGreaterThan(10_000);
    expect(everything).not.toContain(CM_KEY);
    expect(everything).not.toContain(NANSEN_KEY);
  });
});
