import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NetflowRecord } from '../../src/model.js';
import { startStack, type Stack } from '../helpers.js';

const MINUTE = 60_000;
const DAY = 86_400_000;
let stack: Stack;

beforeAll(async () => {
  stack = await startStack();
});
afterAll(() => stack.close());
beforeEach(() => stack.reset());

const get = (url: string, headers: Record<string, string> = {}) => stack.app.inject({ method: 'GET', url, headers });
const cmCalls = () => stack.cm.requests.length;
const nansenCalls = () => stack.nansen.requests.length;

describe('repeated questions', () => {
  it('are answered from cache with Cache-Status hit and one upstream call each', async () => {
    const first = await get('/netflows?window=7d&limit=20');
    expect(first.headers['cache-status']).toBe('netflows-coinmetrics; fwd=uri-miss; stored, netflows-nansen; fwd=uri-miss; stored');
    expect(first.json().sources.map((s: { cache: string }) => s.cache)).toEqual(['miss', 'miss']);
    stack.clock.now += 10_000;
    const second = await get('/netflows?window=7d&limit=20');
    expect(second.headers['cache-status']).toBe('netflows-coinmetrics; hit, netflows-nansen; hit');
    expect(second.json().sources.map((s: { cache: string }) => s.cache)).toEqual(['hit', 'hit']);
    expect(second.json().data).toEqual(first.json().data);
    expect([cmCalls(), nansenCalls()]).toEqual([1, 1]);
    expect(second.headers.age).toBe('10');
    expect(second.headers['cache-control']).toBe('max-age=50');
  });

  it('reuse upstream answers across formats and list spellings', async () => {
    await get('/netflows?window=7d&asset=btc,eth');
    await get('/netflows?window=7d&asset=eth,btc&format=csv');
    await get('/netflows?window=7d&asset=ETH,btc', { accept: 'application/x-ndjson' });
    expect([cmCalls(), nansenCalls()]).toEqual([1, 1]);
  });

  it('make one upstream call for 100 concurrent identical cold requests', async () => {
    const responses = await Promise.all(Array.from({ length: 100 }, () => get('/netflows?window=30d&limit=50')));
    expect(responses.every((r) => r.statusCode === 200)).toBe(true);
    expect([cmCalls(), nansenCalls()]).toEqual([1, 1]);
  });

  it('answer 304 to If-None-Match with either validator of the same data', async () => {
    const first = await get('/netflows?limit=5');
    const second = await get('/netflows?limit=5');
    expect(second.headers.etag).not.toBe(first.headers.etag);
    for (const etag of [first.headers.etag, second.headers.etag]) {
      const again = await get('/netflows?limit=5', { 'if-none-match': String(etag) });
      expect(again.statusCode).toBe(304);
      expect(again.headers.etag).toBe(second.headers.etag);
    }
    expect((await get('/netflows?limit=5', { 'if-none-match': '"other"' })).statusCode).toBe(200);
  });

  it('keep one answer per negotiated format, however Accept is spelled (regression: the raw Accept was the key)', async () => {
    await get('/netflows?source=coinmetrics&limit=1');
    for (let i = 0; i < 50; i++) {
      const response = await get('/netflows?source=coinmetrics&limit=1', { accept: `application/json, x/${i}-${'a'.repeat(1000)}` });
      expect(response.statusCode).toBe(200);
    }
    // The request key and the question key of the one JSON answer.
    expect(stack.rendered.entries).toBe(2);
    expect((await get('/netflows?source=coinmetrics&limit=1', { accept: 'text/csv' })).headers['content-type']).toMatch(/^text\/csv/);
  });

  it('cache valid empty answers', async () => {
    const first = await get('/netflows?source=nansen&chain=monad');
    expect(first.json().data).toEqual([]);
    stack.rendered.clear();
    await get('/netflows?source=nansen&chain=monad');
    expect(nansenCalls()).toBe(1);
  });

  it('never cache an error or a malformed body', async () => {
    stack.nansen.setFault({ kind: 'malformed', body: '{"data": "not rows"}' }, { times: 1 });
    expect((await get('/netflows?source=nansen')).statusCode).toBe(502);
    const after = await get('/netflows?source=nansen');
    expect(after.statusCode).toBe(200);
    expect(nansenCalls()).toBe(2);
  });
});

describe('Coin Metrics day reuse', () => {
  it('answers 7d after 30d (and 24h) from one upstream fetch', async () => {
    await get('/netflows?source=coinmetrics&window=30d');
    await get('/netflows?source=coinmetrics&window=7d');
    await get('/netflows?source=coinmetrics&window=24h');
    expect(cmCalls()).toBe(1);
  });

  it('fetches only the new day when a 30-day series slides forward by a day', async () => {
    await get('/netflows?interval=1d&asset=btc&entity=binance&start=2026-10-01&end=2026-10-30');
    expect(stack.cm.requests[0]!.query).toMatchObject({ start_time: '2026-10-01', end_time: '2026-10-30' });
    const slid = await get('/netflows?interval=1d&asset=btc&entity=binance&start=2026-10-02&end=2026-10-31');
    expect(cmCalls()).toBe(2);
    expect(stack.cm.requests[1]!.query).toMatchObject({ start_time: '2026-10-31', end_time: '2026-10-31', assets: 'btc' });
    const rows = slid.json().data as NetflowRecord[];
    expect(rows).toHaveLength(30);
    expect(rows.map((r) => r.period_start.slice(0, 10))).toEqual(
      Array.from({ length: 30 }, (_, i) => new Date(Date.parse('2026-10-02') + i * DAY).toISOString().slice(0, 10)),
    );
    expect(slid.json().sources[0].cache).toBe('miss');
  });

  it('keeps settled days for hours and refetches only the latest day after its 5 minutes', async () => {
    await get('/netflows?source=coinmetrics&window=30d');
    stack.clock.now += 6 * MINUTE;
    const again = await get('/netflows?source=coinmetrics&window=30d');
    expect(again.statusCode).toBe(200);
    expect(cmCalls()).toBe(2);
    expect(stack.cm.requests[1]!.query).toMatchObject({ start_time: '2026-11-20', end_time: '2026-11-20' });
  });

  it('fetches only the new assets when an asset is added', async () => {
    await get('/netflows?source=coinmetrics&window=7d&asset=btc');
    await get('/netflows?source=coinmetrics&window=7d&asset=btc,sol');
    expect(stack.cm.requests.map((r) => r.query.assets)).toEqual(['btc', 'sol']);
  });
});

describe('stale data', () => {
  it('is served at once after expiry within the revalidate window, refreshed once', async () => {
    await get('/netflows?source=nansen&limit=10');
    stack.clock.now += 60_000 + 5_000;
    const stale = await get('/netflows?source=nansen&limit=10');
    expect(stale.statusCode).toBe(200);
    expect(stale.json().sources[1]).toMatchObject({ status: 'ok', cache: 'stale' });
    expect(stale.headers['cache-status']).toBe('netflows-nansen; hit; detail=stale-while-revalidate');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(nansenCalls()).toBe(2);
    const fresh = await get('/netflows?source=nansen&limit=10');
    expect(fresh.json().sources[1].cache).toBe('hit');
    expect(nansenCalls()).toBe(2);
  });

  it('stands in for a failing upstream, marked stale and incomplete, and fresh data returns after', async () => {
    const warm = await get('/netflows?window=7d&limit=30');
    stack.clock.now += 10 * MINUTE;
    stack.cm.setFault({ kind: 'status', status: 500 });
    stack.nansen.setFault({ kind: 'reset' });
    const stale = await get('/netflows?window=7d&limit=30');
    expect(stale.statusCode).toBe(200);
    const body = stale.json();
    expect(body.complete).toBe(false);
    expect(body.sources).toEqual([
      expect.objectContaining({ source: 'coinmetrics', status: 'stale', cache: 'stale', error: expect.objectContaining({ code: 'upstream_error' }) }),
      expect.objectContaining({ source: 'nansen', status: 'stale', cache: 'stale', error: expect.objectContaining({ code: 'upstream_unreachable' }) }),
    ]);
    expect(body.data).toEqual(warm.json().data);
    expect(stale.headers['cache-status']).toBe('netflows-coinmetrics; hit; detail=stale-if-error, netflows-nansen; hit; detail=stale-if-error');
    expect(stale.headers['cache-control']).toBe('max-age=0');

    stack.cm.setFault(null);
    stack.nansen.setFault(null);
    const fresh = await get('/netflows?window=7d&limit=30');
    expect(fresh.json().complete).toBe(true);
    expect(fresh.json().sources.map((s: { status: string; cache: string }) => [s.status, s.cache])).toEqual([
      ['ok', 'miss'],
      ['ok', 'miss'],
    ]);
  });

  it('is not served past the stale-if-error window', async () => {
    await get('/netflows?source=coinmetrics&window=7d');
    stack.clock.now += 2 * 3600_000;
    stack.cm.setFault({ kind: 'status', status: 503 });
    const response = await get('/netflows?source=coinmetrics&window=7d');
    expect(response.statusCode).toBe(502);
  });
});

describe('Cache-Control', () => {
  it('is private when caller tokens are configured', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'callers-')), 'callers.json');
    writeFileSync(file, JSON.stringify([{ name: 'grafana', sha256: createHash('sha256').update('tok').digest('hex'), rate_limit: '100/1m' }]));
    const other = await startStack({ env: { CALLER_TOKENS_FILE: file } });
    try {
      const response = await other.app.inject({ url: '/netflows?limit=1', headers: { authorization: 'Bearer tok' } });
      expect(response.statusCode).toBe(200);
      expect(response.headers['cache-control']).toMatch(/^private, max-age=\d+$/);
    } finally {
      await other.close();
    }
  });
});
