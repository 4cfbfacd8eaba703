import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCoinMetricsSim, type CoinMetricsSim } from '../../src/demo/sim/coinmetrics.js';
import { startNansenSim, type NansenSim } from '../../src/demo/sim/nansen.js';
import { startGateway, TestRedis, type GatewayProcess } from '../processes.js';
import { OtlpReceiver, type ExportedSpan } from './receiver.js';

const CM_KEY = 'cm-trace-key-4d9e1a';
const NANSEN_KEY = 'nsk_trace_key_7c2f5b';
const SERVER = 2;
const CLIENT = 3;
const PROBE = './test/tracing/probe.ts';

/** A caller's W3C trace context: a fresh trace id and the caller's own span id. */
function traceparent(): { header: string; traceId: string; parentId: string } {
  const traceId = randomBytes(16).toString('hex');
  const parentId = randomBytes(8).toString('hex');
  return { header: `00-${traceId}-${parentId}-01`, traceId, parentId };
}

async function get(gateway: GatewayProcess, path: string, header: string) {
  const response = await request(`${gateway.base}${path}`, { headers: { traceparent: header } });
  await response.body.dump();
  return response.statusCode;
}

/** Everything a span says: its name, its attributes, its events. */
function everything(span: ExportedSpan): string {
  return JSON.stringify([span.name, span.attributes, span.events, span.status.message]);
}

function expectNothingSecret(receiver: OtlpReceiver): void {
  expect(receiver.spans.length).toBeGreaterThan(0);
  for (const span of receiver.spans) {
    const text = everything(span);
    for (const secret of [CM_KEY, NANSEN_KEY, 'api_key=', 'apikey']) expect(text, `${span.name} carries ${secret}`).not.toContain(secret);
    expect(span.attributes['url.query'], `${span.name} has a url.query`).toBeUndefined();
    expect(String(span.attributes['url.full'] ?? ''), `${span.name} has a query in url.full`).not.toContain('?');
  }
  for (const body of receiver.bodies) {
    for (const secret of [CM_KEY, NANSEN_KEY, 'api_key=']) expect(body.raw.includes(secret), `an export body carries ${secret}`).toBe(false);
  }
}

const upstreamSpans = (spans: ExportedSpan[], source: string) => spans.filter((s) => s.name === `upstream ${source}`);
const serverSpan = (spans: ExportedSpan[]) => spans.find((s) => s.kind === SERVER)!;

function gatewayEnv(cm: CoinMetricsSim, nansen: NansenSim, receiver: OtlpReceiver, extra: Record<string, string>): Record<string, string> {
  return {
    COINMETRICS_API_KEY: CM_KEY,
    COINMETRICS_BASE_URL: cm.url,
    NANSEN_API_KEY: NANSEN_KEY,
    NANSEN_BASE_URL: nansen.url,
    NANSEN_TTL_S: '1',
    STALE_WHILE_REVALIDATE_S: '0',
    UPSTREAM_RETRIES: '1',
    OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    OTEL_SERVICE_NAME: 'netflows-under-test',
    OTEL_BSP_SCHEDULE_DELAY: '50',
    ...extra,
  };
}

for (const protocol of ['http/protobuf', 'http/json']) {
  describe(`traces over OTLP ${protocol}`, () => {
    let cm: CoinMetricsSim;
    let nansen: NansenSim;
    let receiver: OtlpReceiver;
    let redis: TestRedis;
    let gateway: GatewayProcess;
    const probeFile = join(mkdtempSync(join(tmpdir(), 'trace-probe-')), 'probe.json');

    beforeAll(async () => {
      [cm, nansen, receiver, redis] = await Promise.all([
        startCoinMetricsSim({ apiKey: CM_KEY }),
        startNansenSim({ apiKey: NANSEN_KEY }),
        OtlpReceiver.start(),
        TestRedis.start(),
      ]);
      gateway = await startGateway(gatewayEnv(cm, nansen, receiver, { OTEL_EXPORTER_OTLP_PROTOCOL: protocol, REDIS_URL: redis.url, TRACE_PROBE_FILE: probeFile }), [PROBE]);
    }, 30_000);

    afterAll(async () => {
      await gateway?.stop();
      await Promise.all([cm?.close(), nansen?.close(), receiver?.close(), redis?.kill()]);
    });

    const QUESTION = '/netflows?window=24h&limit=5';

    it('makes a cold request one trace: the caller\'s, with a span per upstream call, HTTP client spans and Redis spans inside it', async () => {
      const caller = traceparent();
      expect(await get(gateway, QUESTION, caller.header)).toBe(200);
      await receiver.waitFor(() => upstreamSpans(receiver.trace(caller.traceId), 'nansen').length > 0 && serverSpan(receiver.trace(caller.traceId)) !== undefined);
      const spans = receiver.trace(caller.traceId);

      const server = serverSpan(spans);
      expect(server.name).toBe('GET /netflows');
      expect(server.parentSpanId).toBe(caller.parentId);
      expect(server.resource['service.name']).toBe('netflows-under-test');
      expect(server.attributes).toMatchObject({
        'http.route': '/netflows',
        'url.path': '/netflows',
        'http.response.status_code': 200,
        'netflows.cache': 'coinmetrics:miss,nansen:miss',
        'netflows.kept_answer': false,
        'netflows.source.coinmetrics.cache': 'miss',
        'netflows.source.coinmetrics.status': 'ok',
        'netflows.source.nansen.cache': 'miss',
      });

      for (const source of ['coinmetrics', 'nansen']) {
        const [attempt] = upstreamSpans(spans, source);
        expect(attempt!.parentSpanId).toBe(server.spanId);
        expect(attempt!.attributes).toMatchObject({ 'netflows.source': source, 'netflows.upstream.attempt': 1, 'netflows.upstream.outcome': '2xx' });
        expect(attempt!.attributes['netflows.upstream.budget_wait_ms']).toEqual(expect.any(Number));
        const http = spans.filter((s) => s.parentSpanId === attempt!.spanId && s.kind === CLIENT && s.attributes['http.request.method'] !== undefined);
        expect(http).toHaveLength(1);
        expect(http[0]!.attributes).toMatchObject({ 'http.response.status_code': 200, 'server.address': '127.0.0.1' });
        expect(String(http[0]!.attributes['url.full'])).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/[\w/-]+$/);
      }
      const redisSpans = spans.filter((s) => s.attributes['db.system.name'] === 'redis');
      expect(redisSpans.length).toBeGreaterThan(0);
      expect(redisSpans.every((s) => /^[a-z]+ \(\d+ arguments\)$/.test(String(s.attributes['db.query.text'])))).toBe(true);
      expectNothingSecret(receiver);
    });

    it('marks a repeated request as served by a kept answer, with no upstream call in its trace', async () => {
      const caller = traceparent();
      expect(await get(gateway, QUESTION, caller.header)).toBe(200);
      await receiver.waitFor(() => serverSpan(receiver.trace(caller.traceId)) !== undefined);
      const spans = receiver.trace(caller.traceId);
      expect(serverSpan(spans).attributes).toMatchObject({ 'netflows.cache': 'hit', 'netflows.kept_answer': true });
      expect(spans.filter((s) => s.name.startsWith('upstream '))).toEqual([]);
    });

    it('gives a kept answer served before routing (the early lane) the server span the route would have, and its ids on the log line', async () => {
      const caller = traceparent();
      const before = gateway.lines.length;
      expect(await get(gateway, `${QUESTION}&asset=btc`, caller.header)).toBe(200);
      expect(await get(gateway, `${QUESTION}&asset=btc`, caller.header)).toBe(200);
      await receiver.waitFor(() => receiver.trace(caller.traceId).filter((s) => s.kind === SERVER).length === 2);
      const kept = receiver.trace(caller.traceId).filter((s) => s.kind === SERVER && s.attributes['netflows.kept_answer'] === true);
      expect(kept).toHaveLength(1);
      expect(kept[0]!.name).toBe('GET /netflows');
      expect(kept[0]!.parentSpanId).toBe(caller.parentId);
      expect(kept[0]!.attributes).toMatchObject({
        'http.request.method': 'GET',
        'http.route': '/netflows',
        'url.path': '/netflows',
        'http.response.status_code': 200,
        'netflows.cache': 'hit',
      });
      const lines = gateway.lines.slice(before).map((line) => JSON.parse(line) as Record<string, unknown>);
      const requestLines = lines.filter((line) => line.msg === 'request' && line.cache === 'hit');
      expect(requestLines).toHaveLength(1);
      expect(requestLines[0]).toMatchObject({ trace_id: caller.traceId, span_id: kept[0]!.spanId });
      expectNothingSecret(receiver);
    });

    it('shows a stale answer: the failed attempts, each numbered, and the source stale on the server span', async () => {
      await new Promise((resolve) => setTimeout(resolve, 1100));
      nansen.setFault({ kind: 'status', status: 503 });
      const caller = traceparent();
      try {
        expect(await get(gateway, `${QUESTION}&source=nansen`, caller.header)).toBe(200);
      } finally {
        nansen.setFault(null);
      }
      await receiver.waitFor(() => serverSpan(receiver.trace(caller.traceId)) !== undefined && upstreamSpans(receiver.trace(caller.traceId), 'nansen').length === 2);
      const spans = receiver.trace(caller.traceId);
      expect(serverSpan(spans).attributes).toMatchObject({ 'netflows.source.nansen.status': 'stale', 'netflows.source.nansen.cache': 'stale', 'netflows.kept_answer': false });
      const attempts = upstreamSpans(spans, 'nansen').sort((a, b) => Number(a.attributes['netflows.upstream.attempt']) - Number(b.attributes['netflows.upstream.attempt']));
      expect(attempts.map((s) => [s.attributes['netflows.upstream.attempt'], s.attributes['netflows.upstream.outcome'], s.status.code])).toEqual([
        [1, '5xx', 2],
        [2, '5xx', 2],
      ]);
      expectNothingSecret(receiver);
    });

    it('shows an upstream failure: the rejected key\'s attempt and the error answer', async () => {
      cm.setFault({ kind: 'status', status: 401 });
      const caller = traceparent();
      try {
        expect(await get(gateway, '/netflows?source=coinmetrics&asset=sol&window=7d', caller.header)).toBe(502);
      } finally {
        cm.setFault(null);
      }
      await receiver.waitFor(() => serverSpan(receiver.trace(caller.traceId)) !== undefined);
      const spans = receiver.trace(caller.traceId);
      expect(serverSpan(spans).attributes['http.response.status_code']).toBe(502);
      expect(serverSpan(spans).status.code).toBe(2);
      expect(upstreamSpans(spans, 'coinmetrics').map((s) => [s.attributes['netflows.upstream.attempt'], s.attributes['netflows.upstream.outcome']])).toEqual([[1, '4xx']]);
      expectNothingSecret(receiver);
    });

    it('puts trace_id and span_id on every log line of a traced request', async () => {
      const caller = traceparent();
      const before = gateway.lines.length;
      expect(await get(gateway, '/netflows?source=coinmetrics&asset=usdt_eth&window=30d', caller.header)).toBe(200);
      await receiver.waitFor(() => serverSpan(receiver.trace(caller.traceId)) !== undefined);
      const spans = receiver.trace(caller.traceId);
      const lines = gateway.lines.slice(before).map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(lines.map((line) => line.msg)).toEqual(expect.arrayContaining(['request', 'upstream call']));
      expect(lines.filter((line) => line.trace_id !== caller.traceId)).toEqual([]);
      const spanIds = new Set(spans.map((s) => s.spanId));
      expect(lines.filter((line) => !spanIds.has(String(line.span_id)))).toEqual([]);
      expect(lines.find((line) => line.msg === 'request')!.span_id).toBe(serverSpan(spans).spanId);
      expect(lines.find((line) => line.msg === 'upstream call')!.span_id).toBe(upstreamSpans(spans, 'coinmetrics')[0]!.spanId);
    });

    it('sends no traceparent to the upstreams (OTEL_PROPAGATE_UPSTREAM is off by default)', () => {
      const sent = [...cm.requests, ...nansen.requests].map((r) => r.headers.traceparent);
      expect(sent.length).toBeGreaterThan(0);
      expect(sent.filter((header) => header !== undefined)).toEqual([]);
    });

    it('loaded the SDK and subscribed the instrumentations (what the untraced gateway must not do)', async () => {
      await gateway.stop();
      const probe = JSON.parse(readFileSync(probeFile, 'utf8')) as { modules: string[]; channels: string[] };
      expect(probe.modules).toEqual(expect.arrayContaining(['@fastify/otel', '@opentelemetry/sdk-trace-node', '@opentelemetry/instrumentation-undici']));
      expect(probe.channels).toEqual(['fastify.initialization', 'undici:request:create', 'undici:request:headers']);
    });
  });
}

describe('OTEL_PROPAGATE_UPSTREAM=on', () => {
  it('sends the upstream call\'s trace context on to the upstream, and never the caller\'s baggage', async () => {
    const [cm, nansen, receiver] = await Promise.all([startCoinMetricsSim({ apiKey: CM_KEY }), startNansenSim({ apiKey: NANSEN_KEY }), OtlpReceiver.start()]);
    const gateway = await startGateway(gatewayEnv(cm, nansen, receiver, { OTEL_PROPAGATE_UPSTREAM: 'on' }));
    try {
      const caller = traceparent();
      const response = await request(`${gateway.base}/netflows?source=coinmetrics&limit=1`, { headers: { traceparent: caller.header, baggage: 'tenant=internal-team' } });
      expect(response.statusCode).toBe(200);
      await response.body.dump();
      await receiver.waitFor(() => serverSpan(receiver.trace(caller.traceId)) !== undefined);
      expect(cm.requests.map((r) => r.headers.baggage)).toEqual([undefined]);
      const client = receiver.trace(caller.traceId).find((s) => s.kind === CLIENT && s.attributes['http.request.method'] === 'GET')!;
      expect(cm.requests.map((r) => r.headers.traceparent)).toEqual([`00-${caller.traceId}-${client.spanId}-01`]);
    } finally {
      await gateway.stop();
      await Promise.all([cm.close(), nansen.close(), receiver.close()]);
    }
  }, 30_000);
});

describe('kept answers\' spans in batches of OTEL_BSP_MAX_EXPORT_BATCH_SIZE', () => {
  it('exports every sampled hit once, in its own trace, across batches that reuse their buffers', async () => {
    const [cm, nansen, receiver] = await Promise.all([startCoinMetricsSim({ apiKey: CM_KEY }), startNansenSim({ apiKey: NANSEN_KEY }), OtlpReceiver.start()]);
    const gateway = await startGateway(gatewayEnv(cm, nansen, receiver, { NANSEN_TTL_S: '600', OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '3', OTEL_BSP_SCHEDULE_DELAY: '20' }));
    try {
      const question = '/netflows?window=24h&limit=3';
      expect(await get(gateway, question, traceparent().header)).toBe(200);
      const callers = Array.from({ length: 11 }, () => traceparent());
      for (const [i, caller] of callers.entries()) {
        const headers = { traceparent: caller.header, ...(i === 4 ? { tracestate: 'vendor=opaque-4' } : {}) };
        const response = await request(`${gateway.base}${question}`, { method: i === 7 ? 'HEAD' : 'GET', headers });
        await response.body.dump();
        expect(response.statusCode).toBe(200);
      }
      // A caller that did not sample its trace: parent-based sampling records nothing of it.
      const unsampled = traceparent();
      expect(await get(gateway, question, unsampled.header.replace(/-01$/, '-00'))).toBe(200);
      await receiver.waitFor(() => callers.every((caller) => receiver.trace(caller.traceId).length > 0));
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const [i, caller] of callers.entries()) {
        const spans = receiver.trace(caller.traceId);
        expect(spans, `caller ${i}`).toHaveLength(1);
        expect(spans[0]).toMatchObject({ name: i === 7 ? 'HEAD /netflows' : 'GET /netflows', kind: SERVER, parentSpanId: caller.parentId });
        expect(spans[0]!.attributes).toMatchObject({ 'http.request.method': i === 7 ? 'HEAD' : 'GET', 'netflows.kept_answer': true, 'http.response.status_code': 200 });
        expect(spans[0]!.resource['service.name']).toBe('netflows-under-test');
      }
      expect(receiver.trace(unsampled.traceId)).toEqual([]);
      const hitLines = gateway.lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'request' && line.cache === 'hit');
      expect(hitLines.map((line) => line.trace_id)).toEqual([...callers.map((caller) => caller.traceId), unsampled.traceId]);
      expect(new Set(hitLines.map((line) => line.span_id)).size).toBe(hitLines.length);
      const laneBodies = receiver.bodies.filter((body) => body.raw.includes(Buffer.from('netflows.kept_answer')));
      expect(laneBodies.length).toBeGreaterThanOrEqual(4);
    } finally {
      await gateway.stop();
      await Promise.all([cm.close(), nansen.close(), receiver.close()]);
    }
  }, 30_000);
});

describe('SIGTERM with a collector that never answers', () => {
  it('still exits 0 at once (regression: the last export held the exit for the exporter\'s whole timeout)', async () => {
    const cm = await startCoinMetricsSim({ apiKey: CM_KEY });
    const sockets = new Set<Socket>();
    const silent = createServer(() => {}).on('connection', (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const gateway = await startGateway({
      COINMETRICS_API_KEY: CM_KEY,
      COINMETRICS_BASE_URL: cm.url,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(silent.address() as AddressInfo).port}`,
      OTEL_EXPORTER_OTLP_TIMEOUT: '120000',
      OTEL_BSP_EXPORT_TIMEOUT: '120000',
      OTEL_BSP_SCHEDULE_DELAY: '60000',
    });
    try {
      expect(await get(gateway, '/netflows?source=coinmetrics&limit=1', traceparent().header)).toBe(200);
      gateway.signal('SIGTERM');
      expect(await gateway.exited).toBe(0);
    } finally {
      await gateway.stop();
      for (const socket of sockets) socket.destroy();
      await Promise.all([cm.close(), new Promise((resolve) => silent.close(resolve))]);
    }
  }, 20_000);
});
