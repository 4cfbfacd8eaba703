// The bench's knobs (bench/README.md lists them), read once from the environment.
import { BenchError } from './children.js';
import type { RoundPolicy } from './stats.js';

function envNumber(name: string, fallback: number, min: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < min) throw new BenchError(`${name} must be a number ≥ ${min}, got "${raw}"`);
  return n;
}

const rounds = Math.floor(envNumber('BENCH_ROUNDS', 10, 1));

export const S = {
  rounds,
  sliceS: envNumber('BENCH_SLICE_S', 2, 1),
  connections: Math.floor(envNumber('BENCH_CONNECTIONS', 50, 1)),
  /** (d): length of each one-connection slice. */
  oneConnSliceS: envNumber('BENCH_D_SLICE_S', 1, 0.2),
  /** (w): rounds of the warm-question mix, and (s) of each growth point. */
  warmRounds: Math.floor(envNumber('BENCH_WARM_ROUNDS', 5, 1)),
  growthRounds: Math.floor(envNumber('BENCH_GROWTH_ROUNDS', 3, 1)),
  growthSliceS: envNumber('BENCH_GROWTH_SLICE_S', 1, 1),
  growthConnections: Math.floor(envNumber('BENCH_GROWTH_CONNECTIONS', 16, 1)),
  /** Distinct questions prepared per slice of (w) and (s): more than the fastest slice asks. */
  pathsPerSlice: Math.floor(envNumber('BENCH_PATHS_PER_SLICE', 40_000, 1000)),
  /** (e): rounds, and requests per round for each of gateway and simulator. */
  missRounds: Math.floor(envNumber('BENCH_E_ROUNDS', 6, 1)),
  missPerRound: Math.floor(envNumber('BENCH_E_REQUESTS', 40, 5)),
  simLatencyMs: 20,
  cacheMb: Math.floor(envNumber('BENCH_CACHE_MB', 64, 1)),
  fillTimeoutS: envNumber('BENCH_FILL_TIMEOUT_S', 60, 5),
  fillConcurrency: Math.floor(envNumber('BENCH_FILL_CONCURRENCY', 16, 1)),
  /** (h): distinct Nansen questions replica A fetches, shared out over the rounds (half for p50, half for req/s). */
  sharedQuestions: Math.floor(envNumber('BENCH_SHARED_QUESTIONS', 2400, 20)),
  sharedRounds: Math.floor(envNumber('BENCH_SHARED_ROUNDS', 6, 1)),
  cpuProf: process.env.BENCH_CPU_PROF === '1',
  /** Gateways without caller tokens and with the log off (to see what those cost). */
  plainGateway: process.env.BENCH_PLAIN_GATEWAY === '1',
  /** autocannon even where wrk is installed (to compare the generators). */
  autocannon: process.env.BENCH_GENERATOR === 'autocannon',
  /** A round is "quiet" when other processes used at most this many cores' worth of CPU during it. */
  quietCores: envNumber('BENCH_QUIET_CORES', 0.15, 0),
  /** Rounds added, at most, while fewer than half the rounds were quiet. */
  extraRounds: Math.floor(envNumber('BENCH_EXTRA_ROUNDS', Math.floor(rounds / 2), 0)),
  /** Extra node flags for every gateway child, e.g. "--max-old-space-size=160" (space-separated). */
  gatewayNodeArgs: (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean),
};

export const policy = (planned: number): RoundPolicy => ({
  rounds: planned,
  extraRounds: planned === S.rounds ? S.extraRounds : Math.floor(planned / 2),
  quietCores: S.quietCores,
});

export const HIT_PATH = '/netflows?window=7d&limit=100';

/**
 * Simulators of the hit and warm scenarios: 8 chains × 170 tokens, about 1,150 in a default
 * answer, so the warm questions' page of 1000 rows is full, as the real Nansen's are. The
 * other scenarios keep the demo's 300 (a bigger set costs the simulator CPU on every call).
 */
export const WARM_SIMULATOR = { BENCH_NANSEN_TOKENS_PER_CHAIN: '170' };

export const TARGETS = {
  /** Throughput of the hit against each baseline (issue #15). */
  hitVsFastify: 0.9,
  hitVsNode: 0.75,
  hitVsNginx: 0.75,
  dUs: 50,
  warmRps: 5000,
  warmCpuUs: 200,
  eMs: 0.5,
  /** Growth exponent (log cost ratio ÷ log size ratio) at most this: no worse than linear, with room for noise. */
  growthExponent: 1.1,
  f: 1,
  gExtraMb: 150,
  redisVsMemory: 0.8,
};
