// `npm run bench`: the orchestrator. Every server under test runs in a child process
// (bench/target.ts, nginx, Varnish); load comes from wrk (pinned to its own CPU) where it is
// installed, else from autocannon in this process. See bench/README.md for each scenario:
//   (a)(b)(c)(n)(v) the gateway's hit against bare Fastify, bare node:http, nginx and Varnish
//   (d) one connection: p50 of a hit minus p50 of (c)
//   (w) warm questions; (s) how their cost grows with rows and days
//   (e) a miss at one connection; (f) 100 identical cold requests; (g) RSS with the cache full
//   (h) a replica answering from Redis against one answering from its memory
//
// Exit 0 when the bench ran (targets missed are reported as MISS); 1 when the bench itself failed.
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { sha256 } from '../src/auth/callers.js';
import { BenchError, guard, ROOT, startChild, stopAll, stopChild, type Child } from './lib/children.js';
import { counts, getOk } from './lib/http.js';
import { detectTools, SERVER_CPU, type Tools } from './lib/load.js';
import { HIT_PATH, S, WARM_SIMULATOR } from './lib/settings.js';
import { countLines, detectPeers, startNginx, startVarnish, stopPeer, warmPeer, type Peer, type PeerAvailability } from './peers.js';
import { report, type Results } from './report.js';
import { scenarioG } from './scenarios/fill.js';
import { scenarioD, scenarioHits, warmHit, type HitKey, type HitTarget } from './scenarios/hits.js';
import { scenarioE, scenarioF } from './scenarios/miss.js';
import { scenarioShared } from './scenarios/shared-tier.js';
import { scenarioGrowth, scenarioWarm, warmUpData } from './scenarios/warm.js';

const OUT_DIR = path.join(ROOT, '.bench');
const PROFILE_DIR = path.join(OUT_DIR, 'cpu-prof');
const progress = (line: string) => process.stdout.write(`${line}\n`);

/** Scenario groups; BENCH_ONLY=w,s (say) runs only those. */
const GROUPS = ['hits', 'd', 'w', 's', 'e', 'f', 'g', 'h'] as const;
type Group = (typeof GROUPS)[number];

function selectedGroups(): Set<Group> {
  const raw = process.env.BENCH_ONLY?.trim();
  if (!raw) return new Set(GROUPS);
  const asked = raw.split(',').map((g) => g.trim());
  const unknown = asked.filter((g) => !(GROUPS as readonly string[]).includes(g));
  if (unknown.length > 0) throw new BenchError(`BENCH_ONLY: unknown ${unknown.join(', ')}; the groups are ${GROUPS.join(', ')}`);
  return new Set(asked as Group[]);
}

/**
 * Every gateway runs as a caller relies on it: caller tokens (a quota that never refuses
 * here) and a log line per request; BENCH_PLAIN_GATEWAY=1 turns both off, to see what they cost.
 */
interface GatewaySetup {
  plain: boolean;
  headers: Record<string, string>;
  env: (name: string) => Record<string, string>;
  logFile: (name: string) => string;
}

function gatewaySetup(dir: string): GatewaySetup {
  const logFile = (name: string) => path.join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.log`);
  if (S.plainGateway) return { plain: true, headers: {}, env: () => ({}), logFile };
  const token = randomBytes(24).toString('base64url');
  const file = path.join(dir, 'callers.json');
  // One caller, as a dashboard would have; 1,000,000 a second so the quota is checked and counted on every request but never refuses.
  writeFileSync(file, JSON.stringify([{ name: 'bench', sha256: sha256(token).toString('hex'), rate_limit: '1000000/1s' }]));
  return {
    plain: false,
    headers: { authorization: `Bearer ${token}` },
    env: (name) => ({ BENCH_CALLER_TOKENS_FILE: file, BENCH_LOG_FILE: logFile(name) }),
    logFile,
  };
}

/** BENCH_CPU_PROF=1: every node child writes V8 profiles into .bench/cpu-prof/<name>/ when it exits. */
const profileArgs = (name: string) => (S.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.join(PROFILE_DIR, name)}`] : []);
const gatewayArgs = (name: string) => [...S.gatewayNodeArgs, ...profileArgs(name)];

/** nginx -v prints to stderr, varnishd -V to stdout. */
function versionOf(binary: string, args: string[], pattern: RegExp): string {
  const { stdout, stderr } = spawnSync(binary, args, { encoding: 'utf8' });
  return pattern.exec(`${stdout}${stderr}`)?.[1] ?? '?';
}

async function startPeers(available: PeerAvailability, dir: string, gateway: Child, cpu: number | undefined): Promise<Peer[]> {
  const peers: Peer[] = [];
  if (available.nginx) peers.push(await startNginx(available.nginx, dir, gateway.port, cpu));
  if (available.varnishd && available.varnishncsa) peers.push(await startVarnish(available.varnishd, available.varnishncsa, dir, gateway.port, cpu));
  return peers;
}

/** (a)(b)(c)(n)(v) and (d) on the gateway `gw`; bare servers and peers are started and stopped here. */
async function hitPhase(tools: Tools, gw: Child, setup: GatewaySetup, groups: Set<Group>, dir: string, results: Results) {
  const cpu = tools.pinned ? SERVER_CPU : undefined;
  const hitBody = await guard(warmHit(gw, setup.headers));
  const bodyFile = path.join(dir, 'hit.json');
  writeFileSync(bodyFile, hitBody);
  const fastify = await startChild('fastify', 'fastify', { BENCH_BODY_FILE: bodyFile }, profileArgs('fastify'), cpu);
  const node = await startChild('node', 'node', { BENCH_BODY_FILE: bodyFile }, profileArgs('node'), cpu);
  for (const [child, what] of [[fastify, '(b)'], [node, '(c)']] as const) {
    if ((await getOk(`${child.origin}${HIT_PATH}`, what)).text !== hitBody) throw new BenchError(`${what} does not serve the hit's bytes`);
  }
  const peers = groups.has('hits') ? await startPeers(detectPeers(), dir, gw, cpu) : [];
  for (const peer of peers) await warmPeer(peer, HIT_PATH, setup.headers, hitBody);
  progress(`hit body: ${Buffer.byteLength(hitBody)} bytes, 100 rows, every source a hit; ${['gateway', 'fastify', 'node', ...peers.map((p) => p.child.name)].join(', ')} ready`);

  const upstream0 = await counts(gw);
  if (groups.has('hits')) {
    const targets: HitTarget[] = [
      { key: 'a', child: gw },
      { key: 'b', child: fastify },
      { key: 'c', child: node },
      ...peers.map((peer) => ({ key: peer.key as HitKey, child: peer.child })),
    ];
    const logs = [...(setup.plain ? [] : [{ key: 'a', file: setup.logFile('gateway') }]), ...peers.map((p) => ({ key: p.key, file: p.accessLog }))];
    const lines0 = await Promise.all(logs.map((l) => countLines(l.file)));
    progress(`(a)(b)(c)${peers.map((p) => `(${p.key})`).join('')}: ${S.rounds} rounds (+ up to ${S.extraRounds} while too few are quiet) of ${S.sliceS} s slices, ${S.connections} connections, order rotated each round`);
    results.hits = await scenarioHits(tools, gw, targets, setup.headers);
    // Give the asynchronous loggers (pino, varnishncsa) a moment to write their last lines.
    await new Promise((r) => setTimeout(r, 500));
    const lines1 = await Promise.all(logs.map((l) => countLines(l.file)));
    results.accessLines = logs.map((l, i) => ({
      key: l.key,
      lines: lines1[i]! - lines0[i]!,
      requests: results.hits!.answered[l.key as HitKey] ?? 0,
    }));
    const gatewayLines = results.accessLines.find((l) => l.key === 'a');
    if (gatewayLines && gatewayLines.lines < gatewayLines.requests) throw new BenchError(`(a): the gateway logged ${gatewayLines.lines} lines for ${gatewayLines.requests} requests: it must log every one`);
  }
  if (groups.has('d')) {
    progress(`(d): ${S.rounds} rounds of ${S.oneConnSliceS} s one-connection slices (undici Pool, hrtime per request)`);
    results.d = await scenarioD({ a: gw.origin, b: fastify.origin, c: node.origin }, setup.headers);
  }
  const upstream1 = await counts(gw);
  const calls = upstream1.cm + upstream1.nansen - upstream0.cm - upstream0.nansen;
  if (calls !== 0) throw new BenchError(`${calls} upstream calls during the hit scenarios: (a) was not all hits`);
  if ((await getOk(`${gw.origin}${HIT_PATH}`, 'hit check', setup.headers)).text !== hitBody) throw new BenchError('the hit body changed during the run');
  await Promise.all([stopChild(fastify), stopChild(node), ...peers.map(stopPeer)]);
}

async function warmPhase(tools: Tools, gw: Child, setup: GatewaySetup, groups: Set<Group>, dir: string, results: Results) {
  const data = await guard(warmUpData(gw.origin, setup.headers));
  progress(`warm data held: a 1000-row Nansen page (${data.nansenSymbols.length} symbols once each) and Coin Metrics btc, eth × 24 exchanges × ${(data.cmLastDay - data.cmFirstDay) / 86_400_000 + 1} days`);
  if (groups.has('w')) {
    progress(`(w): ${S.warmRounds} rounds of ${S.sliceS} s slices of distinct warm questions, ${S.connections} connections`);
    results.warm = await scenarioWarm(tools, gw, setup.headers, data, dir);
  }
  if (groups.has('s')) {
    progress(`(s): ${S.growthRounds} rounds of ${S.growthSliceS} s slices per growth point, ${S.growthConnections} connections`);
    results.growth = await scenarioGrowth(tools, gw, setup.headers, data, dir);
  }
}

/** (e) and (f) on a gateway whose simulators answer in 20 ms from a process of their own. */
async function missPhase(setup: GatewaySetup, groups: Set<Group>, results: Results) {
  const sims = await startChild('sims-20ms', 'sims', { BENCH_SIM_LATENCY_MS: String(S.simLatencyMs) });
  const gw20 = await startChild(
    'gateway-20ms',
    'gateway',
    { ...setup.env('gateway-20ms'), BENCH_UPSTREAMS: JSON.stringify(sims.upstreams), BENCH_BUDGET_MAX_WAIT_MS: '0', BENCH_TRACE: '1' },
    gatewayArgs('gateway-20ms'),
  );
  if (groups.has('e')) {
    progress(`(e): ${S.missRounds} rounds × ${S.missPerRound} sequential misses via the gateway, as many direct simulator calls and as many through a bare node:http proxy (simulators at ${S.simLatencyMs} ms)`);
    results.miss = await scenarioE(gw20, sims, setup.headers);
  }
  if (groups.has('f')) results.cold20 = await scenarioF(gw20, sims, COLD_PATH, setup.headers);
  await Promise.all([stopChild(gw20), stopChild(sims)]);
}

const COLD_PATH = '/netflows?window=30d&limit=100&asset=btc,eth,sol';

/** (g): a gateway with a small cache, its simulators in a process of their own so their memory is not charged to it. */
async function fillPhase(setup: GatewaySetup, results: Results) {
  const sims = await startChild('sims', 'sims', { BENCH_SIM_LATENCY_MS: '0' });
  // As deployed (deploy/configmap.yaml): the V8 heap bounded to CACHE_MAX_MB + 96 MiB, with small semi-spaces.
  const heapFlags = [`--max-old-space-size=${S.cacheMb + 96}`, '--max-semi-space-size=16'];
  const gwSmall = await startChild(
    'gateway-small',
    'gateway',
    { ...setup.env('gateway-small'), CACHE_MAX_MB: String(S.cacheMb), BENCH_UPSTREAMS: JSON.stringify(sims.upstreams) },
    ['--expose-gc', ...heapFlags, ...gatewayArgs('gateway-small')],
  );
  progress(`(g): filling a CACHE_MAX_MB=${S.cacheMb} gateway with distinct questions, ${S.fillConcurrency} at a time (at most ${S.fillTimeoutS} s)`);
  results.fill = await scenarioG(gwSmall, sims, setup.headers);
  await Promise.all([stopChild(gwSmall), stopChild(sims)]);
}

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

function describeSetup(tools: Tools, available: PeerAvailability, versions: Results['versions']): string[] {
  const lines = [
    tools.generator === 'wrk'
      ? `load: wrk -t1 (${tools.wrk})${tools.pinned ? `, pinned to CPU 1; servers under test pinned to CPU ${SERVER_CPU} (taskset)` : ', not pinned (no taskset or one CPU)'}`
      : `load: autocannon in this process, servers not pinned (${S.autocannon ? 'BENCH_GENERATOR=autocannon' : 'wrk is not installed: apt-get install wrk'}; autocannon saturates its own core before a fast server does)`,
  ];
  if (available.nginx) lines.push(`peer: nginx ${versions.nginx}, one worker, proxy_cache, access_log on`);
  if (available.varnishd && available.varnishncsa) lines.push(`peer: Varnish ${versions.varnish}, malloc 64 MB, varnishncsa writing the access log`);
  return [...lines, ...available.missing.map((m) => `NOTE: ${m}`)];
}

async function main(): Promise<number> {
  const began = Date.now();
  const groups = selectedGroups();
  const tools = detectTools(S.autocannon);
  const available = detectPeers();
  const workDir = mkdtempSync(path.join(tmpdir(), 'netflows-bench-'));
  const setup = gatewaySetup(workDir);
  const rev = revision();
  progress(`netflows-gateway bench at ${rev}: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); groups ${[...groups].join(' ')}`);
  if (setup.plain) progress('BENCH_PLAIN_GATEWAY=1: the gateways run without caller tokens and with their log off');
  const versions = {
    nginx: available.nginx ? versionOf(available.nginx, ['-v'], /nginx\/(\S+)/) : undefined,
    varnish: available.varnishd ? versionOf(available.varnishd, ['-V'], /varnish-(\S+)/) : undefined,
  };
  for (const line of describeSetup(tools, available, versions)) progress(line);
  const results: Results = { tools, versions };
  try {
    if (['hits', 'd', 'w', 's', 'f'].some((g) => groups.has(g as Group))) {
      // The hit gateway (simulators in-process at 0 ms), pinned with every server under load.
      const env = { ...setup.env('gateway'), ...WARM_SIMULATOR, BENCH_SIM_LATENCY_MS: '0' };
      const gw = await startChild('gateway', 'gateway', env, gatewayArgs('gateway'), tools.pinned ? SERVER_CPU : undefined);
      if (groups.has('hits') || groups.has('d')) await hitPhase(tools, gw, setup, groups, workDir, results);
      if (groups.has('w') || groups.has('s')) await warmPhase(tools, gw, setup, groups, workDir, results);
      if (groups.has('f')) {
        progress('(f): 100 concurrent identical cold requests');
        results.cold0 = await scenarioF(gw, gw, COLD_PATH, setup.headers);
      }
      await stopChild(gw);
    }
    if (groups.has('e') || groups.has('f')) await missPhase(setup, groups, results);
    if (groups.has('g')) await fillPhase(setup, results);
    if (groups.has('h')) {
      progress(`(h): replica A fetches ${S.sharedQuestions} distinct Nansen questions; in ${S.sharedRounds} rounds, A answers them again from its memory and B from Redis, in turns`);
      results.shared = await scenarioShared(setup.env('gateway-shared'), setup.headers, gatewayArgs);
    }
    const seconds = (Date.now() - began) / 1000;
    progress('');
    progress(report(results));
    progress(`\nbench took ${seconds.toFixed(0)} s; results in .bench/results.json`);
    mkdirSync(OUT_DIR, { recursive: true });
    const json = { when: new Date().toISOString(), revision: rev, node: process.version, cpus: cpus().length, settings: S, seconds, ...results };
    writeFileSync(path.join(OUT_DIR, 'results.json'), `${JSON.stringify(json, null, 2)}\n`);
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
