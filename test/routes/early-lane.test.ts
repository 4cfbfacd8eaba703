import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../helpers.js';

const TOKEN = 'lane-token-5c1e';
const OTHER = 'lane-other-token-77';
const METRICS = 'lane-metrics-token-31';
const hash = (token: string) => createHash('sha256').update(token).digest('hex');
/** Headers that differ between any two answers, whoever serves them. */
const PER_REQUEST = new Set(['date', 'x-request-id', 'connection', 'keep-alive', 'ratelimit', 'transfer-encoding']);

function callersFile(): string {
  const file = join(mkdtempSync(join(tmpdir(), 'callers-')), 'callers.json');
  writeFileSync(
    file,
    JSON.stringify([
      { name: 'grafana', sha256: hash(TOKEN), rate_limit: '1000/1m' },
      { name: 'tight', sha256: hash(OTHER), rate_limit: '3/1m' },
    ]),
  );
  return file;
}

let stack: Stack;
let base: string;

beforeAll(async () => {
  stack = await startStack({ env: { CALLER_TOKENS_FILE: callersFile(), METRICS_TOKEN: METRICS } });
  await stack.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(stack.app.server.address() as AddressInfo).port}`;
});
afterAll(() => stack.close());
beforeEach(() => stack.reset());

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** Over a real socket: the early lane answers what it can, Fastify the rest. */
async function overHttp(path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<Answer> {
  const response = await request(`${base}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}`, ...headers } });
  return { status: response.statusCode, headers: response.headers as Record<string, string>, body: await response.body.text() };
}

/** inject() never reaches the HTTP server, so never the lane: what the route itself answers. */
async function throughRoute(path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<Answer> {
  const response = await stack.app.inject({ url: path, method, headers: { authorization: `Bearer ${TOKEN}`, ...headers } });
  return { status: response.statusCode, headers: response.headers as Record<string, string>, body: response.body };
}

async function metricsText(): Promise<string> {
  return (await stack.app.inject({ url: '/metrics', headers: { authorization: `Bearer ${METRICS}` } })).body;
}

async function laneServed(): Promise<number> {
  const served = /^netflows_early_lane_total (\d+)$/m.exec(await metricsText())?.[1];
  expect(served).toBeDefined();
  return Number(served);
}

function comparable(answer: Answer): Answer {
  return { ...answer, headers: Object.fromEntries(Object.entries(answer.headers).filter(([name]) => !PER_REQUEST.has(name))) };
}

/** The same request through the lane and through the route: the same status, headers and bytes. */
async function expectSameAnswer(path: string, headers: Record<string, string> = {}, method: 'GET' | 'HEAD' = 'GET'): Promise<Answer> {
  const before = await laneServed();
  const lane = await overHttp(path, headers, method);
  expect(await laneServed(), 'the lane served it').toBe(before + 1);
  const route = await throughRoute(path, headers, method);
  expect(comparable(lane)).toEqual(comparable(route));
  return lane;
}

describe('the early lane for kept answers', () => {
  const QUESTION = '/netflows?window=7d&limit=20';

  it('answers a kept URL with the route\'s exact headers and bytes, Age and Cache-Control as of now', async () => {
    const miss = await overHttp(QUESTION);
    expect(miss.headers['cache-status']).toContain('fwd=uri-miss');
    stack.clock.now += 10_000;
    const hit = await expectSameAnswer(QUESTION);
    expect(hit.status).toBe(200);
    expect(hit.headers['cache-status']).toBe('netflows-coinmetrics; hit, netflows-nansen; hit');
    expect(hit.headers.age).toBe('10');
    expect(hit.headers['cache-control']).toMatch(/^private, max-age=\d+$/);
    expect(hit.headers.vary).toBe('accept, accept-encoding');
    expect(JSON.parse(hit.body).data).toHaveLength(20);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    await overHttp(QUESTION);
    const head = await expectSameAnswer(QUESTION, {}, 'HEAD');
    expect(head.body).toBe('');
    expect(Number(head.headers['content-length'])).toBeGreaterThan(1000);
  });

  it('answers 304 to If-None-Match with either validator, and 200 to another', async () => {
    const miss = await overHttp(QUESTION);
    await overHttp(QUESTION);
    const hit = await overHttp(QUESTION);
    for (const tag of [miss.headers.etag!, hit.headers.etag!, `W/${hit.headers.etag}`, `"nope", ${hit.headers.etag}`, '*']) {
      const notModified = await expectSameAnswer(QUESTION, { 'if-none-match': tag });
      expect(notModified.status).toBe(304);
      expect(notModified.body).toBe('');
      expect(notModified.headers.etag).toBe(hit.headers.etag);
    }
    expect((await expectSameAnswer(QUESTION, { 'if-none-match': '"another"' })).status).toBe(200);
  });

  it('keeps one answer per negotiated format: Accept spellings and format= each get their own bytes', async () => {
    await overHttp(QUESTION);
    const json = await expectSameAnswer(QUESTION);
    await overHttp(QUESTION, { accept: 'text/csv' });
    const csv = await expectSameAnswer(QUESTION, { accept: 'text/csv' });
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8; header=present');
    expect(csv.body.split('\r\n')[0]).toContain(',');
    // Another spelling of the same format: the same kept answer.
    const csvAgain = await expectSameAnswer(QUESTION, { accept: 'text/csv;q=0.9, application/xml;q=0.1' });
    expect(csvAgain.body).toBe(csv.body);
    await overHttp(`${QUESTION}&format=ndjson`, { accept: 'text/csv' });
    const ndjson = await expectSameAnswer(`${QUESTION}&format=ndjson`, { accept: 'text/csv' });
    expect(ndjson.headers['content-type']).toBe('application/x-ndjson; charset=utf-8');
    expect(new Set([json.body, csv.body, ndjson.body]).size).toBe(3);
    // Nothing acceptable is the route's 406, kept answer or not.
    expect((await overHttp(QUESTION, { accept: 'image/png' })).status).toBe(406);
  });

  it('never answers without a known caller token', async () => {
    await overHttp(QUESTION);
    const before = await laneServed();
    for (const authorization of [undefined, 'Bearer wrong-token', `Basic ${TOKEN}`]) {
      const response = await request(`${base}${QUESTION}`, { headers: authorization ? { authorization } : {} });
      expect(response.statusCode).toBe(401);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(await response.body.json()).toMatchObject({ code: 'unauthenticated' });
    }
    expect(await laneServed()).toBe(before);
  });

  it('counts every kept answer against the caller\'s quota once, and refuses past it with the route\'s 429', async () => {
    await overHttp(QUESTION);
    const as = (token: string) => overHttp(QUESTION, { authorization: `Bearer ${token}` });
    const remaining = [];
    for (let i = 0; i < 3; i++) {
      const answer = await as(OTHER);
      expect(answer.status).toBe(200);
      expect(answer.headers['ratelimit-policy']).toBe('"3-per-60s";q=3;w=60');
      remaining.push(/;r=(\d+);/.exec(answer.headers.ratelimit!)?.[1]);
    }
    expect(remaining).toEqual(['2', '1', '0']);
    const before = await laneServed();
    const refused = await as(OTHER);
    expect(refused.status).toBe(429);
    expect(JSON.parse(refused.body)).toMatchObject({ code: 'rate_limited' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.headers.ratelimit).toMatch(/;r=0;/);
    expect(await laneServed()).toBe(before);
    // The refusal was counted once: the window still holds three, and the other caller is untouched.
    expect((await as(TOKEN)).status).toBe(200);
  });

  it('never serves a kept answer past its freshness', async () => {
    const miss = await overHttp(QUESTION);
    const freshForS = Number(/max-age=(\d+)/.exec(miss.headers['cache-control']!)?.[1]);
    stack.clock.now += freshForS * 1000 - 1000;
    const last = await expectSameAnswer(QUESTION);
    expect(last.headers['cache-control']).toBe('private, max-age=1');
    stack.clock.now += 1000;
    const before = await laneServed();
    const after = await overHttp(QUESTION);
    expect(await laneServed()).toBe(before);
    expect(after.status).toBe(200);
    expect(after.headers['cache-status']).not.toBe('netflows-coinmetrics; hit, netflows-nansen; hit');
  });

  it('echoes the request id, counts the request and writes the route\'s log line', async () => {
    await overHttp(QUESTION);
    const lines = stack.logs.length;
    const hit = await overHttp(QUESTION, { 'x-request-id': 'dash-42' });
    expect(hit.headers['x-request-id']).toBe('dash-42');
    const generated = await overHttp(QUESTION);
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const logged = stack.logs.slice(lines).map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'request');
    expect(logged).toHaveLength(2);
    expect(logged[0]).toMatchObject({ level: 30, reqId: 'dash-42', caller: 'grafana', method: 'GET', route: '/netflows', path: '/netflows', status: 200, cache: 'hit' });
    expect(logged[0]!.durationMs).toEqual(expect.any(Number));
    expect(JSON.stringify(logged)).not.toContain(TOKEN);
    const metrics = await metricsText();
    expect(metrics).toMatch(/netflows_http_requests_total\{route="\/netflows",method="GET",status="200",caller="grafana"\} \d+/);
    expect(metrics).toMatch(/netflows_response_cache_total\{outcome="hit"\} [1-9]/);
  });

  it('writes the same log line as the route, field for field, but for the time taken', async () => {
    await overHttp(QUESTION);
    const requestLines = (from: number) => stack.logs.slice(from).map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'request');
    const lines = stack.logs.length;
    await overHttp(QUESTION, { 'x-request-id': 'same-line-1' });
    const [lane] = requestLines(lines);
    const routeFrom = stack.logs.length;
    await throughRoute(QUESTION, { 'x-request-id': 'same-line-1' });
    const [route] = requestLines(routeFrom);
    expect(route!.cache).toBe('hit');
    const withoutTimes = ({ time, durationMs, ...rest }: Record<string, unknown>) => ({ ...rest, times: [typeof time, typeof durationMs] });
    expect(withoutTimes(lane!)).toEqual(withoutTimes(route!));
    expect(Object.keys(lane!)).toEqual(Object.keys(route!));
  });

  it('counts its answers in /metrics as the route counts its own: requests, the latency histogram, kept answers', async () => {
    await overHttp(QUESTION);
    const miss = await overHttp(QUESTION);
    const series = (text: string, pattern: string) => Number(new RegExp(`^${pattern} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
    const GET = 'route="/netflows",method="GET"';
    const read = (text: string) => ({
      ok: series(text, `netflows_http_requests_total\\{${GET},status="200",caller="grafana"\\}`),
      notModified: series(text, `netflows_http_requests_total\\{${GET},status="304",caller="grafana"\\}`),
      heads: series(text, 'netflows_http_requests_total\\{route="/netflows",method="HEAD",status="200",caller="grafana"\\}'),
      count: series(text, `netflows_http_request_duration_seconds_count\\{${GET}\\}`),
      inf: series(text, `netflows_http_request_duration_seconds_bucket\\{le="\\+Inf",${GET}\\}`),
      under30s: series(text, `netflows_http_request_duration_seconds_bucket\\{le="30",${GET}\\}`),
      sum: series(text, `netflows_http_request_duration_seconds_sum\\{${GET}\\}`),
      headCount: series(text, 'netflows_http_request_duration_seconds_count\\{route="/netflows",method="HEAD"\\}'),
      kept: series(text, 'netflows_response_cache_total\\{outcome="hit"\\}'),
      lane: series(text, 'netflows_early_lane_total'),
    });
    const before = read(await metricsText());
    for (let i = 0; i < 3; i++) await overHttp(QUESTION);
    await overHttp(QUESTION, { 'if-none-match': miss.headers.etag! });
    await overHttp(QUESTION, {}, 'HEAD');
    const afterLane = read(await metricsText());
    expect(afterLane).toEqual({
      ...before,
      ok: before.ok + 3,
      notModified: before.notModified + 1,
      heads: before.heads + 1,
      count: before.count + 4,
      inf: before.inf + 4,
      under30s: before.under30s + 4,
      sum: afterLane.sum,
      headCount: before.headCount + 1,
      kept: before.kept + 5,
      lane: before.lane + 5,
    });
    expect(afterLane.sum).toBeGreaterThan(before.sum);
    // The route counts the same request in the same series (its own /metrics scrape is not /netflows).
    await throughRoute(QUESTION);
    const afterRoute = read(await metricsText());
    expect(afterRoute).toMatchObject({ ok: afterLane.ok + 1, count: afterLane.count + 1, inf: afterLane.inf + 1, kept: afterLane.kept + 1, lane: afterLane.lane });
  });

  it('leaves to Fastify what it is not sure of: compression, percent-encoding, other paths', async () => {
    await overHttp(QUESTION);
    const before = await laneServed();
    const gzip = await overHttp(QUESTION, { 'accept-encoding': 'gzip' });
    expect(gzip.headers['content-encoding']).toBe('gzip');
    expect((await overHttp('/netflows?window=7d&limit=2%30')).status).toBe(200);
    expect((await overHttp('/netflowsx?window=7d&limit=20')).status).toBe(404);
    expect(await laneServed()).toBe(before);
  });
});
