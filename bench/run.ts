// `npm run bench`: the orchestrator and load generator. Every server under test runs in a
// child process (bench/target.ts); this process only generates load and measures.
//
// Scenarios (see README "Benchmark"):
//   (a) /netflows cache hit, (b) bare Fastify, (c) bare node:http, same bytes, 50 connections,
//       interleaved short slices; medians of req/s, p50, p99 and of the per-round ratios a/b, a/c
//   (d) one connection: p50 of a hit minus p50 of (c), µs (own undici loop, hrtime)
//   (e) one connection: p50 of a guaranteed miss (simulator at 20 ms) minus the simulator's own p50
//   (f) 100 concurrent identical cold requests: upstream calls counted at the simulators
//   (g) RSS after filling the cache to CACHE_MAX_MB (BENCH_CACHE_MB)
//
// Exit 0 when the bench ran (targets missed are reported as MISS); 1 when the bench itself failed.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { EventEmitter } from 'node:events';
import autocannon from 'autocannon';
import { Pool, request } from 'undici';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// bench/target.ts compiled with the gateway (tsconfig.bench.json): the processes under test run plain
// JavaScript, as `node dist/server.js` does, with no TypeScript loader in their memory or CPU.
const TARGET = path.join(ROOT, 'dist-bench', 'bench', 'target.js');
const OUT_DIR = path.join(ROOT, '.bench');

// ---------------------------------------------------------------- settings

function envNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new BenchError(`${name} must be a number ≥ ${min}, got "${raw}"`);
  return n;
}

class BenchError extends Error {
  override name = 'BenchError';
}

const S = {
  rounds: Math.floor(envNumber('BENCH_ROUNDS', 10, 1)),
  sliceS: envNumber('BENCH_SLICE_S', 2, 0.5),
  connections: Math.floor(envNumber('BENCH_CONNECTIONS', 50, 1)),
  /** (d): length of each one-connection slice. */
  oneConnSliceS: envNumber('BENCH_D_SLICE_S', 1, 0.2),
  /** (e): rounds, and requests per round for each of gateway and simulator. */
  missRounds: Math.floor(envNumber('BENCH_E_ROUNDS', 6, 1)),
  missPerRound: Math.floor(envNumber('BENCH_E_REQUESTS', 40, 5)),
  simLatencyMs: 20,
  cacheMb: Math.floor(envNumber('BENCH_CACHE_MB', 64, 1)),
  fillTimeoutS: envNumber('BENCH_FILL_TIMEOUT_S', 60, 5),
  fillConcurrency: Math.floor(envNumber('BENCH_FILL_CONCURRENCY', 16, 1)),
  cpuProf: process.env.BENCH_CPU_PROF === '1',
  /** A round is "quiet" when other processes used at most this many cores' worth of CPU during it. */
  quietCores: envNumber('BENCH_QUIET_CORES', 0.15, 0),
  /** (a)(b)(c) and (d): rounds added, at most, while fewer than half the rounds were quiet. */
  extraRounds: Math.floor(envNumber('BENCH_EXTRA_ROUNDS', Math.floor(envNumber('BENCH_ROUNDS', 10, 1) / 2), 0)),
  /** Extra node flags for every gateway child, e.g. "--max-old-space-size=160" (space-separated). */
  gatewayNodeArgs: (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean),
};

const HIT_PATH = '/netflows?window=7d&limit=100';
const TARGETS = { ab: 0.9, ac: 0.7, dUs: 50, eMs: 0.5, f: 1, gExtraMb: 150 };

// ---------------------------------------------------------------- children

interface Upstreams {
  cmUrl: string;
  cmKey: string;
  nansenUrl: string;
  nansenKey: string;
}

interface Ready {
  ready: true;
  port: number;
  controlPort?: number;
  /** The `sims` role: where its simulators listen. */
  upstreams?: Upstreams;
}

interface Child {
  name: string;
  proc: ChildProcess;
  port: number;
  controlPort: number | undefined;
  upstreams: Upstreams | undefined;
  origin: string;
}

/** A spawned process, from spawn to exit, ready or not: every one is stopped on the way out. */
interface Running {
  name: string;
  proc: ChildProcess;
  exited: Promise<void>;
  /** Set before stopping it on purpose: its exit is then no crash. */
  stopping: boolean;
}

const running = new Map<ChildProcess, Running>();
let shuttingDown = false;
let rejectCrash: (error: Error) => void = () => undefined;
/** Rejects when any child exits while the bench still needs it. */
const crashed = new Promise<never>((_resolve, reject) => {
  rejectCrash = reject;
});
crashed.catch(() => undefined);

/** `work`, unless a child crashes first. */
function guard<T>(work: Promise<T>): Promise<T> {
  return Promise.race([work, crashed]);
}

async function startChild(name: string, role: string, env: Record<string, string>, execArgv: string[] = []): Promise<Child> {
  const proc = spawn(process.execPath, [...execArgv, TARGET, role], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    // stdin stays open as a lifeline: when this process dies, the child sees EOF and leaves.
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const entry: Running = { name, proc, stopping: false, exited: Promise.resolve() };
  entry.exited = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      running.delete(proc);
      if (!entry.stopping && !shuttingDown) rejectCrash(new BenchError(`child ${name} exited unexpectedly (code ${code}, signal ${signal})`));
      resolve();
    });
  });
  running.set(proc, entry);
  const ready = await new Promise<Ready>((resolve, reject) => {
    const timer = setTimeout(() => reject(new BenchError(`child ${name} did not become ready within 60 s`)), 60_000);
    const lines = createInterface({ input: proc.stdout! });
    let first = true;
    lines.on('line', (line) => {
      if (!first) {
        process.stderr.write(`[${name}] ${line}\n`);
        return;
      }
      first = false;
      clearTimeout(timer);
      try {
        const parsed = JSON.parse(line) as Ready;
        if (parsed.ready !== true || !Number.isInteger(parsed.port)) throw new Error('not a ready line');
        resolve(parsed);
      } catch {
        reject(new BenchError(`child ${name} printed "${line.slice(0, 200)}" instead of its ready line`));
      }
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      reject(new BenchError(`child ${name} exited with code ${code} before it was ready`));
    });
  });
  return {
    name,
    proc,
    port: ready.port,
    controlPort: ready.controlPort,
    upstreams: ready.upstreams,
    origin: `http://127.0.0.1:${ready.port}`,
  };
}

/** SIGTERM, and SIGKILL if it has not left 5 s later. */
async function stopProcess(entry: Running): Promise<void> {
  entry.stopping = true;
  const { proc } = entry;
  if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), 5_000);
  await entry.exited;
  clearTimeout(timer);
}

async function stopChild(child: Child): Promise<void> {
  const entry = running.get(child.proc);
  if (entry) await stopProcess(entry);
}

async function stopAll(): Promise<void> {
  shuttingDown = true;
  await Promise.all([...running.values()].map((entry) => stopProcess(entry)));
}

process.on('exit', () => {
  for (const proc of running.keys()) proc.kill('SIGKILL');
});

// ---------------------------------------------------------------- HTTP helpers

interface Fetched {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

async function get(url: string, init: { method?: 'GET' | 'POST'; body?: string; headers?: Record<string, string> } = {}): Promise<Fetched> {
  const res = await request(url, { method: init.method ?? 'GET', body: init.body, headers: init.headers, headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

async function getOk(url: string, what: string): Promise<Fetched> {
  const res = await get(url);
  if (res.status !== 200) throw new BenchError(`${what}: GET ${url} answered ${res.status}: ${res.text.slice(0, 300)}`);
  return res;
}

/** A process's control answer; counts are null on a gateway whose simulators run elsewhere, cache fields absent on `sims`. */
interface Stats {
  cmRequests: number | null;
  nansenRequests: number | null;
  cacheBytes: number;
  cacheEntries: number;
  cacheMaxBytes: number;
  cacheMaxMb: number;
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  maxRss: number;
  /** BENCH_TRACE=1 gateways: p50 of the time in the gateway, of its upstream waits, and of the rest (µs). */
  trace?: { requests: number; serverP50Us: number | null; upstreamP50Us: number | null; ownP50Us: number | null; sendP50Us: number | null } | null;
}

function control(gateway: Child): string {
  if (gateway.controlPort === undefined) throw new BenchError(`${gateway.name} has no control port`);
  return `http://127.0.0.1:${gateway.controlPort}`;
}

async function stats(child: Child): Promise<Stats> {
  return JSON.parse((await getOk(`${control(child)}/stats`, 'stats')).text) as Stats;
}

/** Upstream calls counted by the simulators in `child` (a gateway with in-process simulators, or `sims`). */
async function counts(child: Child): Promise<{ cm: number; nansen: number }> {
  const s = await stats(child);
  if (s.cmRequests === null || s.nansenRequests === null) throw new BenchError(`${child.name} runs no simulators`);
  return { cm: s.cmRequests, nansen: s.nansenRequests };
}

async function resetCounts(gateway: Child): Promise<void> {
  const res = await get(`${control(gateway)}/reset-counts`, { method: 'POST' });
  if (res.status !== 200) throw new BenchError(`reset-counts answered ${res.status}`);
}

interface NetflowsBody {
  data: unknown[];
  sources: { source: string; status: string; cache: string | null }[];
}

function cacheStatusAllHit(header: string | string[] | undefined): boolean {
  const value = Array.isArray(header) ? header.join(', ') : (header ?? '');
  const members = value.split(',').map((m) => m.trim()).filter(Boolean);
  return members.length > 0 && members.every((m) => m.split(';').map((p) => p.trim()).includes('hit'));
}

// ---------------------------------------------------------------- statistics

function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Nearest-rank percentile of unsorted samples. */
function percentile(samples: Float64Array, p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

class Samples {
  private values = new Float64Array(1 << 14);
  length = 0;
  push(value: number): void {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = value;
  }
  all(): Float64Array {
    return this.values.subarray(0, this.length);
  }
}

// ---------------------------------------------------------------- CPU time (Linux /proc)

/** CPU seconds (user + system) a process has used so far; undefined where /proc is not readable. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after "pid (comm) ", in ticks of 1/100 s.
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** CPU seconds all processes have spent in user and kernel mode (not interrupts), machine-wide; undefined without /proc. */
function machineCpuSeconds(): number | undefined {
  try {
    const [user, nice, system] = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.trim().split(/\s+/).slice(1, 4).map(Number);
    return (user! + nice! + system!) / 100;
  } catch {
    return undefined;
  }
}

function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/** Starts measuring the CPU other processes (not this one, not our children) use; the result is cores' worth, or null. */
function othersMeter(): () => number | null {
  const pids = [...running.keys()].map((proc) => proc.pid);
  const ours = () => {
    let sum = 0;
    for (const pid of pids) {
      const seconds = cpuSeconds(pid);
      if (seconds === undefined) return undefined;
      sum += seconds;
    }
    return sum;
  };
  const machine0 = machineCpuSeconds();
  const ours0 = ours();
  const own0 = ownCpuSeconds();
  const wall0 = process.hrtime.bigint();
  return () => {
    const machine1 = machineCpuSeconds();
    const ours1 = ours();
    if (machine0 === undefined || machine1 === undefined || ours0 === undefined || ours1 === undefined) return null;
    const wallS = Number(process.hrtime.bigint() - wall0) / 1e9;
    return Math.max(0, machine1 - machine0 - (ours1 - ours0) - (ownCpuSeconds() - own0)) / wallS;
  };
}

// ---------------------------------------------------------------- load: autocannon slices

interface Slice {
  rps: number;
  /** Latencies from autocannon's own per-response hrtime (ms, float), not its integer-ms histogram. */
  p50Ms: number;
  p99Ms: number;
  /** What autocannon's histogram itself reports, for comparison (integer ms resolution). */
  autocannonP50Ms: number;
  autocannonP99Ms: number;
  requests: number;
  bytesPerResponse: number;
  /** CPU the server process used per answered request (µs), and as a share of one core; null without /proc. */
  serverCpuUsPerRequest: number | null;
  serverCpuShare: number | null;
  /** The same for this process, the load generator. */
  loadCpuShare: number;
  /** Cores' worth of CPU used by every other process during the slice (another test run, …); null without /proc. */
  otherCpuShare: number | null;
}

async function slice(url: string, connections: number, durationS: number, what: string, serverPid?: number): Promise<Slice> {
  const latencies = new Samples();
  const cpu0 = cpuSeconds(serverPid);
  const own0 = ownCpuSeconds();
  const machine0 = machineCpuSeconds();
  const wall0 = process.hrtime.bigint();
  let bytes = 0;
  let bad = 0;
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const instance = autocannon({ url, connections, pipelining: 1, duration: durationS, timeout: 10 }, (error: unknown, res) =>
      error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(res),
    );
    // autocannon 8 emits (client, statusCode, resBytes, responseTime); @types/autocannon is one argument behind.
    (instance as unknown as EventEmitter).on('response', (_client: unknown, status: number, resBytes: number, responseTimeMs: number) => {
      if (status === 200) {
        latencies.push(responseTimeMs);
        bytes += resBytes;
      } else bad++;
    });
  });
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0 || bad > 0) {
    throw new BenchError(`${what}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx + bad} non-2xx answers from ${url}`);
  }
  const cpu1 = cpuSeconds(serverPid);
  const own1 = ownCpuSeconds();
  const machine1 = machineCpuSeconds();
  const wallS = Number(process.hrtime.bigint() - wall0) / 1e9;
  const serverCpuS = cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined;
  const samples = latencies.all();
  if (samples.length === 0) throw new BenchError(`${what}: no response in ${durationS} s from ${url}`);
  return {
    serverCpuUsPerRequest: serverCpuS !== undefined ? (serverCpuS * 1e6) / samples.length : null,
    serverCpuShare: serverCpuS !== undefined ? serverCpuS / wallS : null,
    loadCpuShare: (own1 - own0) / wallS,
    otherCpuShare:
      serverCpuS !== undefined && machine0 !== undefined && machine1 !== undefined
        ? Math.max(0, machine1 - machine0 - serverCpuS - (own1 - own0)) / wallS
        : null,
    rps: result['2xx'] / result.duration,
    p50Ms: percentile(samples, 0.5),
    p99Ms: percentile(samples, 0.99),
    autocannonP50Ms: result.latency.p50,
    autocannonP99Ms: result.latency.p99,
    requests: samples.length,
    bytesPerResponse: bytes / samples.length,
  };
}

// ---------------------------------------------------------------- load: one-connection loops (undici)

interface LoopResult {
  samplesUs: Float64Array;
  p50Us: number;
  p99Us: number;
  rps: number;
}

/** Sequential requests over one kept-alive connection for `durationS`, each timed with hrtime. */
async function oneConnectionLoop(origin: string, pathAndQuery: string, durationS: number, what: string): Promise<LoopResult> {
  const pool = new Pool(origin, { connections: 1, pipelining: 1 });
  const samples = new Samples();
  try {
    const started = process.hrtime.bigint();
    const until = started + BigInt(Math.round(durationS * 1e9));
    for (;;) {
      const t0 = process.hrtime.bigint();
      if (t0 >= until) break;
      const res = await pool.request({ path: pathAndQuery, method: 'GET' });
      await res.body.arrayBuffer();
      const t1 = process.hrtime.bigint();
      if (res.statusCode !== 200) throw new BenchError(`${what}: ${origin}${pathAndQuery} answered ${res.statusCode}`);
      samples.push(Number(t1 - t0) / 1000);
    }
    const all = samples.all();
    const elapsedS = Number(process.hrtime.bigint() - started) / 1e9;
    return { samplesUs: all, p50Us: percentile(all, 0.5), p99Us: percentile(all, 0.99), rps: all.length / elapsedS };
  } finally {
    await pool.close();
  }
}

// ---------------------------------------------------------------- scenarios

/** Whether to run round `round` (0-based): the planned ones, then extras while fewer than half of them were quiet. */
function anotherRound(round: number, rounds: readonly { others: number | null }[]): boolean {
  if (round < S.rounds) return true;
  if (round >= S.rounds + S.extraRounds) return false;
  const quiet = rounds.filter((r) => r.others !== null && r.others <= S.quietCores).length;
  return quiet < Math.ceil(S.rounds / 2);
}

/** The rounds to take medians over: the quiet ones when there are at least 3, else all of them (and say so). */
function chooseRounds<R extends { others: number | null }>(rounds: R[]): { used: R[]; quiet: number; quietOnly: boolean } {
  const quiet = rounds.filter((r) => r.others !== null && r.others <= S.quietCores);
  return quiet.length >= 3 ? { used: quiet, quiet: quiet.length, quietOnly: true } : { used: rounds, quiet: quiet.length, quietOnly: false };
}

function describeRounds(choice: { used: unknown[]; quiet: number; quietOnly: boolean }, total: number): string {
  if (choice.quietOnly && choice.quiet === total) return `all ${total} rounds quiet`;
  if (choice.quietOnly) return `medians over the ${choice.quiet} quiet rounds of ${total} (other processes ≤ ${pctOf(S.quietCores)} of a core)`;
  return `only ${choice.quiet} of ${total} rounds quiet: medians over all rounds, UNRELIABLE`;
}

type Key = 'a' | 'b' | 'c';
const LABEL: Record<Key, string> = { a: '(a) gateway hit', b: '(b) bare Fastify', c: '(c) bare node:http' };

async function warmHit(gateway: Child): Promise<string> {
  const url = `${gateway.origin}${HIT_PATH}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await getOk(url, 'warming the hit');
    const body = JSON.parse(res.text) as NetflowsBody;
    if (body.data.length !== 100) throw new BenchError(`warming the hit: ${body.data.length} rows instead of 100`);
    const sourcesHit = body.sources.length > 0 && body.sources.every((s) => s.cache === 'hit');
    if (sourcesHit && cacheStatusAllHit(res.headers['cache-status'])) return res.text;
    if (Date.now() > deadline) throw new BenchError(`warming the hit: still not a hit after 30 s (cache-status: ${String(res.headers['cache-status'])})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function scenarioABC(urls: Record<Key, string>, pids: Record<Key, number | undefined>) {
  const perRound: { round: number; order: Key[]; slices: Record<Key, Slice>; others: number | null }[] = [];
  const keys: Key[] = ['a', 'b', 'c'];
  for (const key of keys) await guard(slice(urls[key], S.connections, 1, `warm-up ${LABEL[key]}`, pids[key]));
  for (let round = 0; anotherRound(round, perRound); round++) {
    const order = keys.map((_, i) => keys[(i + round) % keys.length]!);
    const slices = {} as Record<Key, Slice>;
    for (const key of order) slices[key] = await guard(slice(urls[key], S.connections, S.sliceS, LABEL[key], pids[key]));
    const shares = keys.map((k) => slices[k].otherCpuShare);
    const others = shares.every((x): x is number => x !== null) ? Math.max(...shares) : null;
    perRound.push({ round, order, slices, others });
    progress(
      `  round ${String(round + 1).padStart(2)}/${S.rounds}${round >= S.rounds ? ' (extra: too few quiet rounds)' : ''} [${order.join('')}]  ` +
        keys.map((k) => `${k} ${fmtInt(slices[k].rps).padStart(6)} req/s p50 ${slices[k].p50Ms.toFixed(2)} ms cpu ${pctOf(slices[k].serverCpuShare).padStart(4)}`).join(' | ') +
        ` | others ${pctOf(others)}${others !== null && others > S.quietCores ? ' (not quiet)' : ''}`,
    );
  }
  const choice = chooseRounds(perRound);
  const summary = {} as Record<
    Key,
    {
      rps: number;
      p50Ms: number;
      p99Ms: number;
      autocannonP50Ms: number;
      autocannonP99Ms: number;
      bytes: number;
      serverCpuUsPerRequest: number | null;
      serverCpuShare: number | null;
      loadCpuShare: number;
      otherCpuShare: number | null;
    }
  >;
  const medianOrNull = (values: (number | null)[]) => (values.every((v): v is number => v !== null) ? median(values) : null);
  for (const key of keys) {
    const s = choice.used.map((r) => r.slices[key]);
    summary[key] = {
      rps: median(s.map((x) => x.rps)),
      p50Ms: median(s.map((x) => x.p50Ms)),
      p99Ms: median(s.map((x) => x.p99Ms)),
      autocannonP50Ms: median(s.map((x) => x.autocannonP50Ms)),
      autocannonP99Ms: median(s.map((x) => x.autocannonP99Ms)),
      bytes: median(s.map((x) => x.bytesPerResponse)),
      serverCpuUsPerRequest: medianOrNull(s.map((x) => x.serverCpuUsPerRequest)),
      serverCpuShare: medianOrNull(s.map((x) => x.serverCpuShare)),
      loadCpuShare: median(s.map((x) => x.loadCpuShare)),
      otherCpuShare: medianOrNull(s.map((x) => x.otherCpuShare)),
    };
  }
  const ab = choice.used.map((r) => r.slices.a.rps / r.slices.b.rps);
  const ac = choice.used.map((r) => r.slices.a.rps / r.slices.c.rps);
  return {
    summary,
    ratioAB: median(ab),
    ratioAC: median(ac),
    ratiosAB: ab,
    ratiosAC: ac,
    rounds: describeRounds(choice, perRound.length),
    quietOnly: choice.quietOnly,
    perRound,
  };
}

async function scenarioD(origins: Record<Key, string>) {
  const keys: Key[] = ['a', 'b', 'c'];
  type One = { p50Us: number; p99Us: number; rps: number };
  const perRound: { results: Record<Key, One>; others: number | null }[] = [];
  for (const key of keys) await guard(oneConnectionLoop(origins[key], HIT_PATH, 0.5, `warm-up ${LABEL[key]}, one connection`));
  for (let round = 0; anotherRound(round, perRound); round++) {
    const order = keys.map((_, i) => keys[(i + round) % keys.length]!);
    const results = {} as Record<Key, One>;
    const others = othersMeter();
    for (const key of order) {
      const r = await guard(oneConnectionLoop(origins[key], HIT_PATH, S.oneConnSliceS, `${LABEL[key]}, one connection`));
      results[key] = { p50Us: r.p50Us, p99Us: r.p99Us, rps: r.rps };
    }
    perRound.push({ results, others: others() });
  }
  const choice = chooseRounds(perRound);
  const med = (key: Key, field: keyof One) => median(choice.used.map((r) => r.results[key][field]));
  const p50 = { a: med('a', 'p50Us'), b: med('b', 'p50Us'), c: med('c', 'p50Us') };
  return {
    p50Us: p50,
    p99Us: { a: med('a', 'p99Us'), b: med('b', 'p99Us'), c: med('c', 'p99Us') },
    rps: { a: med('a', 'rps'), b: med('b', 'rps'), c: med('c', 'rps') },
    deltaUs: p50.a - p50.c,
    deltaPerRoundUs: choice.used.map((r) => r.results.a.p50Us - r.results.c.p50Us),
    rounds: describeRounds(choice, perRound.length),
    quietOnly: choice.quietOnly,
    perRound,
  };
}

interface NansenBody {
  filters?: { market_cap_usd?: { min?: number; max?: number } } & Record<string, unknown>;
  pagination?: { page: number; per_page: number };
}

async function scenarioE(gateway: Child, sim: Child, nansenKey: string) {
  // A distinct lower market-cap bound per request: a new upstream question (a guaranteed miss
  // at every cache level) that filters nothing, so every answer still has 100 rows.
  let n = 0;
  const nextMin = () => ++n / 1000;
  const gatewayPath = (min: number) => `/netflows?source=nansen&limit=100&min_market_cap_usd=${min}`;

  // Learn the exact upstream body the gateway sends for such a question, to replay it to the simulator.
  await getOk(`${gateway.origin}${gatewayPath(nextMin())}`, '(e) template');
  const template = JSON.parse((await getOk(`${control(gateway)}/last-nansen-body`, '(e) template')).text) as NansenBody | null;
  if (!template?.filters?.market_cap_usd || template.pagination?.per_page !== 100) {
    throw new BenchError(`(e): unexpected upstream body from the gateway: ${JSON.stringify(template)}`);
  }
  const simBody = (min: number) => JSON.stringify({ ...template, filters: { ...template.filters, market_cap_usd: { min } } });

  const gatewayPool = new Pool(gateway.origin, { connections: 1, pipelining: 1 });
  const simPool = new Pool(sim.origin, { connections: 1, pipelining: 1 });
  const gatewayUs: number[] = [];
  const simUs: number[] = [];

  const viaGateway = async (record: boolean) => {
    const t0 = process.hrtime.bigint();
    const res = await gatewayPool.request({ path: gatewayPath(nextMin()), method: 'GET' });
    const text = await res.body.text();
    const t1 = process.hrtime.bigint();
    if (res.statusCode !== 200) throw new BenchError(`(e): gateway answered ${res.statusCode}: ${text.slice(0, 300)}`);
    const body = JSON.parse(text) as NetflowsBody;
    if (body.data.length !== 100) throw new BenchError(`(e): gateway answered ${body.data.length} rows instead of 100`);
    if (body.sources.some((s) => s.cache !== null && s.cache !== 'miss')) throw new BenchError(`(e): not a miss: ${JSON.stringify(body.sources)}`);
    if (record) gatewayUs.push(Number(t1 - t0) / 1000);
  };
  const direct = async (record: boolean) => {
    const payload = simBody(nextMin());
    const t0 = process.hrtime.bigint();
    const res = await simPool.request({
      path: '/api/v1/smart-money/netflow',
      method: 'POST',
      headers: { apikey: nansenKey, 'content-type': 'application/json', accept: 'application/json' },
      body: payload,
    });
    const text = await res.body.text();
    const t1 = process.hrtime.bigint();
    if (res.statusCode !== 200) throw new BenchError(`(e): simulator answered ${res.statusCode}: ${text.slice(0, 300)}`);
    const rows = (JSON.parse(text) as { data?: unknown[] }).data;
    if (rows?.length !== 100) throw new BenchError(`(e): simulator answered ${rows?.length} rows instead of 100`);
    if (record) simUs.push(Number(t1 - t0) / 1000);
  };

  try {
    for (let i = 0; i < 10; i++) {
      await guard(viaGateway(false));
      await guard(direct(false));
    }
    await resetCounts(gateway);
    const perRound: { gatewayUs: number[]; simUs: number[]; gatewayP50Us: number; simP50Us: number; others: number | null }[] = [];
    for (let round = 0; round < S.missRounds; round++) {
      const g0 = gatewayUs.length;
      const s0 = simUs.length;
      const others = othersMeter();
      const first = round % 2 === 0 ? viaGateway : direct;
      const second = round % 2 === 0 ? direct : viaGateway;
      for (let i = 0; i < S.missPerRound; i++) await guard(first(true));
      for (let i = 0; i < S.missPerRound; i++) await guard(second(true));
      const g = gatewayUs.slice(g0);
      const sim = simUs.slice(s0);
      perRound.push({
        gatewayUs: g,
        simUs: sim,
        gatewayP50Us: percentile(Float64Array.from(g), 0.5),
        simP50Us: percentile(Float64Array.from(sim), 0.5),
        others: others(),
      });
    }
    const choice = chooseRounds(perRound);
    const usedGateway = Float64Array.from(choice.used.flatMap((r) => r.gatewayUs));
    const usedSim = Float64Array.from(choice.used.flatMap((r) => r.simUs));
    const after = await stats(gateway);
    const upstreamCalls = after.nansenRequests;
    const gatewayRequests = gatewayUs.length;
    if (upstreamCalls !== gatewayRequests) {
      throw new BenchError(`(e): ${gatewayRequests} gateway misses made ${upstreamCalls} Nansen calls; each must make exactly one`);
    }
    const gatewayP50Us = percentile(usedGateway, 0.5);
    const simP50Us = percentile(usedSim, 0.5);
    return {
      gatewayP50Ms: gatewayP50Us / 1000,
      simP50Ms: simP50Us / 1000,
      gatewayP99Ms: percentile(usedGateway, 0.99) / 1000,
      simP99Ms: percentile(usedSim, 0.99) / 1000,
      addedMs: (gatewayP50Us - simP50Us) / 1000,
      addedPerRoundMs: perRound.map((r) => (r.gatewayP50Us - r.simP50Us) / 1000),
      medianOfRoundsMs: median(choice.used.map((r) => (r.gatewayP50Us - r.simP50Us) / 1000)),
      samplesEach: usedGateway.length,
      rounds: describeRounds(choice, perRound.length),
      quietOnly: choice.quietOnly,
      othersPerRound: perRound.map((r) => r.others),
      /** Inside the gateway: p50s of onRequest→onResponse, of the upstream wait within it, and of the rest. */
      inGateway: after.trace ?? null,
    };
  } finally {
    await Promise.all([gatewayPool.close(), simPool.close()]);
  }
}

async function scenarioF(gateway: Child, pathAndQuery: string) {
  await resetCounts(gateway);
  const pool = new Pool(gateway.origin, { connections: 100, pipelining: 1 });
  try {
    const answers = await guard(
      Promise.all(
        Array.from({ length: 100 }, async () => {
          const res = await pool.request({ path: pathAndQuery, method: 'GET' });
          const text = await res.body.text();
          if (res.statusCode !== 200) throw new BenchError(`(f): ${pathAndQuery} answered ${res.statusCode}: ${text.slice(0, 300)}`);
          return String(res.headers['cache-status'] ?? '');
        }),
      ),
    );
    const c = await counts(gateway);
    const joinedMiss = answers.filter((h) => h.includes('fwd=uri-miss')).length;
    return { cmCalls: c.cm, nansenCalls: c.nansen, coalescedMisses: joinedMiss, hits: answers.length - joinedMiss };
  } finally {
    await pool.close();
  }
}

async function scenarioG(gateway: Child, sims: Child) {
  const start = await stats(gateway);
  const bound = start.cacheMaxBytes;
  // Distinct upstream questions, alternating the sources: Nansen with a distinct lower
  // market-cap bound (up to 1000 tokens a page), Coin Metrics one exchange × one asset × one year.
  const exchanges = (JSON.parse((await getOk(`${gateway.origin}/catalog`, '(g) catalog')).text) as { entities: { entity: string; entity_type: string }[] }).entities
    .filter((e) => e.entity_type === 'exchange')
    .map((e) => e.entity);
  const cmQuestions: string[] = [];
  for (const year of [2025, 2024, 2023, 2022, 2021, 2020, 2019]) {
    for (const asset of ['btc', 'eth']) {
      for (const entity of exchanges) cmQuestions.push(`/netflows?interval=1d&asset=${asset}&entity=${entity}&start=${year}-01-01&end=${year}-12-31&limit=1000`);
    }
  }
  let next = 0;
  let sent = 0;
  let stop = false;
  let rowsServed = 0;
  const question = (i: number) =>
    i % 2 === 0 || (i >> 1) >= cmQuestions.length
      ? `/netflows?source=nansen&limit=1000&window=7d&min_market_cap_usd=${(i + 1) / 1000}`
      : cmQuestions[i >> 1]!;
  const began = Date.now();
  const deadline = began + S.fillTimeoutS * 1000;
  let last = start;
  let fullSince: number | undefined;
  let reason = 'time limit';
  const pool = new Pool(gateway.origin, { connections: S.fillConcurrency, pipelining: 1 });
  const worker = async () => {
    while (!stop) {
      const i = next++;
      const res = await pool.request({ path: question(i), method: 'GET' });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new BenchError(`(g): ${question(i)} answered ${res.statusCode}: ${text.slice(0, 300)}`);
      rowsServed += (JSON.parse(text) as NetflowsBody).data.length;
      sent++;
    }
  };
  const monitor = async () => {
    while (!stop) {
      await new Promise((r) => setTimeout(r, 250));
      last = await stats(gateway);
      const now = Date.now();
      if (last.cacheBytes >= 0.9 * bound) fullSince ??= now;
      else fullSince = undefined;
      // Keep filling for 3 s past the first time the cache is ≥ 90 % full, so LRU eviction churns.
      if (fullSince !== undefined && now - fullSince >= 3_000) {
        reason = 'cache ≥ 90 % of its bound for 3 s';
        stop = true;
      }
      if (now > deadline) stop = true;
    }
  };
  try {
    await guard(Promise.all([monitor(), ...Array.from({ length: S.fillConcurrency }, worker)]));
  } finally {
    stop = true;
    await pool.close();
  }
  const end = await stats(gateway);
  const upstream = await counts(sims);
  // Then what is live and what is only not yet collected: a full GC (the child runs with
  // --expose-gc), a moment to settle, and the same numbers again.
  const gc = JSON.parse((await get(`${control(gateway)}/gc`, { method: 'POST' })).text) as { gc: boolean };
  await new Promise((r) => setTimeout(r, 1000));
  const afterGc = await stats(gateway);
  return {
    cacheMaxMb: end.cacheMaxMb,
    upstreamCacheBoundBytes: bound,
    cacheBytes: end.cacheBytes,
    cacheEntries: end.cacheEntries,
    fillRatio: end.cacheBytes / bound,
    requests: sent,
    rowsServed,
    upstreamCalls: { coinmetrics: upstream.cm, nansen: upstream.nansen },
    seconds: (Date.now() - began) / 1000,
    stoppedBecause: reason,
    rssStartMb: start.rss / MB,
    rssMb: end.rss / MB,
    maxRssMb: end.maxRss / MB,
    heapUsedMb: end.heapUsed / MB,
    heapTotalMb: end.heapTotal / MB,
    externalMb: end.external / MB,
    arrayBuffersMb: end.arrayBuffers / MB,
    afterGc: gc.gc ? { rssMb: afterGc.rss / MB, heapUsedMb: afterGc.heapUsed / MB, heapTotalMb: afterGc.heapTotal / MB, externalMb: afterGc.external / MB } : null,
  };
}

// ---------------------------------------------------------------- reporting

const MB = 1024 * 1024;
const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const progress = (line: string) => process.stdout.write(`${line}\n`);
/** PASS or MISS; with a `*` when the figure comes from a machine that was busy with other work (see the warning). */
const verdict = (ok: boolean, reliable = true) => `${ok ? 'PASS' : 'MISS'}${reliable ? '' : ' *'}`;
const pctOf = (share: number | null) => (share === null ? '?' : `${Math.round(share * 100)}%`);

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

// ---------------------------------------------------------------- main

/** Which code was measured: the commit, and how many files differ from it (read-only git; "?" without git). */
function revision(): string {
  const git = (...args: string[]) => execFileSync('git', ['--no-optional-locks', ...args], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  try {
    const head = git('rev-parse', '--short', 'HEAD').trim();
    const changed = git('status', '--porcelain').split('\n').filter(Boolean).length;
    return changed > 0 ? `${head} + ${changed} changed files` : head;
  } catch {
    return '?';
  }
}

async function main(): Promise<number> {
  const began = Date.now();
  const workDir = mkdtempSync(path.join(tmpdir(), 'netflows-bench-'));
  const profDir = path.join(OUT_DIR, 'cpu-prof');
  const rev = revision();
  progress(
    `netflows-gateway bench at ${rev}: ${S.rounds} rounds × ${S.sliceS} s slices, ${S.connections} connections; node ${process.version}, ` +
      `${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); every server in its own process, load from this one`,
  );
  try {
    // 1. The hit gateway (simulators at 0 ms) and the hit body.
    // BENCH_CPU_PROF=1: every gateway child writes its profiles into .bench/cpu-prof/<name>/ when
    // it exits, one per thread; summarise the main thread's (the largest)
    // with `npx tsx bench/cpu-summary.ts <file>`. The profiler slows the gateway: do not read ratios from such a run.
    const prof = (name: string) => [...S.gatewayNodeArgs, ...(S.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profDir, name)}`] : [])];
    const gw = await startChild('gateway', 'gateway', { BENCH_SIM_LATENCY_MS: '0' }, prof('gateway'));
    const hitBody = await guard(warmHit(gw));
    const bodyFile = path.join(workDir, 'hit.json');
    writeFileSync(bodyFile, hitBody);
    const bare = (name: string) => (S.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.join(profDir, name)}`] : []);
    const fastify = await startChild('fastify', 'fastify', { BENCH_BODY_FILE: bodyFile }, bare('fastify'));
    const node = await startChild('node', 'node', { BENCH_BODY_FILE: bodyFile }, bare('node'));
    for (const [child, what] of [[fastify, '(b)'], [node, '(c)']] as const) {
      const res = await getOk(`${child.origin}${HIT_PATH}`, what);
      if (res.text !== hitBody) throw new BenchError(`${what} does not serve the hit's bytes`);
    }
    progress(`hit body: ${Buffer.byteLength(hitBody)} bytes, 100 rows, every source a hit; children ready`);

    // 2. (a)(b)(c), 50 connections, interleaved.
    const hitStatsBefore = await counts(gw);
    progress(
      `(a)(b)(c): ${S.rounds} rounds (+ up to ${S.extraRounds} while too few are quiet) of ${S.sliceS} s slices, ${S.connections} connections, ` +
        `pipelining 1, order rotated each round`,
    );
    const origins = { a: gw.origin, b: fastify.origin, c: node.origin };
    const abc = await scenarioABC(
      { a: `${gw.origin}${HIT_PATH}`, b: `${fastify.origin}${HIT_PATH}`, c: `${node.origin}${HIT_PATH}` },
      { a: gw.proc.pid, b: fastify.proc.pid, c: node.proc.pid },
    );

    // 3. (d), one connection, interleaved.
    progress(`(d): ${S.rounds} rounds (+ up to ${S.extraRounds} while too few are quiet) of ${S.oneConnSliceS} s one-connection slices (undici Pool, hrtime per request)`);
    const d = await scenarioD(origins);
    const hitStatsAfter = await counts(gw);
    const upstreamDuringHits = hitStatsAfter.cm + hitStatsAfter.nansen - hitStatsBefore.cm - hitStatsBefore.nansen;
    if (upstreamDuringHits !== 0) throw new BenchError(`${upstreamDuringHits} upstream calls during the hit scenarios: (a) was not all hits`);
    const stillSame = await getOk(`${gw.origin}${HIT_PATH}`, 'hit check');
    if (stillSame.text !== hitBody) throw new BenchError('the hit body changed during the run: (a) did not serve the same bytes throughout');
    await Promise.all([stopChild(fastify), stopChild(node)]);

    // 5. (f) on the 0 ms gateway: 100 concurrent identical cold requests.
    progress('(f): 100 concurrent identical cold requests');
    const f0 = await scenarioF(gw, '/netflows?window=30d&limit=100&asset=btc,eth,sol');
    await stopChild(gw);

    // 4. (e): a 20 ms gateway and the Nansen simulator alone at 20 ms; (f) again there.
    const nansenKey = `nsk_bench_${randomBytes(8).toString('hex')}`;
    const gw20 = await startChild('gateway-20ms', 'gateway', { BENCH_SIM_LATENCY_MS: String(S.simLatencyMs), BENCH_BUDGET_MAX_WAIT_MS: '0', BENCH_TRACE: '1' }, prof('gateway-20ms'));
    const sim = await startChild('nansen-sim', 'sim', { BENCH_SIM_LATENCY_MS: String(S.simLatencyMs), BENCH_NANSEN_KEY: nansenKey });
    progress(`(e): ${S.missRounds} rounds × ${S.missPerRound} sequential misses via the gateway and as many direct simulator calls (simulators at ${S.simLatencyMs} ms)`);
    const e = await scenarioE(gw20, sim, nansenKey);
    const f20 = await scenarioF(gw20, '/netflows?window=30d&limit=100&asset=btc,eth,sol');
    await Promise.all([stopChild(gw20), stopChild(sim)]);

    // 6. (g): a gateway with a small cache, filled.
    // Its simulators run in a process of their own: they build 1000-row answers and
    // year-long series, and their memory and garbage must not be charged to the gateway's RSS.
    const sims = await startChild('sims', 'sims', { BENCH_SIM_LATENCY_MS: '0' });
    // As deployed (deploy/configmap.yaml): the V8 heap bounded to CACHE_MAX_MB + 96 MiB, with small semi-spaces.
    const heapFlags = [`--max-old-space-size=${S.cacheMb + 96}`, '--max-semi-space-size=16'];
    const gwSmall = await startChild('gateway-small', 'gateway', { CACHE_MAX_MB: String(S.cacheMb), BENCH_UPSTREAMS: JSON.stringify(sims.upstreams) }, ['--expose-gc', ...heapFlags, ...prof('gateway-small')]);
    progress(`(g): filling a CACHE_MAX_MB=${S.cacheMb} gateway (simulators in their own process) with distinct questions, ${S.fillConcurrency} at a time (at most ${S.fillTimeoutS} s)`);
    const g = await scenarioG(gwSmall, sims);
    await Promise.all([stopChild(gwSmall), stopChild(sims)]);

    // 7. Report.
    const f = Math.max(f0.cmCalls, f0.nansenCalls, f20.cmCalls, f20.nansenCalls);
    const fMin = Math.min(f0.cmCalls, f0.nansenCalls, f20.cmCalls, f20.nansenCalls);
    const gTarget = S.cacheMb + TARGETS.gExtraMb;
    const pass = {
      ab: abc.ratioAB >= TARGETS.ab,
      ac: abc.ratioAC >= TARGETS.ac,
      d: d.deltaUs <= TARGETS.dUs,
      e: e.addedMs <= TARGETS.eMs,
      f: f === 1 && fMin === 1,
      g: g.rssMb <= gTarget,
    };
    const ms = (n: number) => `${n.toFixed(2)} ms`;
    const rows: string[][] = [
      ['scenario', 'measured', 'target', 'result'],
      ...(['a', 'b', 'c'] as const).map((k) => [
        LABEL[k],
        `${fmtInt(abc.summary[k].rps)} req/s, p50 ${ms(abc.summary[k].p50Ms)}, p99 ${ms(abc.summary[k].p99Ms)}` +
          (abc.summary[k].serverCpuUsPerRequest !== null
            ? `; server ${abc.summary[k].serverCpuUsPerRequest!.toFixed(1)} µs CPU/req, ${pctOf(abc.summary[k].serverCpuShare)} of a core`
            : ''),
        '',
        '',
      ]),
      ['a/b (median of per-round ratios)', abc.ratioAB.toFixed(3), `≥ ${TARGETS.ab.toFixed(2)}`, verdict(pass.ab, abc.quietOnly)],
      ['a/c (median of per-round ratios)', abc.ratioAC.toFixed(3), `≥ ${TARGETS.ac.toFixed(2)}`, verdict(pass.ac, abc.quietOnly)],
      [
        '(d) 1-conn p50: hit − node:http',
        `${d.deltaUs.toFixed(1)} µs (${d.p50Us.a.toFixed(1)} − ${d.p50Us.c.toFixed(1)}; Fastify ${d.p50Us.b.toFixed(1)})`,
        `≤ ${TARGETS.dUs} µs`,
        verdict(pass.d, d.quietOnly),
      ],
      [
        '(e) 1-conn p50: miss − simulator',
        `${e.addedMs.toFixed(3)} ms (${e.gatewayP50Ms.toFixed(3)} − ${e.simP50Ms.toFixed(3)})`,
        `≤ ${TARGETS.eMs} ms`,
        verdict(pass.e, e.quietOnly),
      ],
      [
        '(f) upstream calls, 100 cold',
        `0 ms sims: CM ${f0.cmCalls}, Nansen ${f0.nansenCalls}; 20 ms sims: CM ${f20.cmCalls}, Nansen ${f20.nansenCalls}`,
        `= ${TARGETS.f} each`,
        verdict(pass.f),
      ],
      [
        `(g) RSS, CACHE_MAX_MB=${S.cacheMb}`,
        `${g.rssMb.toFixed(0)} MB (cache ${(g.cacheBytes / MB).toFixed(1)} of ${(g.upstreamCacheBoundBytes / MB).toFixed(1)} MB, ${g.cacheEntries} entries; peak RSS ${g.maxRssMb.toFixed(0)} MB)`,
        `≤ ${gTarget} MB`,
        verdict(pass.g),
      ],
    ];
    const cpuRatio = (x: Key, y: Key) => {
      const [cx, cy] = [abc.summary[x].serverCpuUsPerRequest, abc.summary[y].serverCpuUsPerRequest];
      return cx !== null && cy !== null ? (cy / cx).toFixed(3) : '?';
    };
    const notes = [
      `(a)(b)(c): ${abc.rounds}. Load generator (this process, one core at most): ${pctOf(abc.summary.a.loadCpuShare)} / ${pctOf(abc.summary.b.loadCpuShare)} / ` +
        `${pctOf(abc.summary.c.loadCpuShare)} of a core during a / b / c; other processes: ${pctOf(abc.summary.a.otherCpuShare)} / ` +
        `${pctOf(abc.summary.b.otherCpuShare)} / ${pctOf(abc.summary.c.otherCpuShare)}. Server CPU per request as a throughput ratio (CPU/req of the baseline ÷ ` +
        `that of the hit): a/b ${cpuRatio('a', 'b')}, a/c ${cpuRatio('a', 'c')}; per-round req/s ratios a/b: ${abc.ratiosAB.map((x) => x.toFixed(2)).join(', ')}; ` +
        `a/c: ${abc.ratiosAC.map((x) => x.toFixed(2)).join(', ')}.`,
      `p50/p99 in (a)(b)(c) come from autocannon's per-response hrtime (µs resolution); autocannon's own histogram records whole ms ` +
        `(its medians here: a ${abc.summary.a.autocannonP50Ms}/${abc.summary.a.autocannonP99Ms}, b ${abc.summary.b.autocannonP50Ms}/${abc.summary.b.autocannonP99Ms}, ` +
        `c ${abc.summary.c.autocannonP50Ms}/${abc.summary.c.autocannonP99Ms} ms p50/p99), too coarse for (d).`,
      `(d) is measured with an undici Pool of one connection, one request at a time, process.hrtime.bigint() around each request and body; ` +
        `median over the rounds used of each slice's p50. 1-conn req/s: a ${fmtInt(d.rps.a)}, b ${fmtInt(d.rps.b)}, c ${fmtInt(d.rps.c)}; ` +
        `a−c of the rounds used: ${d.deltaPerRoundUs.map((x) => x.toFixed(0)).join(', ')} µs (${d.rounds}).`,
      `(e) p50 over ${e.samplesEach} misses each (gateway p99 ${e.gatewayP99Ms.toFixed(2)} ms, simulator p99 ${e.simP99Ms.toFixed(2)} ms); per-round differences: ` +
        `${e.addedPerRoundMs.map((x) => x.toFixed(2)).join(', ')} ms (${e.rounds}).` +
        (e.inGateway?.serverP50Us != null
          ? ` Inside the gateway (p50s, onRequest → answer written): ${(e.inGateway.serverP50Us / 1000).toFixed(3)} ms, of which waiting for Nansen ` +
            `${((e.inGateway.upstreamP50Us ?? 0) / 1000).toFixed(3)} ms and the gateway's own work ${((e.inGateway.ownP50Us ?? 0) / 1000).toFixed(3)} ms ` +
            `(writing the answer, last onSend → onResponse: ${((e.inGateway.sendP50Us ?? 0) / 1000).toFixed(3)} ms); ` +
            `the rest of (e) is the extra loopback hop (client → gateway → simulator instead of client → simulator).`
          : ''),
      `(f) responses that joined the single upstream load (cache-status miss): ${f0.coalescedMisses}/100 at 0 ms, ${f20.coalescedMisses}/100 at 20 ms; the rest came after it, as hits.`,
      `(g) ${g.requests} distinct questions in ${g.seconds.toFixed(1)} s (${g.stoppedBecause}; upstream calls CM ${g.upstreamCalls.coinmetrics}, Nansen ${g.upstreamCalls.nansen}); ` +
        `gateway RSS at start ${g.rssStartMb.toFixed(0)} MB (node + gateway, simulators elsewhere); after the fill heap used ${g.heapUsedMb.toFixed(0)} of ` +
        `${g.heapTotalMb.toFixed(0)} MB, external ${g.externalMb.toFixed(0)} MB` +
        (g.afterGc
          ? `; after a forced full GC: RSS ${g.afterGc.rssMb.toFixed(0)} MB, heap used ${g.afterGc.heapUsedMb.toFixed(0)} of ${g.afterGc.heapTotalMb.toFixed(0)} MB.`
          : '.') +
        ` The upstream cache (the "cache" figure) gets 7/8 of CACHE_MAX_MB, the kept answers 1/8.`,
    ];
    progress('');
    const unreliable = [abc.quietOnly ? '' : '(a)(b)(c)', d.quietOnly ? '' : '(d)', e.quietOnly ? '' : '(e)'].filter(Boolean);
    if (unreliable.length > 0) {
      progress(
        `WARNING (*): other processes on this machine were busy during most rounds of ${unreliable.join(' ')}: ` +
          `those figures are medians over all rounds and unreliable; run again on a quiet machine.`,
      );
    }
    progress(table(rows));
    progress('');
    for (const note of notes) progress(`- ${note}`);
    const seconds = (Date.now() - began) / 1000;
    progress(`\nbench took ${seconds.toFixed(0)} s; results in .bench/results.json`);

    mkdirSync(OUT_DIR, { recursive: true });
    writeFileSync(
      path.join(OUT_DIR, 'results.json'),
      `${JSON.stringify(
        {
          when: new Date().toISOString(),
          revision: rev,
          node: process.version,
          cpus: cpus().length,
          settings: S,
          targets: TARGETS,
          pass,
          a_b_c: abc,
          d,
          e,
          f: { zeroLatency: f0, twentyMs: f20 },
          g,
          seconds,
        },
        null,
        2,
      )}\n`,
    );
    return 0;
  } finally {
    await stopAll();
    rmSync(workDir, { recursive: true, force: true });
  }
}

let interrupted = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = true;
    process.stderr.write(`\nbench: ${signal}, stopping children\n`);
    void stopAll().finally(() => process.exit(130));
  });
}

main().then(
  (code) => process.exit(code),
  async (error: unknown) => {
    process.stderr.write(`\nbench failed: ${error instanceof Error ? (error instanceof BenchError ? error.message : (error.stack ?? error.message)) : String(error)}\n`);
    await stopAll();
    process.exit(1);
  },
);
