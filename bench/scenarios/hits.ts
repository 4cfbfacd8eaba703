// (a) the gateway's cache hit against (b) bare Fastify, (c) bare node:http, (n) nginx
// proxy_cache and (v) Varnish serving the same bytes, in interleaved slices at 50
// connections; and (d) the same at one connection.
import { BenchError, guard, type Child } from '../lib/children.js';
import { cacheStatusAllHit, getOk, stats, type NetflowsBody } from '../lib/http.js';
import { oneConnectionLoop, slice, type Slice, type Tools } from '../lib/load.js';
import { othersMeter } from '../lib/proc.js';
import { HIT_PATH, policy, S } from '../lib/settings.js';
import { anotherRound, chooseRounds, describeRounds, median, medianOrNull, type RoundPolicy } from '../lib/stats.js';

export type HitKey = 'a' | 'b' | 'c' | 'n' | 'v';

export const HIT_LABEL: Record<HitKey, string> = {
  a: '(a) gateway hit',
  b: '(b) bare Fastify',
  c: '(c) bare node:http',
  n: '(n) nginx proxy_cache hit',
  v: '(v) Varnish hit',
};

export interface HitTarget {
  key: HitKey;
  child: Child;
}

const progress = (line: string) => process.stdout.write(`${line}\n`);
const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
export const pctOf = (share: number | null) => (share === null ? '?' : `${Math.round(share * 100)}%`);

/** Asks for the hit path until the answer has 100 rows and every source says `hit`; returns that body. */
export async function warmHit(gateway: Child, headers: Record<string, string>): Promise<string> {
  const url = `${gateway.origin}${HIT_PATH}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await getOk(url, 'warming the hit', headers);
    const body = JSON.parse(res.text) as NetflowsBody;
    if (body.data.length !== 100) throw new BenchError(`warming the hit: ${body.data.length} rows instead of 100`);
    const sourcesHit = body.sources.length > 0 && body.sources.every((s) => s.cache === 'hit');
    if (sourcesHit && cacheStatusAllHit(res.headers['cache-status'])) return res.text;
    if (Date.now() > deadline) throw new BenchError(`warming the hit: still not a hit after 30 s (cache-status: ${String(res.headers['cache-status'])})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface HitSummary {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  bytes: number;
  serverCpuUsPerRequest: number | null;
  serverCpuShare: number | null;
  loadCpuShare: number | null;
  otherCpuShare: number | null;
}

interface HitRound {
  round: number;
  order: HitKey[];
  slices: Partial<Record<HitKey, Slice>>;
  others: number | null;
}

/**
 * The gateway's count of /netflows answers once it stops moving: requests of the previous
 * slice still in flight when wrk left are answered (and counted) after it.
 */
async function settledCount(gateway: Child): Promise<number> {
  let last = (await stats(gateway)).netflowsAnswered;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    const now = (await stats(gateway)).netflowsAnswered;
    if (now === last) return now;
    last = now;
  }
}

/**
 * Rounds of one slice per target, in an order rotated every round. A peer's slice must not
 * reach the gateway: its count of /netflows answers is the same before and after.
 */
export async function scenarioHits(tools: Tools, gateway: Child, targets: HitTarget[], headers: Record<string, string>) {
  const rounds = policy(S.rounds);
  const keys = targets.map((t) => t.key);
  const byKey = new Map(targets.map((t) => [t.key, t]));
  /** Requests each target answered in every slice, warm-up included: what its access log must have lines for. */
  const answered: Partial<Record<HitKey, number>> = {};
  const run = async (key: HitKey, durationS: number) => {
    const target = byKey.get(key)!;
    const before = key === 'a' ? undefined : await settledCount(gateway);
    const result = await guard(
      slice(tools, { url: `${target.child.origin}${HIT_PATH}`, headers, connections: S.connections, durationS, serverPids: target.child.pids, what: HIT_LABEL[key] }),
    );
    const after = key === 'a' ? undefined : (await stats(gateway)).netflowsAnswered;
    if (before !== after) throw new BenchError(`${HIT_LABEL[key]}: the gateway answered ${after! - before!} requests during the slice: not all hits of ${key}`);
    answered[key] = (answered[key] ?? 0) + result.requests;
    return result;
  };
  for (const key of keys) await run(key, 1);
  const perRound: HitRound[] = [];
  for (let round = 0; anotherRound(rounds, round, perRound); round++) {
    const order = keys.map((_, i) => keys[(i + round) % keys.length]!);
    const slices: HitRound['slices'] = {};
    for (const key of order) slices[key] = await run(key, S.sliceS);
    const shares = order.map((k) => slices[k]!.otherCpuShare);
    const others = shares.every((x): x is number => x !== null) ? Math.max(...shares) : null;
    perRound.push({ round, order, slices, others });
    progress(
      `  round ${String(round + 1).padStart(2)}/${S.rounds}${round >= S.rounds ? ' (extra)' : ''} [${order.join('')}]  ` +
        keys.map((k) => `${k} ${fmtInt(slices[k]!.rps).padStart(6)}/s ${slices[k]!.serverCpuUsPerRequest?.toFixed(0) ?? '?'}µs`).join(' | ') +
        ` | others ${pctOf(others)}${others !== null && others > S.quietCores ? ' (not quiet)' : ''}`,
    );
  }
  return { ...summarise(rounds, keys, perRound), answered };
}

function summarise(rounds: RoundPolicy, keys: HitKey[], perRound: HitRound[]) {
  const choice = chooseRounds(rounds, perRound);
  const summary: Partial<Record<HitKey, HitSummary>> = {};
  for (const key of keys) {
    const s = choice.used.map((r) => r.slices[key]!);
    summary[key] = {
      rps: median(s.map((x) => x.rps)),
      p50Ms: median(s.map((x) => x.p50Ms)),
      p99Ms: median(s.map((x) => x.p99Ms)),
      bytes: median(s.map((x) => x.bytesPerResponse)),
      serverCpuUsPerRequest: medianOrNull(s.map((x) => x.serverCpuUsPerRequest)),
      serverCpuShare: medianOrNull(s.map((x) => x.serverCpuShare)),
      loadCpuShare: medianOrNull(s.map((x) => x.loadCpuShare)),
      otherCpuShare: medianOrNull(s.map((x) => x.otherCpuShare)),
    };
  }
  // The hit's req/s over each baseline's, per round; the median of the rounds is the figure.
  const ratios: Partial<Record<HitKey, number[]>> = {};
  for (const key of keys.filter((k) => k !== 'a')) ratios[key] = choice.used.map((r) => r.slices.a!.rps / r.slices[key]!.rps);
  const ratio = Object.fromEntries(Object.entries(ratios).map(([k, v]) => [k, median(v)])) as Partial<Record<HitKey, number>>;
  return { summary, ratio, ratios, rounds: describeRounds(rounds, choice, perRound.length), quietOnly: choice.quietOnly, perRound };
}

export type HitsResult = Awaited<ReturnType<typeof scenarioHits>>;

/** (d): one connection, one request at a time, for (a)(b)(c): p50 of the hit minus p50 of node:http. */
export async function scenarioD(origins: Record<'a' | 'b' | 'c', string>, headers: Record<string, string>) {
  const rounds = policy(S.rounds);
  const keys = ['a', 'b', 'c'] as const;
  type One = { p50Us: number; p99Us: number; rps: number };
  const perRound: { results: Record<'a' | 'b' | 'c', One>; others: number | null }[] = [];
  for (const key of keys) await guard(oneConnectionLoop(origins[key], HIT_PATH, headers, 0.5, `warm-up ${HIT_LABEL[key]}, one connection`));
  for (let round = 0; anotherRound(rounds, round, perRound); round++) {
    const order = keys.map((_, i) => keys[(i + round) % keys.length]!);
    const results = {} as Record<'a' | 'b' | 'c', One>;
    const others = othersMeter();
    for (const key of order) {
      const r = await guard(oneConnectionLoop(origins[key], HIT_PATH, headers, S.oneConnSliceS, `${HIT_LABEL[key]}, one connection`));
      results[key] = { p50Us: r.p50Us, p99Us: r.p99Us, rps: r.rps };
    }
    perRound.push({ results, others: others() });
  }
  const choice = chooseRounds(rounds, perRound);
  const med = (key: 'a' | 'b' | 'c', field: keyof One) => median(choice.used.map((r) => r.results[key][field]));
  const p50 = { a: med('a', 'p50Us'), b: med('b', 'p50Us'), c: med('c', 'p50Us') };
  return {
    p50Us: p50,
    p99Us: { a: med('a', 'p99Us'), b: med('b', 'p99Us'), c: med('c', 'p99Us') },
    rps: { a: med('a', 'rps'), b: med('b', 'rps'), c: med('c', 'rps') },
    deltaUs: p50.a - p50.c,
    deltaPerRoundUs: choice.used.map((r) => r.results.a.p50Us - r.results.c.p50Us),
    rounds: describeRounds(rounds, choice, perRound.length),
    quietOnly: choice.quietOnly,
    perRound,
  };
}
