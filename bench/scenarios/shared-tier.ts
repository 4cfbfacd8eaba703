// (h) the shared tier: two gateway processes on one Redis and one set of simulators.
// Replica A fetches N distinct questions; then the same upstream answers are asked again (a
// new `limit`, so no kept response can answer) from A, which holds them in its own memory,
// and from B, which must read them from Redis. After a warm-up of their own, in rounds, each
// with its own questions (B keeps what it read, so a question tells about Redis once) and A
// and B in turns: req/s (16 at a time) and one-connection p50 for each; no upstream call may
// happen meanwhile.
import { Pool, request } from 'undici';
import { BenchError, startChild, startProgram, stopChild, type Child } from '../lib/children.js';
import { counts } from '../lib/http.js';
import { S } from '../lib/settings.js';
import { median } from '../lib/stats.js';
import { freePort } from '../peers.js';

const CONCURRENCY = 16;
/** Questions each replica answers before the measured rounds. */
const WARM_UP = 400;

const question = (i: number, limit: number) => `/netflows?source=nansen&limit=${limit}&min_market_cap_usd=${(i + 1) / 1e6}`;

async function cacheStatus(base: string, path: string, headers: Record<string, string>): Promise<string> {
  const response = await request(`${base}${path}`, { headers });
  const body = await response.body.text();
  if (response.statusCode !== 200) throw new BenchError(`(h) ${path}: ${response.statusCode} ${body.slice(0, 200)}`);
  return String(response.headers['cache-status'] ?? '');
}

/** One connection, one request at a time: each request's time in µs. */
async function oneConnectionTimes(base: string, paths: string[], headers: Record<string, string>): Promise<number[]> {
  const pool = new Pool(base, { connections: 1 });
  const samples: number[] = [];
  try {
    for (const path of paths) {
      const started = process.hrtime.bigint();
      const response = await pool.request({ path, method: 'GET', headers });
      await response.body.text();
      samples.push(Number(process.hrtime.bigint() - started) / 1000);
      if (response.statusCode !== 200) throw new BenchError(`(h) ${path}: ${response.statusCode}`);
    }
  } finally {
    await pool.close();
  }
  return samples;
}

/** CONCURRENCY at a time through every path once: requests per second. */
async function throughput(base: string, paths: string[], headers: Record<string, string>): Promise<number> {
  const pool = new Pool(base, { connections: CONCURRENCY });
  const queue = [...paths];
  const started = process.hrtime.bigint();
  try {
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let path = queue.shift(); path; path = queue.shift()) {
          const response = await pool.request({ path, method: 'GET', headers });
          await response.body.text();
          if (response.statusCode !== 200) throw new BenchError(`(h) ${path}: ${response.statusCode}`);
        }
      }),
    );
  } finally {
    await pool.close();
  }
  return paths.length / (Number(process.hrtime.bigint() - started) / 1e9);
}

/** `gatewayEnv`: what every bench gateway gets (caller tokens, log file); `gatewayArgs`: its node flags. */
export async function scenarioShared(gatewayEnv: Record<string, string>, headers: Record<string, string>, gatewayArgs: (name: string) => string[]) {
  const port = await freePort();
  const redis = await startProgram('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], port);
  const started: Child[] = [redis];
  try {
    const sims = await startChild('sims (h)', 'sims', { BENCH_SIM_LATENCY_MS: '0' });
    started.push(sims);
    const env = { ...gatewayEnv, BENCH_UPSTREAMS: JSON.stringify(sims.upstreams), BENCH_REDIS_URL: `redis://127.0.0.1:${port}` };
    const [a, b] = await Promise.all([startChild('gateway A (h)', 'gateway', env, gatewayArgs('gateway-shared-a')), startChild('gateway B (h)', 'gateway', env, gatewayArgs('gateway-shared-b'))]);
    started.push(a, b);
    const rounds = S.sharedRounds;
    const perRound = Math.floor(S.sharedQuestions / rounds / 2);
    if (perRound < 1) throw new BenchError(`(h) BENCH_SHARED_QUESTIONS=${S.sharedQuestions} is too few for ${rounds} rounds: at least ${rounds * 2}`);
    const measuredQuestions = rounds * perRound * 2;
    for (let i = 0; i < measuredQuestions + WARM_UP; i++) await cacheStatus(a.origin, question(i, 100), headers);
    const calls = (await counts(sims)).nansen;
    if (!(await cacheStatus(b.origin, question(0, 98), headers)).includes('netflows-nansen; hit')) throw new BenchError("(h) replica B did not find A's entry in Redis");
    // The fill ran A's code and not B's: both answer questions of their own first, unmeasured.
    const warmUpPaths = Array.from({ length: WARM_UP }, (_, i) => question(measuredQuestions + i, 99));
    for (const replica of [a, b]) await throughput(replica.origin, warmUpPaths, headers);

    // A new limit: the kept responses cannot answer, the upstream cache must.
    const times = { memory: [] as number[], shared: [] as number[] };
    const perRoundRps: { memory: number; shared: number }[] = [];
    for (let round = 0; round < rounds; round++) {
      const first = round * perRound * 2;
      const p50Paths = Array.from({ length: perRound }, (_, i) => question(first + i, 99));
      const rpsPaths = Array.from({ length: perRound }, (_, i) => question(first + perRound + i, 99));
      const measured = { memory: 0, shared: 0 };
      const sides = [['memory', a], ['shared', b]] as const;
      for (const [side, replica] of round % 2 === 0 ? sides : [...sides].reverse()) {
        times[side].push(...(await oneConnectionTimes(replica.origin, p50Paths, headers)));
        measured[side] = await throughput(replica.origin, rpsPaths, headers);
      }
      perRoundRps.push(measured);
    }
    if ((await counts(sims)).nansen !== calls) throw new BenchError('(h) an upstream call happened while measuring the shared tier');
    const side = (name: 'memory' | 'shared') => ({ p50Us: median(times[name]), rps: median(perRoundRps.map((r) => r[name])) });
    const roundRatios = perRoundRps.map((r) => r.shared / r.memory);
    return { rounds, warmUp: WARM_UP, questions: measuredQuestions, memory: side('memory'), shared: side('shared'), ratio: median(roundRatios), roundRatios };
  } finally {
    await Promise.all(started.map((child) => stopChild(child)));
  }
}

export type SharedResult = Awaited<ReturnType<typeof scenarioShared>>;
