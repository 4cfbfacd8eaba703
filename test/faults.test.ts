import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Fault } from '../src/demo/sim/common.js';
import { startStack, type Stack } from './helpers.js';

let stack: Stack;
beforeAll(async () => {
  // Long enough for a simulator answer on a busy two-core machine; short enough for the hang rows.
  stack = await startStack({ env: { UPSTREAM_TIMEOUT_MS: '1500' } });
});
afterAll(() => stack.close());
beforeEach(() => stack.reset());

interface Row {
  fault: Fault;
  /** Cold cache: the problem. */
  status: number;
  code: string;
  /** Warm cache: the stale source's error code. */
  staleCode: string;
}

const rows: Record<string, Row> = {
  hang: { fault: { kind: 'hang' }, status: 504, code: 'upstream_timeout', staleCode: 'upstream_timeout' },
  '500': { fault: { kind: 'status', status: 500 }, status: 502, code: 'upstream_error', staleCode: 'upstream_error' },
  '503': { fault: { kind: 'status', status: 503 }, status: 502, code: 'upstream_error', staleCode: 'upstream_error' },
  reset: { fault: { kind: 'reset' }, status: 503, code: 'upstream_unavailable', staleCode: 'upstream_unreachable' },
  html: { fault: { kind: 'malformed', body: '<html><body>502 Bad Gateway</body></html>', contentType: 'text/html' }, status: 502, code: 'upstream_error', staleCode: 'upstream_malformed' },
  truncated: { fault: { kind: 'malformed', body: '{"data":[{"asset":"btc"' }, status: 502, code: 'upstream_error', staleCode: 'upstream_malformed' },
  '429': { fault: { kind: 'rate_limited', retryAfterS: 30 }, status: 503, code: 'upstream_unavailable', staleCode: 'upstream_rate_limited' },
};
const nansenOnly: Record<string, Row> = {
  'credits exhausted': { fault: { kind: 'credits_exhausted' }, status: 503, code: 'upstream_unavailable', staleCode: 'upstream_credits_exhausted' },
};

const sources = {
  coinmetrics: { url: '/netflows?source=coinmetrics&window=7d', sim: () => stack.cm, ageMs: 10 * 60_000 },
  nansen: { url: '/netflows?source=nansen&window=7d', sim: () => stack.nansen, ageMs: 10 * 60_000 },
} as const;

describe.each(Object.entries(sources))('%s faults', (source, { url, sim, ageMs }) => {
  const table = source === 'nansen' ? { ...rows, ...nansenOnly } : rows;

  async function expectFreshAfterClearing() {
    sim().setFault(null);
    stack.clock.now += 2 * 60_000;
    const fresh = await stack.app.inject(url);
    expect(fresh.statusCode).toBe(200);
    const status = fresh.json().sources.find((s: { source: string }) => s.source === source);
    expect([status.status, status.cache]).toEqual(['ok', 'miss']);
  }

  it.each(Object.entries(table))('%s on a cold cache is a clean problem, then fresh data', async (_name, row) => {
    sim().setFault(row.fault);
    const response = await stack.app.inject(url);
    expect(response.statusCode).toBe(row.status);
    expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(response.json()).toMatchObject({ status: row.status, code: row.code });
    if (row.status === 503) expect(Number(response.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    await expectFreshAfterClearing();
  });

  it.each(Object.entries(table))('%s on a warm cache serves stale data marked incomplete, then fresh data', async (_name, row) => {
    const warm = await stack.app.inject(url);
    expect(warm.statusCode).toBe(200);
    stack.clock.now += ageMs;
    sim().setFault(row.fault);
    const response = await stack.app.inject(url);
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.complete).toBe(false);
    expect(body.data).toEqual(warm.json().data);
    expect(body.sources.find((s: { source: string }) => s.source === source)).toMatchObject({
      status: 'stale',
      cache: 'stale',
      error: { code: row.staleCode },
    });
    await expectFreshAfterClearing();
  });

  it('a slow upstream within the timeout is simply slow', async () => {
    sim().setFault({ kind: 'slow', delayMs: 200 });
    const response = await stack.app.inject(url);
    expect(response.statusCode).toBe(200);
    expect(response.json().complete).toBe(true);
  });
});

describe('retries', () => {
  it('retry a 503 and a reset, and succeed when the upstream recovers', async () => {
    stack.cm.setFault({ kind: 'status', status: 503 }, { times: 1 });
    expect((await stack.app.inject(sources.coinmetrics.url)).statusCode).toBe(200);
    expect(stack.cm.requests).toHaveLength(2);
    stack.nansen.setFault({ kind: 'reset' }, { times: 2 });
    expect((await stack.app.inject(sources.nansen.url)).statusCode).toBe(200);
    expect(stack.nansen.requests).toHaveLength(3);
  });

  it('never retry a 500, a rejected key, a 422 or a 403', async () => {
    stack.cm.setFault({ kind: 'status', status: 500 });
    await stack.app.inject(sources.coinmetrics.url);
    expect(stack.cm.requests).toHaveLength(1);
    stack.nansen.setFault({ kind: 'credits_exhausted' });
    await stack.app.inject(sources.nansen.url);
    expect(stack.nansen.requests).toHaveLength(1);
  });

  it('spend budget on every attempt', async () => {
    const other = await startStack({ community: true, env: { ADMIN_TOKEN: 'adm', UPSTREAM_RETRIES: '2' } });
    try {
      other.cm.setFault({ kind: 'status', status: 502 });
      await other.app.inject(sources.coinmetrics.url);
      expect(other.cm.requests).toHaveLength(3);
      const budgets = (await other.app.inject({ url: '/admin/budgets', headers: { authorization: 'Bearer adm' } })).json();
      expect(budgets.upstreams[0].windows[0].remaining).toBe(7);
    } finally {
      await other.close();
    }
  });
});

describe('circuit breaker', () => {
  it('opens after repeated failures, answers without calling, then one probe closes it', async () => {
    const other = await startStack({ env: { ADMIN_TOKEN: 'adm', UPSTREAM_RETRIES: '0', CIRCUIT_FAILURES: '3', CIRCUIT_COOLDOWN_S: '30' } });
    const admin = async () => (await other.app.inject({ url: '/admin/budgets', headers: { authorization: 'Bearer adm' } })).json().upstreams[0];
    try {
      other.cm.setFault({ kind: 'status', status: 500 });
      for (let i = 0; i < 3; i++) expect((await other.app.inject(`${sources.coinmetrics.url}&asset=btc`)).statusCode).toBe(502);
      expect((await admin()).circuit).toBe('open');
      const refused = await other.app.inject(`${sources.coinmetrics.url}&asset=btc`);
      expect(refused.statusCode).toBe(503);
      expect(refused.json().detail).toContain('failing');
      expect(Number(refused.headers['retry-after'])).toBe(30);
      expect(other.cm.requests).toHaveLength(3);

      other.clock.now += 30_000;
      expect((await admin()).circuit).toBe('half_open');
      other.cm.setFault(null);
      expect((await other.app.inject(`${sources.coinmetrics.url}&asset=btc`)).statusCode).toBe(200);
      expect((await admin()).circuit).toBe('closed');
      expect(other.cm.requests).toHaveLength(4);
    } finally {
      await other.close();
    }
  });

  it('opens again when the probe fails', async () => {
    const other = await startStack({ env: { ADMIN_TOKEN: 'adm', UPSTREAM_RETRIES: '0', CIRCUIT_FAILURES: '2', CIRCUIT_COOLDOWN_S: '10' } });
    try {
      other.nansen.setFault({ kind: 'status', status: 500 });
      for (let i = 0; i < 2; i++) await other.app.inject(sources.nansen.url);
      other.clock.now += 10_000;
      await other.app.inject(sources.nansen.url);
      expect(other.nansen.requests).toHaveLength(3);
      expect((await other.app.inject(sources.nansen.url)).statusCode).toBe(503);
      expect(other.nansen.requests).toHaveLength(3);
    } finally {
      await other.close();
    }
  });
});
