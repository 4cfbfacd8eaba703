// Plain requests, and the control window bench/target.ts opens into each of its processes.
import { request } from 'undici';
import { BenchError, type Child } from './children.js';

export interface Fetched {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

export interface GetInit {
  method?: 'GET' | 'POST';
  body?: string;
  headers?: Record<string, string>;
}

export async function get(url: string, init: GetInit = {}): Promise<Fetched> {
  const res = await request(url, { method: init.method ?? 'GET', body: init.body, headers: init.headers, headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

export async function getOk(url: string, what: string, headers?: Record<string, string>): Promise<Fetched> {
  const res = await get(url, headers ? { headers } : {});
  if (res.status !== 200) throw new BenchError(`${what}: GET ${url} answered ${res.status}: ${res.text.slice(0, 300)}`);
  return res;
}

/** A process's control answer; counts are null on a gateway whose simulators run elsewhere, gateway fields absent on `sims`. */
export interface Stats {
  cmRequests: number | null;
  nansenRequests: number | null;
  cacheBytes: number;
  cacheEntries: number;
  cacheMaxBytes: number;
  cacheMaxMb: number;
  /** /netflows requests answered (any status), and kept answers served again (hit) or built (miss). */
  netflowsAnswered: number;
  keptAnswers: { hit: number; miss: number };
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  maxRss: number;
  /** BENCH_TRACE=1 gateways: p50 of the time in the gateway, of its upstream waits, and of the rest (µs). */
  trace?: { requests: number; serverP50Us: number | null; upstreamP50Us: number | null; ownP50Us: number | null; sendP50Us: number | null } | null;
}

export function control(child: Child): string {
  if (child.controlPort === undefined) throw new BenchError(`${child.name} has no control port`);
  return `http://127.0.0.1:${child.controlPort}`;
}

export async function stats(child: Child): Promise<Stats> {
  return JSON.parse((await getOk(`${control(child)}/stats`, 'stats')).text) as Stats;
}

/** Upstream calls counted by the simulators in `child` (a gateway with in-process simulators, or `sims`). */
export async function counts(child: Child): Promise<{ cm: number; nansen: number }> {
  const s = await stats(child);
  if (s.cmRequests === null || s.nansenRequests === null) throw new BenchError(`${child.name} runs no simulators`);
  return { cm: s.cmRequests, nansen: s.nansenRequests };
}

export async function resetCounts(child: Child): Promise<void> {
  const res = await get(`${control(child)}/reset-counts`, { method: 'POST' });
  if (res.status !== 200) throw new BenchError(`reset-counts answered ${res.status}`);
}

export interface NetflowsBody {
  data: Record<string, unknown>[];
  sources: { source: string; status: string; cache: string | null }[];
}

export function cacheStatusAllHit(header: string | string[] | undefined): boolean {
  const value = Array.isArray(header) ? header.join(', ') : (header ?? '');
  const members = value.split(',').map((m) => m.trim()).filter(Boolean);
  return members.length > 0 && members.every((m) => m.split(';').map((p) => p.trim()).includes('hit'));
}
