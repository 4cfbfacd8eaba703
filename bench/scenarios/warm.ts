// (w) warm questions: new combinations of filters over upstream data the gateway holds,
// req/s and CPU per request; (s) how that cost grows with the answer's rows and the series'
// days. Every slice asks questions no other slice asked, and must make no upstream call and
// serve no kept answer.
import path from 'node:path';
import { BenchError, guard, type Child } from '../lib/children.js';
import { counts, getOk, stats, type NetflowsBody } from '../lib/http.js';
import { slice, type PathList, type Slice, type Tools } from '../lib/load.js';
import { policy, S } from '../lib/settings.js';
import { anotherRound, chooseRounds, describeRounds, median, medianOrNull, type RoundPolicy } from '../lib/stats.js';
import {
  cmWarmUpPaths,
  CM_SPAN_YEARS,
  CM_YEAR_DAYS,
  distinctQuestions,
  growthQuestion,
  latestCompleteDay,
  NANSEN_WARM_UP_PATH,
  warmQuestion,
  type WarmData,
} from './questions.js';

const DAY_MS = 86_400_000;
const progress = (line: string) => process.stdout.write(`${line}\n`);
/** Questions set aside at the head of every list to sample answers (rows, bytes, all sources hit): the same ones every run. */
const SAMPLE = 100;

/** Fetches the Nansen page and the Coin Metrics span into the gateway at `origin`, whose clock says `now`. */
export async function warmUpData(origin: string, headers: Record<string, string>, now = Date.now()): Promise<WarmData> {
  const nansen = JSON.parse((await getOk(`${origin}${NANSEN_WARM_UP_PATH}`, 'warm-up: Nansen page', headers)).text) as NetflowsBody;
  if (nansen.data.length !== 1000) throw new BenchError(`warm-up: the Nansen page has ${nansen.data.length} rows, not 1000`);
  const occurrences = new Map<string, number>();
  for (const row of nansen.data) occurrences.set(String(row.asset), (occurrences.get(String(row.asset)) ?? 0) + 1);
  const nansenSymbols = [...occurrences].filter(([symbol, n]) => n === 1 && /^[a-z0-9][a-z0-9_.-]{0,63}$/.test(symbol)).map(([symbol]) => symbol);
  if (nansenSymbols.length < 500) throw new BenchError(`warm-up: only ${nansenSymbols.length} distinct symbols in the Nansen page`);
  const latestDay = latestCompleteDay(now);
  for (const cmPath of cmWarmUpPaths(latestDay)) await getOk(`${origin}${cmPath}`, 'warm-up: Coin Metrics span', headers);
  return { nansenSymbols, cmFirstDay: latestDay - (CM_SPAN_YEARS * CM_YEAR_DAYS - 1) * DAY_MS, cmLastDay: latestDay };
}

interface Sampled {
  rows: number;
  bytes: number;
}

/** Asks questions one by one: each must be answered from held data (every source a hit). Mean rows and bytes. */
export async function sample(origin: string, headers: Record<string, string>, questions: readonly string[], what: string): Promise<Sampled> {
  let rows = 0;
  let bytes = 0;
  for (const question of questions) {
    const res = await getOk(`${origin}${question}`, what, headers);
    const body = JSON.parse(res.text) as NetflowsBody;
    if (!body.sources.every((s) => s.cache === null || s.cache === 'hit')) throw new BenchError(`${what}: ${question} was not answered from held data: ${JSON.stringify(body.sources)}`);
    rows += body.data.length;
    bytes += Buffer.byteLength(res.text);
  }
  return { rows: rows / questions.length, bytes: bytes / questions.length };
}

/** A slice of distinct questions, checked: no upstream call, no kept answer served. */
async function warmSlice(tools: Tools, gateway: Child, headers: Record<string, string>, list: PathList, offset: number, count: number, connections: number, durationS: number, what: string): Promise<Slice> {
  const [upstream0, stats0] = [await counts(gateway), await stats(gateway)];
  const result = await guard(slice(tools, { url: gateway.origin, headers, connections, durationS, paths: { list, offset, count }, serverPids: gateway.pids, what }));
  const [upstream1, stats1] = [await counts(gateway), await stats(gateway)];
  const calls = upstream1.cm + upstream1.nansen - upstream0.cm - upstream0.nansen;
  if (calls !== 0) throw new BenchError(`${what}: ${calls} upstream calls: the questions were not all over held data`);
  const kept = stats1.keptAnswers.hit - stats0.keptAnswers.hit;
  if (kept !== 0) throw new BenchError(`${what}: ${kept} answers were kept answers served again: the questions were not all new`);
  return result;
}

/** (w): rounds of the warm mix at S.connections connections. */
export async function scenarioWarm(tools: Tools, gateway: Child, headers: Record<string, string>, data: WarmData, dir: string) {
  const rounds = policy(S.warmRounds);
  const slots = rounds.rounds + rounds.extraRounds + 1;
  const list = distinctQuestions(path.join(dir, 'warm-questions.txt'), slots * S.pathsPerSlice + SAMPLE, 15, data, warmQuestion);
  const sampled = await sample(gateway.origin, headers, list.list.slice(0, SAMPLE), '(w) sample');
  const at = (slot: number) => SAMPLE + slot * S.pathsPerSlice;
  await warmSlice(tools, gateway, headers, list, at(0), S.pathsPerSlice, S.connections, 1, '(w) warm-up');
  const perRound: { slice: Slice; others: number | null }[] = [];
  for (let round = 0; anotherRound(rounds, round, perRound); round++) {
    const s = await warmSlice(tools, gateway, headers, list, at(round + 1), S.pathsPerSlice, S.connections, S.sliceS, '(w) warm questions');
    perRound.push({ slice: s, others: s.otherCpuShare });
    progress(`  round ${round + 1}/${rounds.rounds}: ${Math.round(s.rps)} req/s, ${s.serverCpuUsPerRequest?.toFixed(0) ?? '?'} µs CPU/req, p50 ${s.p50Ms.toFixed(2)} ms`);
  }
  const choice = chooseRounds(rounds, perRound);
  const used = choice.used.map((r) => r.slice);
  return {
    rps: median(used.map((s) => s.rps)),
    cpuUsPerRequest: medianOrNull(used.map((s) => s.serverCpuUsPerRequest)),
    cpuShare: medianOrNull(used.map((s) => s.serverCpuShare)),
    p50Ms: median(used.map((s) => s.p50Ms)),
    p99Ms: median(used.map((s) => s.p99Ms)),
    meanRows: sampled.rows,
    meanBytes: sampled.bytes,
    rounds: describeRounds(rounds, choice, perRound.length),
    quietOnly: choice.quietOnly,
    perRound,
  };
}

export type WarmResult = Awaited<ReturnType<typeof scenarioWarm>>;

/** The growth points: btc's daily series over every exchange (24 of them). */
export const GROWTH_POINTS = [
  { key: 'rows10', axis: 'rows', size: 10, days: 60, limit: 10 },
  { key: 'rows100', axis: 'rows', size: 100, days: 60, limit: 100 },
  { key: 'rows1000', axis: 'rows', size: 1000, days: 60, limit: 1000 },
  { key: 'days30', axis: 'days', size: 30, days: 30, limit: 100 },
  { key: 'days366', axis: 'days', size: 366, days: 366, limit: 100 },
] as const;

type GrowthKey = (typeof GROWTH_POINTS)[number]['key'];

/** (s): CPU per request at each growth point, in interleaved rounds of short slices. */
export async function scenarioGrowth(tools: Tools, gateway: Child, headers: Record<string, string>, data: WarmData, dir: string) {
  const rounds = policy(S.growthRounds);
  const slots = rounds.rounds + rounds.extraRounds + 1;
  const perSlice = Math.ceil(S.pathsPerSlice / 4);
  const lists = new Map<GrowthKey, PathList>();
  const sampled = new Map<GrowthKey, Sampled>();
  for (const [i, point] of GROWTH_POINTS.entries()) {
    const list = distinctQuestions(path.join(dir, `growth-${point.key}.txt`), slots * perSlice + SAMPLE, 100 + i, data, growthQuestion(point.days, point.limit));
    lists.set(point.key, list);
    sampled.set(point.key, await sample(gateway.origin, headers, list.list.slice(0, SAMPLE), `(s) ${point.key} sample`));
  }
  const run = (key: GrowthKey, slot: number, durationS: number) =>
    warmSlice(tools, gateway, headers, lists.get(key)!, SAMPLE + slot * perSlice, perSlice, S.growthConnections, durationS, `(s) growth ${key}`);
  for (const point of GROWTH_POINTS) await run(point.key, 0, 1);
  const perRound: { slices: Record<GrowthKey, Slice>; others: number | null }[] = [];
  for (let round = 0; anotherRound(rounds, round, perRound); round++) {
    const slices = {} as Record<GrowthKey, Slice>;
    for (let i = 0; i < GROWTH_POINTS.length; i++) {
      const point = GROWTH_POINTS[(i + round) % GROWTH_POINTS.length]!;
      slices[point.key] = await run(point.key, round + 1, S.growthSliceS);
    }
    const shares = Object.values(slices).map((s) => s.otherCpuShare);
    perRound.push({ slices, others: shares.every((x): x is number => x !== null) ? Math.max(...shares) : null });
    progress(`  round ${round + 1}/${rounds.rounds}: ${GROWTH_POINTS.map((p) => `${p.key} ${slices[p.key].serverCpuUsPerRequest?.toFixed(0) ?? '?'} µs`).join(', ')}`);
  }
  return summariseGrowth(rounds, perRound, sampled);
}

function summariseGrowth(rounds: RoundPolicy, perRound: { slices: Record<GrowthKey, Slice>; others: number | null }[], sampled: Map<GrowthKey, Sampled>) {
  const choice = chooseRounds(rounds, perRound);
  const points = GROWTH_POINTS.map((point) => ({
    ...point,
    cpuUsPerRequest: medianOrNull(choice.used.map((r) => r.slices[point.key].serverCpuUsPerRequest)),
    rps: median(choice.used.map((r) => r.slices[point.key].rps)),
    meanRows: sampled.get(point.key)!.rows,
    meanBytes: sampled.get(point.key)!.bytes,
  }));
  const cost = (key: GrowthKey) => points.find((p) => p.key === key)!;
  const exponents = [
    growthExponent(cost('rows10'), cost('rows100')),
    growthExponent(cost('rows100'), cost('rows1000')),
    growthExponent(cost('days30'), cost('days366')),
  ];
  return { points, exponents, rounds: describeRounds(rounds, choice, perRound.length), quietOnly: choice.quietOnly, perRound };
}

/**
 * How cost grows from one point to the next: log(cost ratio) ÷ log(size ratio). 1 is linear
 * growth, less is better than linear (fixed costs), more is worse (e.g. sorting n rows).
 */
export function growthExponent(from: { key: string; size: number; cpuUsPerRequest: number | null }, to: { key: string; size: number; cpuUsPerRequest: number | null }) {
  const exponent = from.cpuUsPerRequest !== null && to.cpuUsPerRequest !== null ? Math.log(to.cpuUsPerRequest / from.cpuUsPerRequest) / Math.log(to.size / from.size) : null;
  return { from: from.key, to: to.key, exponent };
}

export type GrowthResult = Awaited<ReturnType<typeof scenarioGrowth>>;
