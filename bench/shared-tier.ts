// The shared-tier part of `npm run bench`: two gateway processes on one Redis and one set of
// simulators. Replica A fetches N distinct questions; then the same upstream answers are
// asked again (a new `limit`, so no kept response can answer) from A, which holds them in
// its own memory, and from B, which must read them from Redis. Reports req/s (16 at a time)
// and one-connection p50 for each, and checks that no upstream call happened meanwhile.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Pool, request } from 'undici';
import { TestRedis } from '../test/processes.js';

const ROOT = join(fileURLToPath(import.meta.url), '..', '..');
const QUESTIONS = Number(process.env.BENCH_SHARED_QUESTIONS ?? 300);
const CONCURRENCY = 16;
const children: ChildProcess[] = [];

interface Started {
  port: number;
  controlPort: number;
  upstreams?: unknown;
}

async function start(role: string, env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, [join(ROOT, 'dist-bench', 'bench', 'target.js'), role], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout! });
  return new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      if (line.startsWith('{')) resolve(JSON.parse(line) as Started);
    });
    child.once('exit', (code) => reject(new Error(`bench ${role} exited (${code})`)));
  });
}

const question = (i: number, limit: number) => `/netflows?source=nansen&limit=${limit}&min_market_cap_usd=${(i + 1) / 1e6}`;

async function get(base: string, path: string): Promise<string> {
  const response = await request(`${base}${path}`);
  const body = await response.body.text();
  if (response.statusCode !== 200) throw new Error(`${path}: ${response.statusCode} ${body.slice(0, 200)}`);
  return String(response.headers['cache-status'] ?? '');
}

/** One connection, one request at a time: p50 in µs. */
async function oneConnectionP50(base: string, paths: string[]): Promise<number> {
  const pool = new Pool(base, { connections: 1 });
  const samples: number[] = [];
  for (const path of paths) {
    const started = process.hrtime.bigint();
    const response = await pool.request({ path, method: 'GET' });
    await response.body.text();
    samples.push(Number(process.hrtime.bigint() - started) / 1000);
    if (response.statusCode !== 200) throw new Error(`${path}: ${response.statusCode}`);
  }
  await pool.close();
  return samples.sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
}

/** CONCURRENCY at a time through every path once: requests per second. */
async function throughput(base: string, paths: string[]): Promise<number> {
  const pool = new Pool(base, { connections: CONCURRENCY });
  const queue = [...paths];
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let path = queue.shift(); path; path = queue.shift()) {
        const response = await pool.request({ path, method: 'GET' });
        await response.body.text();
        if (response.statusCode !== 200) throw new Error(`${path}: ${response.statusCode}`);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await pool.close();
  return paths.length / seconds;
}

async function nansenCalls(sims: Started): Promise<number> {
  const stats = (await (await request(`http://127.0.0.1:${sims.controlPort}/stats`)).body.json()) as { nansenRequests: number };
  return stats.nansenRequests;
}

async function main(): Promise<void> {
  const redis = await TestRedis.start();
  try {
    const sims = await start('sims', {});
    const env = { BENCH_UPSTREAMS: JSON.stringify(sims.upstreams), BENCH_REDIS_URL: redis.url };
    const [a, b] = await Promise.all([start('gateway', env), start('gateway', env)]);
    const baseA = `http://127.0.0.1:${a!.port}`;
    const baseB = `http://127.0.0.1:${b!.port}`;
    process.stderr.write(`(h): replica A fetches ${QUESTIONS} distinct Nansen questions; A answers them again from its memory, B from Redis\n`);
    for (let i = 0; i < QUESTIONS; i++) await get(baseA, question(i, 100));
    const calls = await nansenCalls(sims);

    // A new limit: the kept responses cannot answer, the upstream cache must.
    const p50Paths = Array.from({ length: QUESTIONS / 2 }, (_, i) => question(i, 99));
    const rpsPaths = Array.from({ length: QUESTIONS / 2 }, (_, i) => question(QUESTIONS / 2 + i, 99));
    if (!(await get(baseB, question(0, 98))).includes('netflows-nansen; hit')) throw new Error('replica B did not find A\'s entry in Redis');
    const memory = { p50Us: await oneConnectionP50(baseA, p50Paths), rps: await throughput(baseA, rpsPaths) };
    const shared = { p50Us: await oneConnectionP50(baseB, p50Paths), rps: await throughput(baseB, rpsPaths) };
    if ((await nansenCalls(sims)) !== calls) throw new Error('an upstream call happened while measuring the shared tier');

    const row = (name: string, r: { p50Us: number; rps: number }) => `| ${name.padEnd(36)} | ${Math.round(r.rps).toLocaleString('en').padStart(8)} | ${(r.p50Us / 1000).toFixed(3).padStart(8)} |`;
    const table = [
      `| ${`(h) shared tier, ${QUESTIONS / 2} questions each`.padEnd(36)} | req/s    | p50 (ms) |`,
      '|--------------------------------------|----------|----------|',
      row('replica answering from its memory', memory),
      row('replica answering from Redis', shared),
      `| Redis ÷ memory                       | ${(shared.rps / memory.rps).toFixed(2).padStart(8)} | ${(shared.p50Us / memory.p50Us).toFixed(2).padStart(8)} |`,
    ].join('\n');
    console.log(`\n${table}\n`);
    console.log('Each request is a new /netflows question (no kept response answers it) whose Nansen page is held; no upstream call happened while measuring.');
    mkdirSync(join(ROOT, '.bench'), { recursive: true });
    writeFileSync(join(ROOT, '.bench', 'shared-tier.json'), JSON.stringify({ when: new Date().toISOString(), node: process.version, questions: QUESTIONS, memory, shared }, null, 2));
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await redis.kill();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`shared-tier bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    for (const child of children) child.kill('SIGTERM');
    process.exit(1);
  },
);
