// `npm run bench:profile`: V8 CPU profiles of the gateway's three paths, one at a time, each
// covering only its own load, and of the bare servers for reference; then where the time
// went, per request. Writes .bench/profiles/<path>.cpuprofile and summary.txt.
//   hit    /netflows?window=7d&limit=100, kept answer, wrk c=50 (as (a))
//   warm   the warm-question mix over held data, wrk c=50 (as (w))
//   miss   a new Nansen question each request at one connection, simulators in their own process (as (e))
//   node, fastify   the bare servers sending the hit's bytes, wrk c=50 (whole-process --cpu-prof)
// The profiler (one sample each 100 µs) slows every path. The µs per request printed are each
// function's share of the busy samples times the process's CPU per request from /proc during
// the profile: compare them with each other, and take absolute speed from `npm run bench`.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Pool } from 'undici';
import { sha256 } from '../src/auth/callers.js';
import { formatSummary, summarise, type Profile } from './cpu-summary.js';
import { BenchError, guard, ROOT, startChild, stopAll, stopChild, type Child } from './lib/children.js';
import { control, get } from './lib/http.js';
import { detectTools, slice, SERVER_CPU, type Tools } from './lib/load.js';
import { treesCpuSeconds } from './lib/proc.js';
import { HIT_PATH, S, WARM_SIMULATOR } from './lib/settings.js';
import { warmHit } from './scenarios/hits.js';
import { distinctQuestions, warmQuestion } from './scenarios/questions.js';
import { warmUpData } from './scenarios/warm.js';

const OUT = path.join(ROOT, '.bench', 'profiles');
const SECONDS = Number(process.env.BENCH_PROFILE_S ?? 8);
const progress = (line: string) => process.stdout.write(`${line}\n`);

interface Profiled {
  name: string;
  file: string;
  requests: number;
  /** The server's CPU per request while profiled, from /proc (10 ms ticks). */
  cpuUsPerRequest: number | undefined;
  note: string;
}

async function profiled(gateway: Child, name: string, work: () => Promise<number>, note: string): Promise<Profiled> {
  const file = path.join(OUT, `${name}.cpuprofile`);
  const start = await get(`${control(gateway)}/profile/start`, { method: 'POST' });
  if (start.status !== 200) throw new BenchError(`profile start: ${start.text}`);
  const cpu0 = treesCpuSeconds(gateway.pids);
  const requests = await work();
  const cpu1 = treesCpuSeconds(gateway.pids);
  const stop = await get(`${control(gateway)}/profile/stop?file=${encodeURIComponent(file)}`, { method: 'POST' });
  if (stop.status !== 200) throw new BenchError(`profile stop: ${stop.text}`);
  const cpuUsPerRequest = cpu0 !== undefined && cpu1 !== undefined ? ((cpu1 - cpu0) * 1e6) / requests : undefined;
  return { name, file, requests, cpuUsPerRequest, note };
}

/** Distinct lower market-cap bounds: every miss question is new, across calls too. */
let missBound = 0;

/** A new Nansen question per request, one connection, for `seconds`: the (e) miss without the 20 ms wait. */
async function misses(gateway: Child, headers: Record<string, string>, seconds: number): Promise<number> {
  const pool = new Pool(gateway.origin, { connections: 1 });
  let n = 0;
  const until = Date.now() + seconds * 1000;
  try {
    while (Date.now() < until) {
      n++;
      const res = await pool.request({ path: `/netflows?source=nansen&limit=100&min_market_cap_usd=${++missBound / 1000}`, method: 'GET', headers });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new BenchError(`miss: ${res.statusCode} ${text.slice(0, 200)}`);
    }
  } finally {
    await pool.close();
  }
  return n;
}

/** A bare server under --cpu-prof for the whole of its life (it does nothing else): its profile and requests. */
async function bareProfile(tools: Tools, role: 'node' | 'fastify', bodyFile: string, headers: Record<string, string>): Promise<Profiled> {
  const dir = path.join(OUT, `${role}-raw`);
  rmSync(dir, { recursive: true, force: true });
  const child = await startChild(role, role, { BENCH_BODY_FILE: bodyFile }, ['--cpu-prof', `--cpu-prof-dir=${dir}`, '--cpu-prof-interval=100'], tools.pinned ? SERVER_CPU : undefined);
  const result = await guard(slice(tools, { url: `${child.origin}${HIT_PATH}`, headers, connections: S.connections, durationS: SECONDS, serverPids: child.pids, what: role }));
  await stopChild(child);
  // One profile per thread; the main thread's is the largest.
  const main = readdirSync(dir).map((f) => path.join(dir, f)).sort((x, y) => statSync(y).size - statSync(x).size)[0];
  if (!main) throw new BenchError(`${role}: no profile written`);
  const file = path.join(OUT, `${role}.cpuprofile`);
  writeFileSync(file, readFileSync(main));
  rmSync(dir, { recursive: true, force: true });
  return {
    name: role,
    file,
    requests: result.requests,
    cpuUsPerRequest: result.serverCpuUsPerRequest ?? undefined,
    note: `bare ${role === 'node' ? 'node:http' : 'Fastify'}, the hit's bytes, wrk c=${S.connections}`,
  };
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const dir = mkdtempSync(path.join(tmpdir(), 'netflows-profile-'));
  const tools = detectTools(S.autocannon);
  const token = 'bench-profile-token';
  const callers = path.join(dir, 'callers.json');
  writeFileSync(callers, JSON.stringify([{ name: 'bench', sha256: sha256(token).toString('hex'), rate_limit: '1000000/1s' }]));
  const headers = { authorization: `Bearer ${token}` };
  const results: Profiled[] = [];
  try {
    const sims = await startChild('sims', 'sims', { ...WARM_SIMULATOR, BENCH_SIM_LATENCY_MS: '0' });
    const env = { BENCH_UPSTREAMS: JSON.stringify(sims.upstreams), BENCH_CALLER_TOKENS_FILE: callers, BENCH_LOG_FILE: path.join(dir, 'gateway.log') };
    const gw = await startChild('gateway', 'gateway', env, [], tools.pinned ? SERVER_CPU : undefined);
    const hitBody = await warmHit(gw, headers);
    const hitSlice = () => guard(slice(tools, { url: `${gw.origin}${HIT_PATH}`, headers, connections: S.connections, durationS: SECONDS, serverPids: gw.pids, what: 'hit' }));
    await hitSlice();
    progress(`hit: ${SECONDS} s under the profiler`);
    results.push(await profiled(gw, 'hit', async () => (await hitSlice()).requests, `the kept answer of ${HIT_PATH}, wrk c=${S.connections}`));

    const data = await warmUpData(gw.origin, headers);
    const list = distinctQuestions(path.join(dir, 'warm.txt'), 2 * S.pathsPerSlice, 15, data, warmQuestion);
    const warmSlice = (offset: number, durationS: number) =>
      guard(slice(tools, { url: gw.origin, headers, connections: S.connections, durationS, paths: { list, offset, count: S.pathsPerSlice }, serverPids: gw.pids, what: 'warm' }));
    await warmSlice(0, 2);
    progress(`warm: ${SECONDS} s under the profiler`);
    results.push(await profiled(gw, 'warm', async () => (await warmSlice(S.pathsPerSlice, SECONDS)).requests, `the warm-question mix, wrk c=${S.connections}`));

    await Promise.all([stopChild(gw), stopChild(sims)]);

    // The miss on the demo's simulators (300 tokens): the bigger set only slows the simulator's answer.
    const missSims = await startChild('sims', 'sims', { BENCH_SIM_LATENCY_MS: '0' });
    const missEnv = { ...env, BENCH_UPSTREAMS: JSON.stringify(missSims.upstreams) };
    const missGw = await startChild('gateway-miss', 'gateway', missEnv, [], tools.pinned ? SERVER_CPU : undefined);
    await misses(missGw, headers, 2);
    progress(`miss: ${SECONDS} s under the profiler`);
    results.push(await profiled(missGw, 'miss', () => misses(missGw, headers, SECONDS), 'a new 100-row Nansen question per request, one connection, simulators at 0 ms in another process'));
    await Promise.all([stopChild(missGw), stopChild(missSims)]);

    const bodyFile = path.join(dir, 'hit.json');
    writeFileSync(bodyFile, hitBody);
    for (const role of ['node', 'fastify'] as const) {
      progress(`${role}: ${SECONDS} s under --cpu-prof`);
      results.push(await bareProfile(tools, role, bodyFile, headers));
    }
  } finally {
    await stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
  const text = results
    .map((r) => formatSummary(`${r.name} (${r.note}) ${path.relative(ROOT, r.file)}`, summarise(JSON.parse(readFileSync(r.file, 'utf8')) as Profile), 30, r.requests, r.cpuUsPerRequest))
    .join('\n\n');
  writeFileSync(path.join(OUT, 'summary.txt'), `${text}\n`);
  progress(`\n${text}\n\nwritten to ${path.relative(ROOT, OUT)}/`);
}

main().then(
  () => process.exit(0),
  async (error: unknown) => {
    process.stderr.write(`\nprofile failed: ${error instanceof Error ? error.message : String(error)}\n`);
    await stopAll();
    process.exit(1);
  },
);
