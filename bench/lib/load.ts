// Load generators: wrk (pinned to its own CPU) where it is installed, autocannon in this
// process otherwise, and an undici loop of one connection for latency at c=1. Every slice
// measures the server's CPU from /proc alongside.
import { accessSync, constants } from 'node:fs';
import { cpus } from 'node:os';
import path from 'node:path';
import type { EventEmitter } from 'node:events';
import autocannon from 'autocannon';
import { Pool } from 'undici';
import { BenchError, exited, guard, ROOT, spawnTracked } from './children.js';
import { machineCpuSeconds, selfAndReapedCpuSeconds, treeCpuSeconds, treesCpuSeconds } from './proc.js';
import { percentile, Samples } from './stats.js';

const WRK_SCRIPT = path.join(ROOT, 'bench', 'lib', 'wrk.lua');
/** With wrk and taskset: every server under test on this CPU, wrk on the other, as issue #15's comparison ran. */
export const SERVER_CPU = 0;
export const LOAD_CPU = 1;

export interface Tools {
  /** wrk's path, when installed. */
  wrk: string | undefined;
  /** Servers pinned to SERVER_CPU and wrk to LOAD_CPU (taskset is there and so are two CPUs). */
  pinned: boolean;
  /** What makes the load of the 50-connection scenarios. */
  generator: 'wrk' | 'autocannon';
}

export function onPath(binary: string, candidates: readonly string[] = []): string | undefined {
  const dirs = (process.env.PATH ?? '').split(path.delimiter).filter(Boolean);
  for (const file of [...candidates, ...dirs.map((dir) => path.join(dir, binary))]) {
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

export function detectTools(forceAutocannon = false): Tools {
  const wrk = forceAutocannon ? undefined : onPath('wrk', ['/usr/bin/wrk']);
  const pinned = wrk !== undefined && onPath('taskset') !== undefined && cpus().length >= 2;
  return { wrk, pinned, generator: wrk ? 'wrk' : 'autocannon' };
}

/** Distinct request paths, one per line of `file` (for wrk's script), also held as `list` (for autocannon). */
export interface PathList {
  file: string;
  list: readonly string[];
}

export interface LoadSpec {
  /** The origin and, without `paths`, the one path every request asks for. */
  url: string;
  headers: Record<string, string>;
  connections: number;
  durationS: number;
  /** Each request a different path: `count` of them from index `offset` (0-based) of the list. */
  paths?: { list: PathList; offset: number; count: number };
  /** Roots of the server's process trees. */
  serverPids: readonly number[];
  what: string;
}

export interface Slice {
  generator: Tools['generator'];
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  bytesPerResponse: number;
  /** CPU the server used per answered request (µs), and as a share of one core; null without /proc. */
  serverCpuUsPerRequest: number | null;
  serverCpuShare: number | null;
  /** The load generator's (this process and wrk). */
  loadCpuShare: number | null;
  /** Cores' worth of CPU used by every other process during the slice; null without /proc. */
  otherCpuShare: number | null;
}

interface Measured {
  requests: number;
  durationS: number;
  bytes: number;
  p50Ms: number;
  p99Ms: number;
}

/** One slice of load on one server, with its CPU measured from /proc. */
export async function slice(tools: Tools, spec: LoadSpec): Promise<Slice> {
  const server0 = treesCpuSeconds(spec.serverPids);
  const load0 = selfAndReapedCpuSeconds();
  const machine0 = machineCpuSeconds();
  const ours0 = treeCpuSeconds(process.pid);
  const wall0 = process.hrtime.bigint();
  const measured = tools.generator === 'wrk' ? await wrkSlice(tools, spec) : await autocannonSlice(spec);
  const wallS = Number(process.hrtime.bigint() - wall0) / 1e9;
  const server1 = treesCpuSeconds(spec.serverPids);
  const load1 = selfAndReapedCpuSeconds();
  const machine1 = machineCpuSeconds();
  const ours1 = treeCpuSeconds(process.pid);
  const serverS = server0 !== undefined && server1 !== undefined ? server1 - server0 : undefined;
  const othersS = machine0 !== undefined && machine1 !== undefined && ours0 !== undefined && ours1 !== undefined ? machine1 - machine0 - (ours1 - ours0) : undefined;
  return {
    generator: tools.generator,
    rps: measured.requests / measured.durationS,
    p50Ms: measured.p50Ms,
    p99Ms: measured.p99Ms,
    requests: measured.requests,
    bytesPerResponse: measured.bytes / measured.requests,
    serverCpuUsPerRequest: serverS !== undefined ? (serverS * 1e6) / measured.requests : null,
    serverCpuShare: serverS !== undefined ? serverS / wallS : null,
    loadCpuShare: load0 !== undefined && load1 !== undefined ? (load1 - load0) / wallS : null,
    otherCpuShare: othersS !== undefined ? Math.max(0, othersS) / wallS : null,
  };
}

interface WrkReport {
  requests: number;
  durationUs: number;
  bytes: number;
  connectErrors: number;
  readErrors: number;
  writeErrors: number;
  statusErrors: number;
  timeouts: number;
  p50Us: number;
  p99Us: number;
  issued: number;
}

/** wrk -t1 (one thread, as issue #15 ran it), pinned to LOAD_CPU when the servers are pinned. */
export function wrkArgs(spec: LoadSpec, pathsArgs: string[]): string[] {
  const headers = Object.entries(spec.headers).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  const seconds = Math.max(1, Math.round(spec.durationS));
  return ['-t1', `-c${spec.connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', WRK_SCRIPT, ...headers, spec.url, ...(pathsArgs.length ? ['--', ...pathsArgs] : [])];
}

async function wrkSlice(tools: Tools, spec: LoadSpec): Promise<Measured> {
  const pathsArgs = spec.paths ? [spec.paths.list.file, String(spec.paths.offset + 1), String(spec.paths.count)] : [];
  const proc = spawnTracked(`wrk (${spec.what})`, tools.wrk!, wrkArgs(spec, pathsArgs), { cpu: tools.pinned ? LOAD_CPU : undefined, finite: true });
  let out = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  await guard(exited(proc));
  const line = out.split('\n').reverse().find((l) => l.startsWith('{'));
  if (proc.exitCode !== 0 || !line) throw new BenchError(`${spec.what}: wrk exited with ${proc.exitCode}: ${out.slice(-500)}`);
  const r = JSON.parse(line) as WrkReport;
  const failures = r.connectErrors + r.readErrors + r.writeErrors + r.statusErrors + r.timeouts;
  if (failures > 0) throw new BenchError(`${spec.what}: wrk saw ${r.statusErrors} non-2xx/3xx answers and ${failures - r.statusErrors} socket errors or timeouts (${line})`);
  if (r.requests === 0) throw new BenchError(`${spec.what}: no answer in ${spec.durationS} s`);
  if (spec.paths && r.issued > spec.paths.count) {
    throw new BenchError(`${spec.what}: ${r.issued} requests but only ${spec.paths.count} distinct paths prepared: some questions were asked twice`);
  }
  return { requests: r.requests, durationS: r.durationUs / 1e6, bytes: r.bytes, p50Ms: r.p50Us / 1000, p99Ms: r.p99Us / 1000 };
}

async function autocannonSlice(spec: LoadSpec): Promise<Measured> {
  const latencies = new Samples();
  let bytes = 0;
  let bad = 0;
  let issued = 0;
  const paths = spec.paths;
  const result = await guard(
    new Promise<autocannon.Result>((resolve, reject) => {
      const options: autocannon.Options = {
        url: spec.url,
        connections: spec.connections,
        pipelining: 1,
        duration: spec.durationS,
        timeout: 10,
        headers: spec.headers,
        ...(paths
          ? {
              requests: [
                {
                  setupRequest: (request) => ({ ...request, path: paths.list.list[paths.offset + (issued++ % paths.count)]! }),
                },
              ],
            }
          : {}),
      };
      const instance = autocannon(options, (error: unknown, res) => (error ? reject(error instanceof Error ? error : new Error(String(error))) : resolve(res)));
      // autocannon 8 emits (client, statusCode, resBytes, responseTime); @types/autocannon is one argument behind.
      (instance as unknown as EventEmitter).on('response', (_client: unknown, status: number, resBytes: number, responseTimeMs: number) => {
        if (status === 200) {
          latencies.push(responseTimeMs);
          bytes += resBytes;
        } else bad++;
      });
    }),
  );
  if (result.errors > 0 || result.timeouts > 0 || result.non2xx > 0 || bad > 0) {
    throw new BenchError(`${spec.what}: ${result.errors} errors, ${result.timeouts} timeouts, ${result.non2xx + bad} non-2xx answers from ${spec.url}`);
  }
  if (paths && issued > paths.count) throw new BenchError(`${spec.what}: ${issued} requests but only ${paths.count} distinct paths prepared`);
  const samples = latencies.all();
  if (samples.length === 0) throw new BenchError(`${spec.what}: no answer in ${spec.durationS} s from ${spec.url}`);
  // p50/p99 from autocannon's per-response hrtime: its own histogram records whole milliseconds.
  return { requests: samples.length, durationS: result.duration, bytes, p50Ms: percentile(samples, 0.5), p99Ms: percentile(samples, 0.99) };
}

export interface LoopResult {
  samplesUs: Float64Array;
  p50Us: number;
  p99Us: number;
  rps: number;
}

/** Sequential requests over one kept-alive connection for `durationS`, each timed with hrtime. */
export async function oneConnectionLoop(origin: string, pathAndQuery: string, headers: Record<string, string>, durationS: number, what: string): Promise<LoopResult> {
  const pool = new Pool(origin, { connections: 1, pipelining: 1 });
  const samples = new Samples();
  try {
    const started = process.hrtime.bigint();
    const until = started + BigInt(Math.round(durationS * 1e9));
    for (;;) {
      const t0 = process.hrtime.bigint();
      if (t0 >= until) break;
      const res = await pool.request({ path: pathAndQuery, method: 'GET', headers });
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
