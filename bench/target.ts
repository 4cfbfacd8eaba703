// One process under test for `npm run bench`, spawned by bench/run.ts. The role comes from argv[2]:
//
//   gateway  the gateway, plus a "control" node:http server (GET /stats, POST /reset-counts,
//            GET /last-nansen-body, POST /gc, POST /profile/start, POST /profile/stop?file=…).
//            Upstreams: both simulators started in-process (rate limits off), or, when
//            BENCH_UPSTREAMS is set, the `sims` process it names. BENCH_CALLER_TOKENS_FILE turns
//            caller tokens on; BENCH_LOG_FILE writes the log (one line per request) there.
//            BENCH_TRACE=1 adds a split of each request's time (see startTrace)
//   sims     both simulators alone (rate limits off), with the same control server for their counts
//            BENCH_NANSEN_TOKENS_PER_CHAIN gives the simulated Nansen more tokens than the demo's
//            300, so that a page of 1000 rows is full (the warm questions need one)
//   fastify  a bare Fastify 5 app answering GET /* with a fixed body (BENCH_BODY_FILE)
//   node     a bare node:http server answering every request with the same fixed body
//   proxy    (e)'s floor: a bare node:http server that forwards each request to Nansen's
//            smart-money endpoint in the `sims` process BENCH_UPSTREAMS names, as the body
//            BENCH_PROXY_BODY with a new `market_cap_usd.min` each time, and answers with the
//            upstream's bytes: one hop with no parsing, normalising or rendering
//
// Each prints one JSON line `{"ready":true,"port":N,"controlPort"?:N,...}` on stdout when it
// listens, and exits on SIGTERM / SIGINT or when its stdin closes (the orchestrator is gone).
// Bench-only code: nothing in src/ knows about it.
import { randomBytes } from 'node:crypto';
import diagnosticsChannel from 'node:diagnostics_channel';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import { Pool } from 'undici';
import { buildApp, createLogger, createUpstreamCache } from '../src/app.js';
import { batchedDestination } from '../src/log-destination.js';
import { loadConfig } from '../src/config.js';
import { Metrics } from '../src/metrics.js';
import { startCoinMetricsSim, type CoinMetricsSim } from '../src/demo/sim/coinmetrics.js';
import { startNansenSim, type NansenSim } from '../src/demo/sim/nansen.js';

const CONTENT_TYPE = 'application/json; charset=utf-8';
const HOST = '127.0.0.1';
/** Credits enough for any bench run: every Nansen call costs 5. */
const BENCH_CREDITS = 1_000_000_000;


type Closer = () => Promise<void>;

function ready(port: number, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ ready: true, port, ...extra })}\n`);
}

function listen(server: http.Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, HOST, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

function envInt(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number, got "${raw}"`);
  return n;
}

function fixedBody(): Buffer {
  const file = process.env.BENCH_BODY_FILE;
  if (!file) throw new Error('BENCH_BODY_FILE is not set');
  return readFileSync(file);
}

/** Where the gateway's upstreams are, and with which keys. */
interface Upstreams {
  cmUrl: string;
  cmKey: string;
  nansenUrl: string;
  nansenKey: string;
}

interface Sims {
  upstreams: Upstreams;
  cm: CoinMetricsSim;
  nansen: NansenSim;
  close: Closer;
}

async function startSims(): Promise<Sims> {
  const latencyMs = envInt('BENCH_SIM_LATENCY_MS', 0);
  const cmKey = `bench-cm-${randomBytes(8).toString('hex')}`;
  const nansenKey = `nsk_bench_${randomBytes(8).toString('hex')}`;
  const cm = await startCoinMetricsSim({ apiKey: cmKey, latencyMs, rateLimits: false });
  const tokensPerChain = envInt('BENCH_NANSEN_TOKENS_PER_CHAIN', 0);
  const nansen = await startNansenSim({ apiKey: nansenKey, latencyMs, rateLimits: false, credits: BENCH_CREDITS, ...(tokensPerChain ? { tokensPerChain } : {}) });
  return {
    upstreams: { cmUrl: cm.url, cmKey, nansenUrl: nansen.url, nansenKey },
    cm,
    nansen,
    close: async () => {
      await Promise.all([cm.close(), nansen.close()]);
    },
  };
}

/** The bench's window into a process: its memory, and whatever `extra` adds (counts, cache). */
async function startControl(
  sims: Sims | undefined,
  extra: () => Promise<Record<string, unknown>> | Record<string, unknown>,
  onReset: () => void = () => undefined,
): Promise<{ port: number; close: Closer }> {
  const profiler = new Profiler();
  const answer = async (method: string | undefined, url: URL): Promise<[number, unknown]> => {
    if (method === 'GET' && url.pathname === '/stats') {
      const memory = process.memoryUsage();
      return [
        200,
        {
          cmRequests: sims ? sims.cm.requests.length : null,
          nansenRequests: sims ? sims.nansen.requests.length : null,
          ...(await extra()),
          rss: memory.rss,
          heapTotal: memory.heapTotal,
          heapUsed: memory.heapUsed,
          external: memory.external,
          arrayBuffers: memory.arrayBuffers,
          // ru_maxrss is in KiB on Linux.
          maxRss: process.resourceUsage().maxRSS * 1024,
        },
      ];
    }
    if (method === 'POST' && url.pathname === '/reset-counts') {
      if (sims) {
        sims.cm.requests.length = 0;
        sims.nansen.requests.length = 0;
      }
      onReset();
      return [200, { ok: true }];
    }
    if (method === 'GET' && url.pathname === '/last-nansen-body') return [200, sims?.nansen.requests.at(-1)?.body ?? null];
    if (method === 'POST' && url.pathname === '/gc') {
      // Only with --expose-gc; reports whether it ran.
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      return [200, { gc: gc !== undefined }];
    }
    if (method === 'POST' && url.pathname === '/profile/start') {
      await profiler.start();
      return [200, { ok: true }];
    }
    if (method === 'POST' && url.pathname === '/profile/stop') {
      const file = url.searchParams.get('file');
      if (!file) return [400, { error: 'file is required' }];
      await profiler.stop(file);
      return [200, { ok: true, file }];
    }
    return [404, { error: 'not found' }];
  };
  const server = http.createServer((req, res) => {
    const reply = ([status, body]: [number, unknown]) => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    req.resume();
    req.on('end', () => {
      answer(req.method, new URL(req.url ?? '/', 'http://control')).then(reply, (error: unknown) =>
        reply([500, { error: error instanceof Error ? error.message : String(error) }]),
      );
    });
  });
  return {
    port: await listen(server, 0),
    close: async () => {
      await profiler.close();
      await closeServer(server);
    },
  };
}

/**
 * V8's sampling profiler over the inspector protocol, started and stopped on demand, so a
 * profile covers exactly the load of one path (bench/profile.ts) and not the warm-up before it.
 */
class Profiler {
  private session: Session | undefined;

  async start(): Promise<void> {
    if (this.session) throw new Error('a profile is already running');
    const session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    // Every 100 µs: fine enough for a cache hit that takes tens of µs, at a cost of a few percent.
    await session.post('Profiler.setSamplingInterval', { interval: 100 });
    await session.post('Profiler.start');
    this.session = session;
  }

  async stop(file: string): Promise<void> {
    const session = this.session;
    if (!session) throw new Error('no profile is running');
    this.session = undefined;
    const { profile } = await session.post('Profiler.stop');
    session.disconnect();
    writeFileSync(file, JSON.stringify(profile));
  }

  async close(): Promise<void> {
    this.session?.disconnect();
    this.session = undefined;
  }
}

/**
 * BENCH_TRACE=1 (the (e) gateway): splits each /netflows request's time in the gateway
 * (Fastify onRequest → onResponse, the answer written) into the time spent waiting for
 * upstream calls (undici diagnostics channels, request created → body received) and the
 * rest, the gateway's own. Valid for one request at a time, which is how (e) runs.
 * Observation only: two hooks and two channel subscribers, a few µs per request.
 */
function startTrace(app: FastifyInstance) {
  let upstreamNs = 0n;
  const upstreamStarted = new WeakMap<object, bigint>();
  const requestStarted = new WeakMap<FastifyRequest, { t0: bigint; upstream0: bigint; sendT0?: bigint }>();
  const samples: { serverUs: number; upstreamUs: number; ownUs: number; sendUs: number }[] = [];
  diagnosticsChannel.subscribe('undici:request:create', (message) => {
    upstreamStarted.set((message as { request: object }).request, process.hrtime.bigint());
  });
  const settled = (message: unknown) => {
    const request = (message as { request: object }).request;
    const t0 = upstreamStarted.get(request);
    if (t0 === undefined) return;
    upstreamStarted.delete(request);
    upstreamNs += process.hrtime.bigint() - t0;
  };
  diagnosticsChannel.subscribe('undici:request:trailers', settled);
  diagnosticsChannel.subscribe('undici:request:error', settled);
  app.addHook('onRequest', async (request) => {
    requestStarted.set(request, { t0: process.hrtime.bigint(), upstream0: upstreamNs });
  });
  // The last onSend hook: from here to onResponse is writing the answer to the socket.
  app.addHook('onSend', async (request, _reply, payload) => {
    const start = requestStarted.get(request);
    if (start) start.sendT0 = process.hrtime.bigint();
    return payload;
  });
  app.addHook('onResponse', async (request) => {
    const start = requestStarted.get(request);
    if (!start || !request.url.startsWith('/netflows')) return;
    const now = process.hrtime.bigint();
    const serverUs = Number(now - start.t0) / 1000;
    const upstreamUs = Number(upstreamNs - start.upstream0) / 1000;
    const sendUs = start.sendT0 === undefined ? 0 : Number(now - start.sendT0) / 1000;
    samples.push({ serverUs, upstreamUs, ownUs: serverUs - upstreamUs, sendUs });
  });
  const p50 = (values: number[]) => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted.length ? sorted[Math.ceil(sorted.length / 2) - 1]! : null;
  };
  return {
    stats: () => ({
      requests: samples.length,
      serverP50Us: p50(samples.map((x) => x.serverUs)),
      upstreamP50Us: p50(samples.map((x) => x.upstreamUs)),
      ownP50Us: p50(samples.map((x) => x.ownUs)),
      sendP50Us: p50(samples.map((x) => x.sendUs)),
    }),
    reset: () => {
      samples.length = 0;
    },
  };
}

async function gateway(): Promise<Closer> {
  const external = process.env.BENCH_UPSTREAMS;
  const sims = external ? undefined : await startSims();
  const upstreams: Upstreams = sims ? sims.upstreams : (JSON.parse(external!) as Upstreams);

  // Only the variables named here: the operator's own environment (caller tokens, keys, …)
  // must not change what is measured.
  const logFile = process.env.BENCH_LOG_FILE;
  const callersFile = process.env.BENCH_CALLER_TOKENS_FILE;
  const config = loadConfig({
    HOST,
    PORT: String(envInt('BENCH_PORT', 0)),
    // As server.ts runs it: one JSON line per request at `info`, written once per turn of the event loop, here to a file.
    LOG_LEVEL: logFile ? 'info' : 'silent',
    ...(callersFile ? { CALLER_TOKENS_FILE: callersFile } : {}),
    CACHE_MAX_MB: String(envInt('CACHE_MAX_MB', 256)),
    COINMETRICS_API_KEY: upstreams.cmKey,
    COINMETRICS_BASE_URL: upstreams.cmUrl,
    NANSEN_API_KEY: upstreams.nansenKey,
    NANSEN_BASE_URL: upstreams.nansenUrl,
    // The gateway's own Nansen budget (15/1s, 300/1m by default) would throttle the fill and
    // the 20 ms miss loop; the bench measures the gateway, not its budget. The simulators
    // still send their real rate-limit headers with `rateLimits: false`, and the gateway
    // corrects its local window of the same length (Nansen) or limit (Coin Metrics) down to
    // what a header says is left. So the Nansen window here is deliberately 2 s, which no
    // header describes, and Coin Metrics keeps its default with a key (6000/20s, what the
    // simulator reports; a larger local limit would be "corrected" by inserting the
    // difference, ~1M timestamps, into the budget window). run.ts sets
    // BENCH_BUDGET_MAX_WAIT_MS=0 where timing matters, so a budget wait fails loudly.
    NANSEN_RATE_LIMIT: '1000000/2s',
    BUDGET_MAX_WAIT_MS: String(envInt('BENCH_BUDGET_MAX_WAIT_MS', 2000)),
    // Nansen answers stay fresh for 60 s by default; the hit scenarios run for longer and
    // must stay hits throughout (run.ts checks that no upstream call happens during them).
    NANSEN_TTL_S: String(envInt('BENCH_TTL_S', 86_400)),
    COINMETRICS_TTL_S: String(envInt('BENCH_TTL_S', 86_400)),
    // The shared-tier bench runs gateways on one Redis; then the app builds its own two-tier cache.
    ...(process.env.BENCH_REDIS_URL ? { REDIS_URL: process.env.BENCH_REDIS_URL } : {}),
  });
  const cache = process.env.BENCH_REDIS_URL ? undefined : createUpstreamCache(config, Date.now);
  const metrics = new Metrics();
  // The destination server.ts's stdout gets, to a file.
  const logger = logFile ? createLogger(config.logLevel, batchedDestination(logFile)) : undefined;
  const app = await buildApp({ config, metrics, ...(logger ? { logger } : {}), ...(cache ? { cache } : {}) });
  const trace = process.env.BENCH_TRACE === '1' ? startTrace(app) : undefined;
  await app.listen({ host: config.host, port: config.port });
  const port = (app.server.address() as AddressInfo).port;

  // What the upstream cache may hold: its share (7/8) of CACHE_MAX_MB.
  const cacheMaxBytes = config.upstreamCacheBytes;
  const control = await startControl(
    sims,
    async () => ({
      cacheBytes: cache?.sizeBytes ?? null,
      cacheEntries: cache?.entries ?? null,
      cacheMaxBytes,
      cacheMaxMb: config.cacheMaxBytes / (1024 * 1024),
      ...(await answerCounts(metrics)),
      trace: trace?.stats() ?? null,
    }),
    () => trace?.reset(),
  );
  ready(port, { controlPort: control.port });

  return async () => {
    await control.close();
    await app.close();
    await sims?.close();
  };
}

/** From the gateway's own metrics: /netflows requests answered, and kept answers served again or built. */
async function answerCounts(metrics: Metrics) {
  const requests = await metrics.httpRequests.get();
  const kept = await metrics.responseCache.get();
  const keptOf = (outcome: string) => kept.values.filter((v) => v.labels.outcome === outcome).reduce((sum, v) => sum + v.value, 0);
  return {
    netflowsAnswered: requests.values.filter((v) => v.labels.route === '/netflows').reduce((sum, v) => sum + v.value, 0),
    keptAnswers: { hit: keptOf('hit'), miss: keptOf('miss') },
  };
}

async function simsAlone(): Promise<Closer> {
  const sims = await startSims();
  const control = await startControl(sims, () => ({}));
  ready(control.port, { controlPort: control.port, upstreams: sims.upstreams });
  return async () => {
    await control.close();
    await sims.close();
  };
}

async function bareFastify(): Promise<Closer> {
  const body = fixedBody();
  const app = Fastify({ logger: false });
  app.get('/*', (_request, reply) => {
    reply.header('content-type', CONTENT_TYPE).send(body);
  });
  await app.listen({ host: HOST, port: envInt('BENCH_PORT', 0) });
  ready((app.server.address() as AddressInfo).port);
  return () => app.close();
}

async function bareNode(): Promise<Closer> {
  const body = fixedBody();
  const length = String(body.length);
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': CONTENT_TYPE, 'content-length': length });
    res.end(body);
  });
  ready(await listen(server, envInt('BENCH_PORT', 0)));
  return () => closeServer(server);
}

async function bareProxy(): Promise<Closer> {
  const upstreams = JSON.parse(process.env.BENCH_UPSTREAMS!) as Upstreams;
  const template = JSON.parse(process.env.BENCH_PROXY_BODY!) as { filters: Record<string, unknown> };
  const nansen = new URL(upstreams.nansenUrl);
  const path = `${nansen.pathname.replace(/\/$/, '')}/api/v1/smart-money/netflow`;
  const pool = new Pool(nansen.origin, { connections: 4 });
  let bound = 0;
  const server = http.createServer((_req, res) => {
    const body = JSON.stringify({ ...template, filters: { ...template.filters, market_cap_usd: { min: ++bound / 1e9 } } });
    pool.request({ path, method: 'POST', headers: { apikey: upstreams.nansenKey, 'content-type': 'application/json', accept: 'application/json' }, body }).then(
      async (upstream) => {
        const text = await upstream.body.text();
        res.writeHead(upstream.statusCode, { 'content-type': CONTENT_TYPE, 'content-length': String(Buffer.byteLength(text)) }).end(text);
      },
      () => res.writeHead(502).end(),
    );
  });
  ready(await listen(server, envInt('BENCH_PORT', 0)));
  return async () => {
    await closeServer(server);
    await pool.close();
  };
}

async function main(): Promise<void> {
  const role = process.argv[2];
  const roles: Record<string, () => Promise<Closer>> = { gateway, sims: simsAlone, fastify: bareFastify, node: bareNode, proxy: bareProxy };
  const start = role ? roles[role] : undefined;
  if (!start) throw new Error(`bench target: unknown role "${role ?? ''}" (gateway, sims, fastify, node, proxy)`);
  const close = await start();
  let closing = false;
  const shutdown = () => {
    if (closing) return;
    closing = true;
    // A hung close must not keep the process: exit regardless after a second.
    setTimeout(() => process.exit(0), 1000).unref();
    close().then(
      () => process.exit(0),
      () => process.exit(0),
    );
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  // The orchestrator's end (even a crash) closes our stdin: leave with it, never orphaned.
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

main().catch((error: unknown) => {
  process.stderr.write(`bench target failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
