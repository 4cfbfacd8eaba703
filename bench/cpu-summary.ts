// Where the CPU of a V8 .cpuprofile went: self time by module and by function, and the
// inclusive time of the gateway's own functions; with a request count, each also per request.
//   npx tsx bench/cpu-summary.ts <file.cpuprofile> [top=25] [requests] [CPU µs per request]
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  hitCount?: number;
  children?: number[];
}

export interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

function where(url: string): string {
  if (url === '') return '';
  const clean = url.replace(/^file:\/\//, '');
  const nm = clean.lastIndexOf('/node_modules/');
  if (nm >= 0) return clean.slice(nm + '/node_modules/'.length);
  if (clean.startsWith('node:')) return clean;
  // Bench children run the compiled dist-bench/src/…: shown as src/….js (line numbers of the JavaScript).
  return path.relative(process.cwd(), clean).replace(/^dist-bench\//, '');
}

function group(url: string, name: string): string {
  if (url === '') return name.startsWith('(') ? name : '(native / V8 builtins)';
  const w = where(url);
  if (w.startsWith('node:')) return 'node: core';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return w;
}

export interface Summary {
  busyUs: number;
  idleUs: number;
  byGroup: Map<string, number>;
  byFunction: Map<string, number>;
  /** Inclusive time of the gateway's functions (src/): every function on a sampled stack, once per sample. */
  inclusive: Map<string, number>;
}

export function summarise(profile: Profile): Summary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  let idleUs = 0;
  const byFunction = new Map<string, number>();
  const byGroup = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
    // Percentages are of busy time: samples where the thread was idle are left out.
    if (functionName === '(idle)') {
      idleUs += us;
      continue;
    }
    const name = functionName || '(anonymous)';
    const key = url ? `${name}  ${where(url)}:${lineNumber + 1}` : name;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
    const g = group(url, name);
    byGroup.set(g, (byGroup.get(g) ?? 0) + us);
  }
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  const inclusive = new Map<string, number>();
  for (let i = 0; i < profile.samples.length; i++) {
    const seen = new Set<string>();
    for (let id: number | undefined = profile.samples[i]; id !== undefined; id = parentOf.get(id)) {
      const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
      const w = where(url);
      if (!w.startsWith('src/')) continue;
      seen.add(`${functionName || '(anonymous)'}  ${w}:${lineNumber + 1}`);
    }
    for (const key of seen) inclusive.set(key, (inclusive.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0));
  }
  const busyUs = [...selfUs.values()].reduce((a, b) => a + b, 0) - idleUs;
  return { busyUs, idleUs, byGroup, byFunction, inclusive };
}

/**
 * The summary as text. With `requests`, every line also in µs per request: its share of the
 * busy time × `cpuUsPerRequest` (the process's CPU per request from /proc) when given, else
 * its sampled time ÷ requests (wall time: inflated when other processes take the CPU).
 */
export function formatSummary(title: string, s: Summary, top: number, requests?: number, cpuUsPerRequest?: number): string {
  const pct = (us: number) => `${((100 * us) / s.busyUs).toFixed(1).padStart(5)} %`;
  const usPerRequest = (us: number) => (cpuUsPerRequest !== undefined ? (us / s.busyUs) * cpuUsPerRequest : us / requests!);
  const perRequest = (us: number) => (requests ? `${usPerRequest(us).toFixed(2).padStart(8)} µs/req` : '');
  const lines = [
    `${title}: ${(s.busyUs / 1e6).toFixed(2)} s busy, ${(s.idleUs / 1e6).toFixed(2)} s idle (percentages are of busy time)` +
      (requests ? `; ${requests} requests, ${(s.busyUs / requests).toFixed(1)} µs sampled per request` : '') +
      (cpuUsPerRequest !== undefined ? `, ${cpuUsPerRequest.toFixed(1)} µs CPU per request (/proc; µs/req below are shares of it)` : ''),
  ];
  const section = (name: string, map: Map<string, number>, n: number) => {
    lines.push('', name);
    for (const [key, us] of [...map].sort((a, b) => b[1] - a[1]).slice(0, n)) lines.push(`  ${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms ${perRequest(us)}  ${key}`);
  };
  section('self time by module', s.byGroup, 15);
  section('self time by function', s.byFunction, top);
  section('inclusive time of the gateway\'s functions (src/)', s.inclusive, top);
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write('usage: tsx bench/cpu-summary.ts <file.cpuprofile> [top=25] [requests] [CPU µs per request]\n');
    process.exit(2);
  }
  const top = Number(process.argv[3] ?? 25);
  const requests = process.argv[4] ? Number(process.argv[4]) : undefined;
  const cpuUs = process.argv[5] ? Number(process.argv[5]) : undefined;
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  process.stdout.write(`${formatSummary(file, summarise(profile), top, requests, cpuUs)}\n`);
}
