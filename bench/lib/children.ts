// The processes the bench starts: the servers under test (bench/target.ts roles, nginx,
// Varnish) and wrk. Every one is stopped on the way out, and a child that dies while the
// bench still needs it fails the bench instead of skewing it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
// bench/target.ts compiled with the gateway (tsconfig.bench.json): the processes under test run plain
// JavaScript, as `node dist/server.js` does, with no TypeScript loader in their memory or CPU.
export const TARGET = path.join(ROOT, 'dist-bench', 'bench', 'target.js');

export class BenchError extends Error {
  override name = 'BenchError';
}

/** Where a bench/target.ts role's simulators listen, and with which keys. */
export interface Upstreams {
  cmUrl: string;
  cmKey: string;
  nansenUrl: string;
  nansenKey: string;
}

interface Ready {
  ready: true;
  port: number;
  controlPort?: number;
  upstreams?: Upstreams;
}

/** A server under test. */
export interface Child {
  name: string;
  proc: ChildProcess;
  port: number;
  controlPort: number | undefined;
  upstreams: Upstreams | undefined;
  origin: string;
  /** Roots of the process trees whose CPU is the server's (varnishd and varnishncsa: two). */
  pids: number[];
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
export function guard<T>(work: Promise<T>): Promise<T> {
  return Promise.race([work, crashed]);
}

export interface SpawnOptions {
  env?: Record<string, string>;
  /** Run on this CPU only (taskset -c), with every thread and process it starts. */
  cpu?: number | undefined;
  /** A process that ends by itself (wrk): its exit is no crash. */
  finite?: boolean;
  stdout?: 'pipe' | 'ignore';
  /** 'tail': kept (its last 4 KB) for the message if it dies, not shown (varnishd talks a lot). */
  stderr?: 'inherit' | 'tail';
}

/**
 * A program that does not watch its stdin (nginx, varnishd) runs under this shell, which
 * does: when the bench dies its stdin closes and the shell stops the program.
 */
const LIFELINE = ['sh', '-c', '"$@" & program=$!; cat >/dev/null; kill -TERM "$program" 2>/dev/null; wait', 'lifeline'];

/**
 * Spawns and tracks `command` in a process group of its own (stopped as a group, so
 * nginx's worker or varnishd's cache process never outlives its master). stdin stays open
 * as a lifeline: a node child leaves when the bench dies, and `lifeline` wraps any other.
 */
export function spawnTracked(name: string, command: string, args: string[], options: SpawnOptions & { lifeline?: boolean } = {}): ChildProcess {
  const wrapped = options.lifeline ? [...LIFELINE, command, ...args] : [command, ...args];
  const [file, ...argv] = options.cpu === undefined ? wrapped : ['taskset', '-c', String(options.cpu), ...wrapped];
  const proc = spawn(file!, argv, {
    cwd: ROOT,
    env: { ...process.env, ...options.env },
    stdio: ['pipe', options.stdout ?? 'pipe', options.stderr === 'tail' ? 'pipe' : 'inherit'],
    detached: true,
  });
  let tail = '';
  proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => (tail = (tail + chunk).slice(-4096)));
  const entry: Running = { name, proc, stopping: options.finite === true, exited: Promise.resolve() };
  entry.exited = new Promise<void>((resolve) => {
    proc.once('exit', (code, signal) => {
      running.delete(proc);
      if (!entry.stopping && !shuttingDown) rejectCrash(new BenchError(`${name} exited unexpectedly (code ${code}, signal ${signal})${tail ? `: ${tail}` : ''}`));
      resolve();
    });
  });
  // A spawn failure (ENOENT) also ends in 'exit' or 'error'; report it as the child's failure.
  proc.once('error', (error) => {
    running.delete(proc);
    if (!shuttingDown) rejectCrash(new BenchError(`${name} could not start: ${error.message}`));
  });
  running.set(proc, entry);
  return proc;
}

/** A bench/target.ts role: ready when it prints its ready line. */
export async function startChild(name: string, role: string, env: Record<string, string>, execArgv: string[] = [], cpu?: number): Promise<Child> {
  const proc = spawnTracked(name, process.execPath, [...execArgv, TARGET, role], { env, cpu });
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
    pids: [proc.pid!],
  };
}

/** Any server program: ready when `port` accepts a connection. */
export async function startProgram(name: string, command: string, args: string[], port: number, cpu?: number): Promise<Child> {
  const proc = spawnTracked(name, command, args, { cpu, stdout: 'ignore', stderr: 'tail', lifeline: true });
  await guard(waitForPort(port, 30_000, name));
  return { name, proc, port, controlPort: undefined, upstreams: undefined, origin: `http://127.0.0.1:${port}`, pids: [proc.pid!] };
}

async function waitForPort(port: number, timeoutMs: number, name: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new BenchError(`${name} did not listen on port ${port} within ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A signal to the process group the bench made for `proc` (its leader is `proc`). */
function signalGroup(proc: ChildProcess, signal: NodeJS.Signals): void {
  if (proc.pid === undefined) return;
  try {
    process.kill(-proc.pid, signal);
  } catch {
    // The group is gone already.
  }
}

function groupAlive(proc: ChildProcess): boolean {
  try {
    process.kill(-proc.pid!, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * SIGTERM to the whole group, and SIGKILL to what is left of it 5 s later. Done when every
 * process of the group is gone (a lifeline shell leaves before the program it wraps).
 */
async function stopProcess(entry: Running): Promise<void> {
  entry.stopping = true;
  const { proc } = entry;
  signalGroup(proc, 'SIGTERM');
  const deadline = Date.now() + 5_000;
  await entry.exited;
  while (groupAlive(proc)) {
    if (Date.now() > deadline) signalGroup(proc, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 20));
  }
}

export async function stopChild(child: Pick<Child, 'proc'>): Promise<void> {
  const entry = running.get(child.proc);
  if (entry) await stopProcess(entry);
}

/** Waits for a process that ends by itself (wrk). */
export async function exited(proc: ChildProcess): Promise<void> {
  await running.get(proc)?.exited;
}

export async function stopAll(): Promise<void> {
  shuttingDown = true;
  await Promise.all([...running.values()].map((entry) => stopProcess(entry)));
}

process.on('exit', () => {
  for (const proc of running.keys()) signalGroup(proc, 'SIGKILL');
});
