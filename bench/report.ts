// The bench's table (measured value, load generator, target, PASS/MISS) and its notes.
import type { Tools } from './lib/load.js';
import { S, TARGETS } from './lib/settings.js';
import type { FillResult } from './scenarios/fill.js';
import { HIT_LABEL, pctOf, type HitKey, type HitsResult, type scenarioD } from './scenarios/hits.js';
import type { ColdResult, MissResult } from './scenarios/miss.js';
import type { SharedResult } from './scenarios/shared-tier.js';
import type { GrowthResult, WarmResult } from './scenarios/warm.js';

export interface Results {
  tools: Tools;
  versions: { nginx?: string | undefined; varnish?: string | undefined };
  hits?: HitsResult;
  /** Access-log lines written during the hit rounds, against the requests the load generator counted. */
  accessLines?: { key: string; lines: number; requests: number }[];
  d?: Awaited<ReturnType<typeof scenarioD>>;
  warm?: WarmResult;
  growth?: GrowthResult;
  miss?: MissResult;
  cold0?: ColdResult;
  cold20?: ColdResult;
  fill?: FillResult;
  shared?: SharedResult;
}

const MB = 1024 * 1024;
const fmtInt = (n: number) => Math.round(n).toLocaleString('en-US');
const ms = (n: number) => `${n.toFixed(2)} ms`;
const us = (n: number | null) => (n === null ? '?' : `${n.toFixed(1)} µs`);
/** PASS or MISS; with a `*` when the figure comes from a machine busy with other work (see the warning). */
const verdict = (ok: boolean, reliable = true) => `${ok ? 'PASS' : 'MISS'}${reliable ? '' : ' *'}`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

function load(tools: Tools, connections: number): string {
  return tools.generator === 'wrk' ? `wrk c=${connections}${tools.pinned ? ' (CPU 1)' : ''}` : `autocannon c=${connections}`;
}

function targetLabel(key: HitKey, r: Results): string {
  if (key === 'a') return S.plainGateway ? '(a) gateway hit (no token, no log)' : '(a) gateway hit (token, quota, log)';
  if (key === 'n') return `(n) nginx ${r.versions.nginx ?? ''} proxy_cache hit`;
  if (key === 'v') return `(v) Varnish ${r.versions.varnish ?? ''} hit`;
  return HIT_LABEL[key];
}

function hitRows(r: Results, hits: HitsResult): string[][] {
  const rows: string[][] = [];
  const keys = Object.keys(hits.summary) as HitKey[];
  for (const key of keys) {
    const s = hits.summary[key]!;
    rows.push([
      targetLabel(key, r),
      load(r.tools, S.connections),
      `${fmtInt(s.rps)} req/s, p50 ${ms(s.p50Ms)}, p99 ${ms(s.p99Ms)}; server ${us(s.serverCpuUsPerRequest)} CPU/req, ${pctOf(s.serverCpuShare)} of a core`,
      '',
      '',
    ]);
  }
  const ratioRow = (key: HitKey, name: string, target: number | undefined) => {
    const value = hits.ratio[key];
    if (value === undefined) return;
    rows.push([`${name} (median of per-round ratios)`, '', value.toFixed(3), target === undefined ? '' : `≥ ${target.toFixed(2)}`, target === undefined ? '' : verdict(value >= target, hits.quietOnly)]);
  };
  ratioRow('n', 'a/n hit ÷ nginx', TARGETS.hitVsNginx);
  ratioRow('c', 'a/c hit ÷ node:http', TARGETS.hitVsNode);
  ratioRow('b', 'a/b hit ÷ Fastify', TARGETS.hitVsFastify);
  ratioRow('v', 'a/v hit ÷ Varnish', undefined);
  return rows;
}

function warmRows(r: Results): string[][] {
  const rows: string[][] = [];
  const w = r.warm;
  if (w) {
    const ok = w.rps >= TARGETS.warmRps && w.cpuUsPerRequest !== null && w.cpuUsPerRequest <= TARGETS.warmCpuUs;
    rows.push([
      `(w) warm questions (${w.meanRows.toFixed(0)} rows, ${(w.meanBytes / 1024).toFixed(1)} KB avg)`,
      load(r.tools, S.connections),
      `${fmtInt(w.rps)} req/s, ${us(w.cpuUsPerRequest)} CPU/req, p50 ${ms(w.p50Ms)}, p99 ${ms(w.p99Ms)}`,
      `≥ ${fmtInt(TARGETS.warmRps)} req/s, ≤ ${TARGETS.warmCpuUs} µs`,
      verdict(ok, w.quietOnly),
    ]);
  }
  const g = r.growth;
  if (g) {
    const cost = (key: string) => us(g.points.find((p) => p.key === key)!.cpuUsPerRequest);
    const exp = (i: number) => g.exponents[i]!.exponent;
    const ok = (...i: number[]) => i.every((k) => exp(k) !== null && exp(k)! <= TARGETS.growthExponent);
    const fmtExp = (i: number) => exp(i)?.toFixed(2) ?? '?';
    rows.push([
      '(s) CPU/req by rows: 10 / 100 / 1000',
      load(r.tools, S.growthConnections),
      `${cost('rows10')} / ${cost('rows100')} / ${cost('rows1000')} (growth exponents ${fmtExp(0)}, ${fmtExp(1)})`,
      `≤ ${TARGETS.growthExponent} (linear = 1)`,
      verdict(ok(0, 1), g.quietOnly),
    ]);
    rows.push([
      '(s) CPU/req by series days: 30 / 366',
      load(r.tools, S.growthConnections),
      `${cost('days30')} / ${cost('days366')} (growth exponent ${fmtExp(2)})`,
      `≤ ${TARGETS.growthExponent} (linear = 1)`,
      verdict(ok(2), g.quietOnly),
    ]);
  }
  return rows;
}

function otherRows(r: Results): string[][] {
  const rows: string[][] = [];
  if (r.d) {
    const d = r.d;
    rows.push([
      '(d) 1-conn p50: hit − node:http',
      'undici c=1',
      `${d.deltaUs.toFixed(1)} µs (${d.p50Us.a.toFixed(1)} − ${d.p50Us.c.toFixed(1)}; Fastify ${d.p50Us.b.toFixed(1)})`,
      `≤ ${TARGETS.dUs} µs`,
      verdict(d.deltaUs <= TARGETS.dUs, d.quietOnly),
    ]);
  }
  if (r.miss) {
    const e = r.miss;
    rows.push(['(e) 1-conn p50: miss − simulator', 'undici c=1', `${e.addedMs.toFixed(3)} ms (${e.gatewayP50Ms.toFixed(3)} − ${e.simP50Ms.toFixed(3)})`, `≤ ${TARGETS.eMs} ms`, verdict(e.addedMs <= TARGETS.eMs, e.quietOnly)]);
    rows.push(['(e) floor: a bare node:http proxy hop − simulator', 'undici c=1', `${e.proxyAddedMs.toFixed(3)} ms (the same upstream call, no work around it)`, '', '']);
    const own = e.inGateway?.ownP50Us;
    rows.push(['(e) the gateway\'s own work per miss', 'undici c=1', `${own != null ? `${(own / 1000).toFixed(3)} ms p50 inside the gateway; ` : ''}${us(e.gatewayCpuUsPerMiss)} CPU/miss`, '', '']);
  }
  if (r.cold0 || r.cold20) {
    const all = [r.cold0, r.cold20].filter((x): x is ColdResult => x !== undefined);
    const calls = all.flatMap((c) => [c.cmCalls, c.nansenCalls]);
    const part = (name: string, c: ColdResult | undefined) => (c ? `${name}: CM ${c.cmCalls}, Nansen ${c.nansenCalls}` : '');
    rows.push([
      '(f) upstream calls, 100 cold',
      'undici c=100',
      [part('0 ms sims', r.cold0), part('20 ms sims', r.cold20)].filter(Boolean).join('; '),
      `= ${TARGETS.f} each`,
      verdict(calls.every((c) => c === TARGETS.f)),
    ]);
  }
  if (r.fill) {
    const g = r.fill;
    const target = S.cacheMb + TARGETS.gExtraMb;
    rows.push([
      `(g) RSS, CACHE_MAX_MB=${S.cacheMb}`,
      `undici c=${S.fillConcurrency}`,
      `${g.rssMb.toFixed(0)} MB (cache ${(g.cacheBytes / MB).toFixed(1)} of ${(g.upstreamCacheBoundBytes / MB).toFixed(1)} MB, ${g.cacheEntries} entries; peak RSS ${g.maxRssMb.toFixed(0)} MB)`,
      `≤ ${target} MB`,
      verdict(g.rssMb <= target),
    ]);
  }
  if (r.shared) {
    const h = r.shared;
    rows.push([
      '(h) Redis tier ÷ memory, req/s (median of per-round ratios)',
      'undici c=16',
      `${h.ratio.toFixed(2)} (${fmtInt(h.shared.rps)} vs ${fmtInt(h.memory.rps)} req/s; p50 ${(h.shared.p50Us / 1000).toFixed(2)} vs ${(h.memory.p50Us / 1000).toFixed(2)} ms)`,
      `≥ ${TARGETS.redisVsMemory}`,
      verdict(h.ratio >= TARGETS.redisVsMemory),
    ]);
  }
  return rows;
}

function notes(r: Results): string[] {
  const out: string[] = [];
  const h = r.hits;
  if (h) {
    const keys = Object.keys(h.summary) as HitKey[];
    const cpu = (k: HitKey) => h.summary[k]!.serverCpuUsPerRequest;
    const cpuRatios = keys.filter((k) => k !== 'a').map((k) => `a/${k} ${cpu(k) !== null && cpu('a') !== null ? (cpu(k)! / cpu('a')!).toFixed(2) : '?'}`);
    out.push(
      `(a)…: ${h.rounds}. Server CPU per request as a throughput ratio (CPU/req of the baseline ÷ the hit's): ${cpuRatios.join(', ')}. ` +
        `Load generator CPU: ${keys.map((k) => `${k} ${pctOf(h.summary[k]!.loadCpuShare)}`).join(', ')} of a core; other processes: ${keys.map((k) => `${k} ${pctOf(h.summary[k]!.otherCpuShare)}`).join(', ')}. ` +
        `Per-round req/s ratios: ${Object.entries(h.ratios).map(([k, v]) => `a/${k} ${v!.map((x) => x.toFixed(2)).join(' ')}`).join('; ')}.`,
    );
  }
  if (r.accessLines) {
    out.push(
      `Access lines logged during the hit rounds (lines / requests counted by the load generator): ${r.accessLines.map((l) => `${l.key} ${fmtInt(l.lines)} / ${fmtInt(l.requests)}`).join(', ')}. ` +
        (S.plainGateway
          ? 'BENCH_PLAIN_GATEWAY=1: the gateway checked no caller token and logged nothing; it made a request id and counted metrics.'
          : 'The gateway checked a caller token and its quota, made a request id, counted metrics and logged a line for each; the peers only logged.'),
    );
  }
  if (r.d) out.push(`(d) ${r.d.rounds}; 1-conn req/s: a ${fmtInt(r.d.rps.a)}, b ${fmtInt(r.d.rps.b)}, c ${fmtInt(r.d.rps.c)}; a−c per round: ${r.d.deltaPerRoundUs.map((x) => x.toFixed(0)).join(', ')} µs.`);
  if (r.warm) out.push(`(w) ${r.warm.rounds}; server at ${pctOf(r.warm.cpuShare)} of a core; rows and bytes per answer are the means over 100 sampled questions of the mix.`);
  if (r.growth) {
    out.push(
      `(s) ${r.growth.rounds}; btc's daily series over 24 exchanges, any sort: ` +
        r.growth.points.map((p) => `${p.key} ${p.days} days limit ${p.limit}: ${p.meanRows.toFixed(0)} rows, ${(p.meanBytes / 1024).toFixed(0)} KB, ${fmtInt(p.rps)} req/s`).join('; ') +
        '. Exponent = log(CPU ratio) ÷ log(size ratio).',
    );
  }
  if (r.miss) {
    const e = r.miss;
    const t = e.inGateway;
    out.push(
      `(e) ${e.rounds}; p50 over ${e.samplesEach} misses each (gateway p99 ${e.gatewayP99Ms.toFixed(2)} ms, simulator p99 ${e.simP99Ms.toFixed(2)} ms); per-round differences ${e.addedPerRoundMs.map((x) => x.toFixed(2)).join(', ')} ms.` +
        (t?.serverP50Us != null
          ? ` Inside the gateway (p50s, onRequest → answer written): ${(t.serverP50Us / 1000).toFixed(3)} ms, of which waiting for Nansen ${((t.upstreamP50Us ?? 0) / 1000).toFixed(3)} ms and its own work ` +
            `${((t.ownP50Us ?? 0) / 1000).toFixed(3)} ms (writing the answer, last onSend → onResponse: ${((t.sendP50Us ?? 0) / 1000).toFixed(3)} ms); the rest of (e) is the extra loopback hop. ` +
            'CPU per miss is the gateway process\'s (simulators in another process), from /proc in 10 ms ticks over each round\'s misses.'
          : ''),
    );
  }
  if (r.cold0 || r.cold20) {
    out.push(`(f) answers that joined the single upstream load (cache-status miss): ${[r.cold0 ? `${r.cold0.coalescedMisses}/100 at 0 ms` : '', r.cold20 ? `${r.cold20.coalescedMisses}/100 at 20 ms` : ''].filter(Boolean).join(', ')}; the rest came after it, as hits.`);
  }
  if (r.fill) {
    const g = r.fill;
    out.push(
      `(g) ${g.requests} distinct questions in ${g.seconds.toFixed(1)} s (${g.stoppedBecause}); gateway RSS at start ${g.rssStartMb.toFixed(0)} MB; after the fill heap used ${g.heapUsedMb.toFixed(0)} of ${g.heapTotalMb.toFixed(0)} MB` +
        (g.afterGc ? `; after a forced full GC RSS ${g.afterGc.rssMb.toFixed(0)} MB, heap used ${g.afterGc.heapUsedMb.toFixed(0)} MB.` : '.'),
    );
  }
  if (r.shared) {
    const h = r.shared;
    out.push(
      `(h) after ${h.warmUp} unmeasured questions each, ${h.rounds} rounds, A and B in turns, ${h.questions} questions each in all (half for p50, half for req/s), every one a new /netflows question whose Nansen page is held; no upstream call happened while measuring. Per-round req/s ratios: ${h.roundRatios.map((x) => x.toFixed(2)).join(' ')}.`,
    );
  }
  return out;
}

export function report(r: Results): string {
  const rows = [['scenario', 'load', 'measured', 'target', 'result'], ...(r.hits ? hitRows(r, r.hits) : []), ...warmRows(r), ...otherRows(r)];
  const unreliable = [r.hits, r.d, r.warm, r.growth, r.miss].filter((x) => x && !x.quietOnly).length > 0;
  const warning = unreliable
    ? 'WARNING (*): other processes on this machine were busy during most rounds of the figures marked *: those are medians over all rounds and unreliable; run again on a quiet machine.\n'
    : '';
  return `${warning}${table(rows)}\n\n${notes(r)
    .map((n) => `- ${n}`)
    .join('\n')}`;
}
