// `npm run bench`, traces: the cache-hit path with tracing on ÷ off, in one run (target ≥ 0.90).
//
// Two gateways run as `node dist/server.js` runs (the start path that loads OpenTelemetry),
// over the same simulators: one without OTEL_* variables, one exporting every request's
// trace (default sampler, parentbased_always_on, no traceparent sent: every request a new
// trace) over OTLP/HTTP protobuf to a local receiver in its own process that reads and drops
// each batch, as a collector beside the gateway would. Both log at the default level (info)
// to /dev/null, so the log mixin that adds trace ids is measured too. Slices of autocannon
// at 50 connections alternate between them; the ratio of req/s is taken per round and the
// median reported, with each one's CPU per request. Exit 0 when the bench ran, 1 when it failed.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { request } from 'undici';
import { startCoinMetricsSim } from '../src/demo/sim/coinmetrics.js';
import { startNansenSim } from '../src/demo/sim/nansen.js';
import { freePort } from '../test/processes.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const SLICE_S = Number(process.env.BENCH_SLICE_S ?? 2);
const CONNECTIONS = 50;
const HIT_PATH = '/netflows?window=7d&limit=100';
const TARGET = 0.9;
const CM_KEY = 'bench-cm-key';
const NANSEN_KEY = 'nsk_bench_key';

const children: ChildProcess[] = [];

/** A local OTLP receiver that reads each POST and answers 200: it counts batches and bytes on stdout when asked. */
const RECEIVER = `
let posts = 0, bytes = 0;
const server = require('node:http').createServer((req, res) => {
  req.on('data', (chunk) => { bytes += chunk.length; });
  req.on('end', () => { posts++; res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end(); });
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGUSR2', () => console.log(JSON.stringify({ posts, bytes })));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();`;

function spawnChild(args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

function nextLine(child: ChildProcess): Promise<Record<string, number>> {
  return new Promise((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString('utf8').split('\n')[0]!))));
}

async function startGateway(env: Record<string, string>): Promise<{ origin: string; pid: number }> {
  const port = await freePort();
  const child = spawnChild(['dist/server.js'], { HOST: '127.0.0.1', PORT: String(port), ...env });
  child.stdout!.resume();
  const origin = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    const ready = await request(`${origin}/healthz`).then((r) => (r.body.dump(), r.statusCode === 200), () => false);
    if (ready) break;
    if (i > 200 || child.exitCode !== null) throw new Error('a gateway did not start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  // The first request fills the caches; a kept answer serves the rest.
  for (let i = 0; i < 2; i++) {
    const answer = await request(`${origin}${HIT_PATH}`);
    const body = await answer.body.text();
    if (answer.statusCode !== 200) throw new Error(`warming ${origin}: ${answer.statusCode} ${body.slice(0, 200)}`);
  }
  return { origin, pid: child.pid! };
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function slice(target: { origin: string; pid: number }): Promise<{ rps: number; cpuUs: number; p50Ms: number }> {
  const cpu0 = cpuSeconds(target.pid);
  const result = await autocannon({ url: `${target.origin}${HIT_PATH}`, connections: CONNECTIONS, pipelining: 1, duration: SLICE_S, timeout: 10 });
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0) throw new Error(`${target.origin}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx} non-2xx`);
  const cpuUs = ((cpuSeconds(target.pid) - cpu0) * 1e6) / result['2xx'];
  return { rps: result['2xx'] / result.duration, cpuUs, p50Ms: result.latency.p50 };
}

/** The default sampler unless the bench is run with OTEL_TRACES_SAMPLER (and _ARG) to compare another. */
function samplerFromEnv(): Record<string, string> {
  const { OTEL_TRACES_SAMPLER: sampler, OTEL_TRACES_SAMPLER_ARG: arg } = process.env;
  return { ...(sampler ? { OTEL_TRACES_SAMPLER: sampler } : {}), ...(arg ? { OTEL_TRACES_SAMPLER_ARG: arg } : {}) };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length / 2;
  return Number.isInteger(middle) ? (sorted[middle - 1]! + sorted[middle]!) / 2 : sorted[Math.floor(middle)]!;
}

async function main(): Promise<void> {
  const startLoad = loadavg()[0]!.toFixed(2);
  const [cm, nansen] = await Promise.all([startCoinMetricsSim({ apiKey: CM_KEY, rateLimits: false }), startNansenSim({ apiKey: NANSEN_KEY, rateLimits: false })]);
  const receiver = spawnChild(['-e', RECEIVER], {});
  const { port: receiverPort } = await nextLine(receiver);
  const common = {
    COINMETRICS_API_KEY: CM_KEY,
    COINMETRICS_BASE_URL: cm.url,
    NANSEN_API_KEY: NANSEN_KEY,
    NANSEN_BASE_URL: nansen.url,
    NANSEN_RATE_LIMIT: '1000000/2s',
    NANSEN_TTL_S: '86400',
    COINMETRICS_TTL_S: '86400',
    // Two processes cannot share the embedded history store, and the hit path never reads it.
    HISTORY: 'off',
  };
  const off = await startGateway(common);
  const on = await startGateway({ ...common, ...samplerFromEnv(), OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${receiverPort}`, OTEL_SERVICE_NAME: 'netflows-bench' });
  // Not measured: the JIT warms up on the hit path of both.
  await slice(off);
  await slice(on);

  const rounds: { off: Awaited<ReturnType<typeof slice>>; on: Awaited<ReturnType<typeof slice>> }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so neither always follows the other's garbage.
    const first = round % 2 === 0 ? await slice(off) : await slice(on);
    const second = round % 2 === 0 ? await slice(on) : await slice(off);
    rounds.push(round % 2 === 0 ? { off: first, on: second } : { off: second, on: first });
  }
  receiver.kill('SIGUSR2');
  const received = await nextLine(receiver);

  const ratio = median(rounds.map((r) => r.on.rps / r.off.rps));
  const cpuRatio = median(rounds.map((r) => r.off.cpuUs / r.on.cpuUs));
  const row = (name: string, pick: (r: (typeof rounds)[number]) => Awaited<ReturnType<typeof slice>>) =>
    `${name.padEnd(12)} ${median(rounds.map((r) => pick(r).rps)).toFixed(0).padStart(7)} req/s   p50 ${median(rounds.map((r) => pick(r).p50Ms)).toFixed(2)} ms   ${median(rounds.map((r) => pick(r).cpuUs)).toFixed(1)} µs CPU a request`;
  process.stdout.write(
    [
      '',
      `traces: /netflows cache hit (kept answer), ${ROUNDS} rounds of ${SLICE_S} s at ${CONNECTIONS} connections, node ${process.version}, sampler ${process.env.OTEL_TRACES_SAMPLER ?? 'default'}${process.env.OTEL_TRACES_SAMPLER_ARG ? ` ${process.env.OTEL_TRACES_SAMPLER_ARG}` : ''}`,
      row('tracing off', (r) => r.off),
      row('tracing on', (r) => r.on),
      `on ÷ off     ${ratio.toFixed(2)} (target ≥ ${TARGET}: ${ratio >= TARGET ? 'PASS' : 'MISS'}); per round: ${rounds.map((r) => (r.on.rps / r.off.rps).toFixed(2)).join(' ')}`,
      `CPU a request, off ÷ on: ${cpuRatio.toFixed(2)} (the steadier guide when other processes share the machine)`,
      `exported     ${received.posts} OTLP requests, ${(received.bytes! / 1e6).toFixed(1)} MB to the local receiver`,
      `load average ${startLoad} at the start, ${loadavg()[0]!.toFixed(2)} at the end (${cpus().length} cores)`,
      '',
    ].join('\n'),
  );
  await Promise.all([cm.close(), nansen.close()]);
}

/** Gateways first: the traced one exports what it still holds before it exits. */
function stopChildren(): void {
  for (const child of children.reverse()) if (child.exitCode === null) child.kill('SIGTERM');
}

main().then(
  () => {
    stopChildren();
    process.exit(0);
  },
  (error: unknown) => {
    process.stderr.write(`bench/tracing.ts failed: ${error instanceof Error ? error.message : String(error)}\n`);
    stopChildren();
    process.exit(1);
  },
);
