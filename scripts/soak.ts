// npm run soak: minutes of mixed traffic from many callers against a gateway process on the
// simulators (rate limits on), while faults toggle on both simulators. Loopback only, bounded
// in time. Reports requests by status, 500s (must be 0), upstream 429s earned by the gateway
// (must be 0), RSS at start and end (at most CACHE_MAX_MB + 150 MB, the bench's bound), the
// event-loop delay p99, and whether SIGTERM then ends the gateway cleanly. Exit 1 when a goal fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { startCoinMetricsSim } from '../src/demo/sim/coinmetrics.js';
import type { Fault } from '../src/demo/sim/common.js';
import { startNansenSim } from '../src/demo/sim/nansen.js';
import { freePort } from '../test/processes.js';

const SECONDS = Number(process.env.SOAK_SECONDS ?? 180);
const CALLERS = Number(process.env.SOAK_CALLERS ?? 24);
const FAULT_EVERY_S = Number(process.env.SOAK_FAULT_EVERY_S ?? 10);
const CACHE_MB = Number(process.env.SOAK_CACHE_MB ?? 64);
const CM_KEY = 'soak-cm-key';
const NANSEN_KEY = 'nsk_soak_key';
const METRICS_TOKEN = 'soak-metrics-token';

const faults: (Fault | null)[] = [
  null,
  { kind: 'slow', delayMs: 400 },
  { kind: 'status', status: 500 },
  null,
  { kind: 'status', status: 503 },
  { kind: 'reset' },
  null,
  { kind: 'malformed', body: '<html>Bad gateway</html>', contentType: 'text/html' },
  { kind: 'malformed', body: '{"data":[{"asset":' },
  null,
  { kind: 'rate_limited', retryAfterS: 3 },
  { kind: 'hang' },
  null,
  { kind: 'credits_exhausted' },
];

const day = (offset: number) => new Date(Date.now() - (offset + 1) * 86_400_000).toISOString().slice(0, 10);
function randomQuery(rand: () => number): string {
  const pick = <T>(list: readonly T[]) => list[Math.floor(rand() * list.length)]!;
  const kind = rand();
  if (kind < 0.45) {
    return `/netflows?window=${pick(['24h', '7d', '30d', '1h'])}&limit=${pick([5, 20, 100, 500])}${pick(['', '&format=csv', '&format=ndjson', '&sort=-trader_count', '&entity=binance,smart_money:fund'])}`;
  }
  if (kind < 0.7) {
    const end = Math.floor(rand() * 200);
    return `/netflows?interval=1d&asset=${pick(['btc', 'eth', 'btc,eth', 'sol', 'usdt_eth'])}&start=${day(end + pick([0, 6, 30, 90]))}&end=${day(end)}&limit=1000`;
  }
  if (kind < 0.9) {
    return `/netflows?source=nansen&window=${pick(['1h', '24h', '7d'])}&chain=${pick(['ethereum', 'solana', 'base', 'ethereum,solana'])}&min_trader_count=${Math.floor(rand() * 5)}&limit=${pick([10, 100])}`;
  }
  return pick(['/catalog', '/netflows?windw=7d', '/netflows?limit=0', '/nope', '/netflows?window=7d&cursor=bogus']);
}

function mulberry(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function untilHealthy(base: string, gateway: ChildProcess): Promise<void> {
  for (let i = 0; i < 150; i++) {
    if (gateway.exitCode !== null) throw new Error('the gateway exited');
    try {
      const response = await request(`${base}/healthz`);
      await response.body.dump();
      if (response.statusCode === 200) return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error('the gateway did not start');
}

async function metrics(base: string): Promise<Record<string, number>> {
  const text = await (await request(`${base}/metrics`, { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })).body.text();
  const pick = (name: string) => Number(/^(\S+) (\S+)$/m.exec(text.split('\n').filter((l) => l.startsWith(`${name} `)).join('\n'))?.[2] ?? NaN);
  return { rssBytes: pick('process_resident_memory_bytes'), loopP99Seconds: pick('nodejs_eventloop_lag_p99_seconds') };
}

async function main(): Promise<void> {
  const cm = await startCoinMetricsSim({ apiKey: CM_KEY });
  const nansen = await startNansenSim({ apiKey: NANSEN_KEY, credits: 100_000_000 });
  const tokens = Array.from({ length: CALLERS }, (_, i) => `soak-token-${i}`);
  const dir = mkdtempSync(join(tmpdir(), 'soak-'));
  const callersFile = join(dir, 'callers.json');
  writeFileSync(callersFile, JSON.stringify(tokens.map((t, i) => ({ name: `caller${i}`, sha256: createHash('sha256').update(t).digest('hex'), rate_limit: '3000/1m' }))));

  const port = await freePort();
  const gateway = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: String(port),
      LOG_LEVEL: 'warn',
      COINMETRICS_API_KEY: CM_KEY,
      COINMETRICS_BASE_URL: cm.url,
      NANSEN_API_KEY: NANSEN_KEY,
      NANSEN_BASE_URL: nansen.url,
      CALLER_TOKENS_FILE: callersFile,
      // Its own embedded history, recording what the soak fetches (not the user's ./data).
      HISTORY_DIR: join(dir, 'history'),
      METRICS_TOKEN,
      CACHE_MAX_MB: String(CACHE_MB),
      UPSTREAM_TIMEOUT_MS: '1500',
      NANSEN_TTL_S: '5',
      COINMETRICS_TTL_S: '10',
      // As deploy/configmap.yaml runs it: the heap bounded to CACHE_MAX_MB + 96 MiB.
      NODE_OPTIONS: `--max-old-space-size=${CACHE_MB + 96} --max-semi-space-size=16`,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  await untilHealthy(base, gateway);
  const agent = new Agent({ connections: CALLERS * 2 });
  const start = await metrics(base);
  process.stderr.write(`soak: ${SECONDS} s, ${CALLERS} callers, gateway on ${base}\n`);

  const statuses = new Map<number, number>();
  let failures = 0;
  let faultIndex = 0;
  // A 429 the simulators sent while the rate_limited fault was on is the fault's, not one the gateway earned.
  const faulted429 = new Set<unknown>();
  const markFaulted = () => {
    for (const sim of [cm, nansen]) for (const r of sim.requests) if (r.status === 429) faulted429.add(r);
  };
  const stopAt = Date.now() + SECONDS * 1000;
  const timeline: string[] = [];
  const toggler = (async () => {
    while (Date.now() < stopAt) {
      await sleep(FAULT_EVERY_S * 1000);
      const fault = faults[++faultIndex % faults.length]!;
      cm.setFault(fault);
      nansen.setFault(fault);
      timeline.push(`${new Date().toISOString().slice(11, 23)} ${fault?.kind ?? 'none'}`);
      if (fault?.kind === 'rate_limited') {
        await sleep(FAULT_EVERY_S * 1000);
        markFaulted();
        const next = faults[++faultIndex % faults.length]!;
        cm.setFault(next);
        nansen.setFault(next);
        timeline.push(`${new Date().toISOString().slice(11, 23)} ${next?.kind ?? 'none'}`);
      }
    }
    cm.setFault(null);
    nansen.setFault(null);
  })();
  const callers = tokens.map(async (token, i) => {
    const rand = mulberry(i + 1);
    while (Date.now() < stopAt) {
      try {
        const response = await request(`${base}${randomQuery(rand)}`, { dispatcher: agent, headers: { authorization: `Bearer ${token}`, 'accept-encoding': rand() < 0.3 ? 'gzip' : 'identity' }, headersTimeout: 60_000, bodyTimeout: 60_000 });
        await response.body.dump();
        statuses.set(response.statusCode, (statuses.get(response.statusCode) ?? 0) + 1);
      } catch {
        failures++;
      }
    }
  });
  await Promise.all([toggler, ...callers]);
  process.stderr.write('soak: traffic done\n');
  const end = await metrics(base);
  const stopping = Date.now();
  const exited = new Promise<number | null>((resolve) => gateway.once('exit', resolve));
  gateway.kill('SIGTERM');
  if (process.env.SOAK_DEBUG) {
    await sleep(3000);
    const { execSync } = await import('node:child_process');
    process.stderr.write(execSync(`ss -tanp | grep pid=${gateway.pid} || true`).toString());
    process.stderr.write(`gateway port ${port}, cm ${cm.url}, nansen ${nansen.url}\n`);
  }
  const exitCode = await exited;
  const shutdownMs = Date.now() - stopping;
  await agent.close();
  await Promise.all([cm.close(), nansen.close()]);

  const byStatus = Object.fromEntries([...statuses].sort(([a], [b]) => a - b));
  const total = [...statuses.values()].reduce((a, b) => a + b, 0);
  const earned = [...cm.requests, ...nansen.requests].filter((r) => r.status === 429 && !faulted429.has(r));
  const upstream429s = earned.length;
  if (process.env.SOAK_DEBUG) {
    for (const r of earned) process.stderr.write(`earned 429: ${r.path} at ${new Date(r.at).toISOString()}\n`);
    process.stderr.write(`fault timeline: ${timeline.join(' | ')}\n`);
  }
  const rssLimitMb = CACHE_MB + 150;
  const report = {
    when: new Date().toISOString(),
    node: process.version,
    seconds: SECONDS,
    callers: CALLERS,
    requests: total,
    requestsPerSecond: Math.round(total / SECONDS),
    byStatus,
    transportFailures: failures,
    fiveHundreds: statuses.get(500) ?? 0,
    upstream429s,
    rssStartMb: Math.round(start.rssBytes! / 1048576),
    rssEndMb: Math.round(end.rssBytes! / 1048576),
    cacheMaxMb: CACHE_MB,
    rssLimitMb,
    eventLoopP99Ms: Math.round(end.loopP99Seconds! * 1000 * 10) / 10,
    upstreamCalls: { coinmetrics: cm.requests.length, nansen: nansen.requests.length },
    gatewayExit: exitCode,
    shutdownMs,
  };
  mkdirSync('.bench', { recursive: true });
  writeFileSync('.bench/soak.json', JSON.stringify(report, null, 2));
  console.log(JSON.stringify(report, null, 2));
  const ok = report.fiveHundreds === 0 && upstream429s === 0 && failures === 0 && report.rssEndMb <= rssLimitMb && exitCode === 0;
  console.log(ok ? 'soak: all goals met' : 'soak: a goal was missed');
  process.exit(ok ? 0 : 1);
}

void main();
