// The history part of `npm run bench` (issue #13). Scenarios, PGlite and PostgreSQL side by side:
//   (i)   write throughput: Nansen snapshot rows per second into each store (1000-token snapshots,
//         batched by the store's queue), from the first push to the last commit
//   (ii)  a 7-day hourly Nansen series for 100 tokens answered from the store: one connection's
//         p50 and the req/s of 2 connections, each request a full read (pages of 1000 rows, no
//         kept answer can serve it); a read refused because the store is saturated (503) is counted
//   (iii) the cost of recording on the miss path: one connection's p50 of guaranteed Nansen misses
//         (a 20 ms simulator) with recording on ÷ with HISTORY=off, interleaved in one run
// The gateways run in child processes (`tsx bench/history.ts gateway`); this process makes load.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Pool } from 'undici';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { seedHistory } from '../src/demo/seed.js';
import { startCoinMetricsSim } from '../src/demo/sim/coinmetrics.js';
import { startNansenSim } from '../src/demo/sim/nansen.js';
import { databaseFrom, History } from '../src/history/history.js';
import { openHistory } from '../src/history/open.js';
import type { SqlDatabase } from '../src/history/sql.js';
import type { NansenSnapshot } from '../src/history/types.js';
import type { TokenFlows } from '../src/providers/nansen/normalize.js';
import { freshPgliteDir } from '../test/pglite.js';
import { TestPostgres } from '../test/postgres.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const HOUR = 3_600_000;
const S = {
  writeSnapshots: Number(process.env.BENCH_HISTORY_WRITE_SNAPSHOTS ?? 60),
  seriesRequests: Number(process.env.BENCH_HISTORY_SERIES_REQUESTS ?? 30),
  seriesSeconds: Number(process.env.BENCH_HISTORY_SERIES_S ?? 8),
  missRequests: Number(process.env.BENCH_HISTORY_MISSES ?? 150),
  simLatencyMs: 20,
};

interface Upstreams {
  cmUrl: string;
  cmKey: string;
  nansenUrl: string;
  nansenKey: string;
}

// ---------------------------------------------------------------- the child: one gateway

async function gatewayChild(): Promise<void> {
  const upstreams = JSON.parse(process.env.BENCH_UPSTREAMS!) as Upstreams;
  const config = loadConfig({
    HOST: '127.0.0.1',
    PORT: '0',
    LOG_LEVEL: 'silent',
    // 1 MiB: a kept answer (an eighth of it) never holds a 1000-row page, so every series request reads the store.
    CACHE_MAX_MB: '1',
    COINMETRICS_API_KEY: upstreams.cmKey,
    COINMETRICS_BASE_URL: upstreams.cmUrl,
    NANSEN_API_KEY: upstreams.nansenKey,
    NANSEN_BASE_URL: upstreams.nansenUrl,
    NANSEN_RATE_LIMIT: '1000000/2s',
    HISTORY: process.env.HISTORY ?? 'on',
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    ...(process.env.HISTORY_DIR ? { HISTORY_DIR: process.env.HISTORY_DIR } : {}),
  });
  const history = openHistory(config.history, { info() {}, warn() {}, error() {} });
  await history?.ready;
  const app = await buildApp({ config, ...(history ? { history } : {}) });
  await app.listen({ host: config.host, port: 0 });
  process.stdout.write(`${JSON.stringify({ port: (app.server.address() as AddressInfo).port })}\n`);
  const stop = async () => {
    await app.close();
    await history?.close();
    process.exit(0);
  };
  process.stdin.on('close', () => void stop());
  process.once('SIGTERM', () => void stop());
}

// ---------------------------------------------------------------- the orchestrator

const children: ChildProcess[] = [];

async function startGateway(name: string, upstreams: Upstreams, env: Record<string, string>): Promise<{ name: string; pool: Pool; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'history.ts'), 'gateway'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, BENCH_UPSTREAMS: JSON.stringify(upstreams), ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('{')) resolve((JSON.parse(line) as { port: number }).port);
    });
    child.once('exit', (code) => reject(new Error(`the ${name} gateway exited (${code})`)));
  });
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: 8 });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    name,
    pool,
    async stop() {
      await pool.close();
      child.kill('SIGTERM');
      await exited;
    },
  };
}

/** One request; its time in ms, or undefined for a 503 (the store saturated). */
async function timed(pool: Pool, path: string, allow503 = false): Promise<number | undefined> {
  const began = performance.now();
  const response = await pool.request({ path, method: 'GET' });
  const body = await response.body.text();
  if (allow503 && response.statusCode === 503) return undefined;
  if (response.statusCode !== 200) throw new Error(`${path.slice(0, 120)}…: ${response.statusCode} ${body.slice(0, 200)}`);
  return performance.now() - began;
}

const p50 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.ceil(values.length / 2) - 1]!;

function tokens(n: number, seed: number): TokenFlows[] {
  return Array.from({ length: n }, (_, i) => ({
    symbol: `t${i}`,
    chain: 'ethereum',
    tokenAddress: `0x${i.toString(16).padStart(40, '0')}`,
    flowsUsd: { '1h': seed + i, '24h': (seed + i) * 24, '7d': (seed + i) * 168, '30d': (seed + i) * 720 },
    marketCapUsd: 1e6 + i,
    traderCount: i % 30,
    tokenAgeDays: 100 + i,
    sectors: i % 3 ? ['DeFi'] : [],
  }));
}

/** (i): rows per second from the first push to the last commit. */
async function writeThroughput(history: History, now: number): Promise<number> {
  // A month back (inside retention), and a cohort the series below does not read.
  const start = now - 30 * 24 * HOUR;
  const snapshots: NansenSnapshot[] = Array.from({ length: S.writeSnapshots }, (_, k) => ({
    entity: 'smart_money:smart_trader',
    chains: ['all'],
    filters: {},
    orderBy: [{ field: 'net_flow_24h_usd', direction: 'DESC' }],
    page: 1,
    perPage: 1000,
    isLastPage: false,
    fetchedAt: start + k * HOUR,
    tokens: tokens(1000, k),
  }));
  const began = performance.now();
  for (const snapshot of snapshots) history.recordNansen(snapshot);
  await history.flush();
  const seconds = (performance.now() - began) / 1000;
  if (history.writeCounters.droppedRows > 0) throw new Error('the write bench dropped rows');
  return (S.writeSnapshots * 1000) / seconds;
}

/** Opens a store, writes the throughput snapshots and the 7 days of simulated snapshots, closes it. */
async function prepareStore(open: () => Promise<SqlDatabase>, now: number): Promise<{ rowsPerSecond: number; symbols: string[] }> {
  const history = new History({ open, queue: { maxRows: 2_000_000 } });
  await history.ready;
  const rowsPerSecond = await writeThroughput(history, now);
  const seeded = await seedHistory(history, [{ entity: 'smart_money', chain: 'all' }], now, 7);
  const latest = await history.asOf({ asOf: seeded.to, window: '24h', orderBy: [], entities: ['smart_money'], filters: {} });
  const symbols = [...new Set(latest.records.map((r) => r.asset))].slice(0, 100);
  await history.close();
  return { rowsPerSecond, symbols };
}

async function seriesScenario(gateway: { pool: Pool }, path: string): Promise<{ p50Ms: number; reqPerS: number; refused: number }> {
  for (let i = 0; i < 3; i++) await timed(gateway.pool, path);
  const samples: number[] = [];
  for (let i = 0; i < S.seriesRequests; i++) samples.push((await timed(gateway.pool, path))!);
  let done = 0;
  let refused = 0;
  const until = performance.now() + S.seriesSeconds * 1000;
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      while (performance.now() < until) {
        if ((await timed(gateway.pool, path, true)) === undefined) refused++;
        else done++;
      }
    }),
  );
  return { p50Ms: p50(samples), reqPerS: done / S.seriesSeconds, refused };
}

async function main(): Promise<void> {
  const now = Date.now();
  const server = await TestPostgres.start();
  const pgUrl = await server.createDatabase('bench');
  const pgliteDir = await freshPgliteDir();
  try {
    const pg = await prepareStore(databaseFrom({ databaseUrl: pgUrl }), now);
    const lite = await prepareStore(databaseFrom({ dir: pgliteDir }), now);
    process.stdout.write(`(i) write throughput: PostgreSQL ${Math.round(pg.rowsPerSecond)} rows/s, PGlite ${Math.round(lite.rowsPerSecond)} rows/s\n`);

    const nansenKey = `nsk_bench_${randomBytes(6).toString('hex')}`;
    const cm = await startCoinMetricsSim({ apiKey: 'bench-cm', rateLimits: false });
    const nansen = await startNansenSim({ apiKey: nansenKey, rateLimits: false, latencyMs: S.simLatencyMs, credits: 1e12 });
    const upstreams: Upstreams = { cmUrl: cm.url, cmKey: 'bench-cm', nansenUrl: nansen.url, nansenKey };
    const gateways = {
      pglite: await startGateway('pglite', upstreams, { HISTORY_DIR: pgliteDir }),
      postgresql: await startGateway('postgresql', upstreams, { DATABASE_URL: pgUrl }),
      off: await startGateway('off', upstreams, { HISTORY: 'off' }),
    };
    try {
      const end = Math.floor(now / HOUR) * HOUR - HOUR;
      const range = `start=${new Date(end - 167 * HOUR).toISOString()}&end=${new Date(end).toISOString()}`;
      const first = await gateways.postgresql.pool.request({ path: `/netflows?source=nansen&interval=1h&${range}&asset=${lite.symbols.join(',')}&limit=1`, method: 'GET' });
      const rows = ((await first.body.json()) as { sources: { coverage?: { buckets: number; with_data: number } }[] }).sources[1]!.coverage;
      const series = `/netflows?source=nansen&interval=1h&${range}&asset=${lite.symbols.join(',')}&limit=1000`;
      const seriesResults = { pglite: await seriesScenario(gateways.pglite, series), postgresql: await seriesScenario(gateways.postgresql, series) };
      process.stdout.write(
        `(ii) 7-day hourly series, ${lite.symbols.length} tokens (coverage ${JSON.stringify(rows)}), pages of 1000: ` +
          `PGlite p50 ${seriesResults.pglite.p50Ms.toFixed(1)} ms, ${seriesResults.pglite.reqPerS.toFixed(2)} req/s (${seriesResults.pglite.refused} refused); ` +
          `PostgreSQL p50 ${seriesResults.postgresql.p50Ms.toFixed(1)} ms, ${seriesResults.postgresql.reqPerS.toFixed(2)} req/s (${seriesResults.postgresql.refused} refused)\n`,
      );
      const misses = await missCost(gateways);
      process.stdout.write(
        `(iii) miss p50 with recording ÷ without (20 ms simulator): PGlite ${misses.pglite.ratio.toFixed(3)} (${misses.pglite.onMs.toFixed(2)} / ${misses.pglite.offMs.toFixed(2)} ms), ` +
          `PostgreSQL ${misses.postgresql.ratio.toFixed(3)} (${misses.postgresql.onMs.toFixed(2)} / ${misses.postgresql.offMs.toFixed(2)} ms); target ≤ 1.05\n`,
      );
      const out = join(ROOT, '.bench');
      mkdirSync(out, { recursive: true });
      writeFileSync(join(out, 'history.json'), JSON.stringify({ when: new Date().toISOString(), settings: S, write: { postgresql: pg.rowsPerSecond, pglite: lite.rowsPerSecond }, series: seriesResults, coverage: rows, misses }, null, 2));
    } finally {
      for (const g of Object.values(gateways)) await g.stop();
      await Promise.all([cm.close(), nansen.close()]);
    }
  } finally {
    await server.stop();
    rmSync(dirname(pgliteDir), { recursive: true, force: true });
  }
}

/** (iii): interleaved, one connection each, every request a question never asked (a Nansen miss). */
async function missCost(g: Record<'pglite' | 'postgresql' | 'off', { pool: Pool }>) {
  const samples = { pglite: [] as number[], postgresql: [] as number[], off: [] as number[] };
  for (let i = 0; i < S.missRequests + 10; i++) {
    for (const name of ['pglite', 'off', 'postgresql'] as const) {
      const ms = (await timed(g[name].pool, `/netflows?source=nansen&window=24h&limit=100&min_market_cap_usd=${i + 1}`))!;
      if (i >= 10) samples[name].push(ms);
    }
  }
  const off = p50(samples.off);
  const of = (name: 'pglite' | 'postgresql') => ({ onMs: p50(samples[name]), offMs: off, ratio: p50(samples[name]) / off });
  return { pglite: of('pglite'), postgresql: of('postgresql') };
}

if (process.argv[2] === 'gateway') {
  await gatewayChild();
} else {
  main().then(
    () => process.exit(0),
    (error: unknown) => {
      process.stderr.write(`bench/history failed: ${(error as Error).stack ?? String(error)}\n`);
      for (const child of children) child.kill('SIGKILL');
      process.exit(1);
    },
  );
}
