import type { CallerToken } from '../auth/callers.js';
import type { CallerCredits } from '../budget/allowance.js';
import { upstreamSnapshot, type UpstreamGuards } from '../budget/index.js';
import type { BudgetStore } from '../budget/store.js';
import type { RenderedCache } from '../cache/rendered.js';
import type { UpstreamCache } from '../cache/upstream-cache.js';
import type { Metrics } from '../metrics.js';
import type { SourceId } from '../model.js';
import type { Clock } from '../time.js';

export interface GaugeSources {
  cache: UpstreamCache;
  rendered: RenderedCache;
  upstreams: readonly UpstreamGuards[];
  /** The sources that charge credits (on or off): each gets its `netflows_<source>_credits_*` gauges. */
  creditSources: readonly { source: SourceId; title: string }[];
  callers: readonly CallerToken[];
  callerCredits: CallerCredits;
  store: BudgetStore;
  clock: Clock;
  /** off (no REDIS_URL), shared, or degraded (Redis away: each replica on its own share). */
  sharedMode: () => 'off' | 'shared' | 'degraded';
}

const CIRCUIT_VALUES = { closed: 0, half_open: 1, open: 2 } as const;
const SNAPSHOT_REUSE_MS = 500;

/** State read when Prometheus scrapes: cache size, budgets, credits, circuits, caller quotas. */
export function registerStateGauges(metrics: Metrics, { cache, rendered, upstreams, creditSources, callers, callerCredits, store, clock, sharedMode }: GaugeSources): void {
  metrics.gauge('netflows_shared_mode', 'Replica state: 1 for the current mode (off, shared, degraded)', ['mode'], (set) => {
    const mode = sharedMode();
    for (const m of ['off', 'shared', 'degraded']) set({ mode: m }, m === mode ? 1 : 0);
  });
  metrics.gauge('netflows_cache_bytes', 'Bytes held, by cache (upstream answers, kept responses)', ['cache'], (set) => {
    set({ cache: 'upstream' }, cache.sizeBytes);
    set({ cache: 'responses' }, rendered.sizeBytes);
  });
  metrics.gauge('netflows_cache_entries', 'Entries held, by cache', ['cache'], (set) => {
    set({ cache: 'upstream' }, cache.entries);
    set({ cache: 'responses' }, rendered.entries);
  });
  // Five gauges read the same snapshots: one read (store round trips, with Redis) per scrape.
  let taken: { at: number; snapshots: ReturnType<typeof readSnapshots> } | undefined;
  const readSnapshots = () => Promise.all(upstreams.map(upstreamSnapshot));
  const snapshots = () => {
    if (!taken || performance.now() - taken.at > SNAPSHOT_REUSE_MS) taken = { at: performance.now(), snapshots: readSnapshots() };
    return taken.snapshots;
  };
  metrics.gauge('netflows_upstream_budget_remaining', 'Upstream calls still allowed in each configured window', ['source', 'window'], async (set) => {
    for (const s of await snapshots()) for (const w of s.windows) set({ source: s.source, window: w.limit }, w.remaining);
  });
  metrics.gauge('netflows_upstream_in_flight', 'Upstream calls under way', ['source'], async (set) => {
    for (const s of await snapshots()) set({ source: s.source }, s.in_flight);
  });
  metrics.gauge('netflows_upstream_circuit_state', 'Circuit per upstream: 0 closed, 1 half open, 2 open', ['source'], async (set) => {
    for (const s of await snapshots()) set({ source: s.source }, CIRCUIT_VALUES[s.circuit]);
  });
  metrics.gauge('netflows_upstream_rate_limited_total', 'Upstream 429s received since start', ['source'], async (set) => {
    for (const s of await snapshots()) set({ source: s.source }, s.upstream_429s);
  });
  for (const { source, title } of creditSources) registerCreditGauges(metrics, source, title, snapshots);
  metrics.gauge('netflows_caller_quota_remaining', 'Requests a caller may still make in each window of its quota', ['caller', 'window'], async (set) => {
    const now = clock();
    for (const caller of callers) {
      const windows = await store.peek(`caller:${caller.name}`, caller.rateLimits, now);
      windows.forEach((w, i) => set({ caller: caller.name, window: caller.rateLimits[i]!.text }, w.remaining));
    }
  });
  metrics.gauge(
    'netflows_caller_nansen_credits',
    'Per caller with a daily Nansen credit allowance: the allowance, credits spent this UTC day, credits planned by requests under way',
    ['caller', 'kind'],
    async (set) => {
      for (const caller of callers) {
        const credits = await callerCredits.snapshot(caller);
        if (!credits) continue;
        set({ caller: caller.name, kind: 'allowance' }, credits.allowance);
        set({ caller: caller.name, kind: 'spent_today' }, credits.spent_today);
        set({ caller: caller.name, kind: 'in_flight' }, credits.in_flight);
      }
    },
  );
}

type Snapshots = () => Promise<Awaited<ReturnType<typeof upstreamSnapshot>>[]>;

/** A credit-charging source's ledger: left as it last reported, spent this UTC day, reserved by calls under way. */
function registerCreditGauges(metrics: Metrics, source: SourceId, title: string, snapshots: Snapshots): void {
  const ledger = async () => (await snapshots()).find((s) => s.source === source)?.credits;
  metrics.gauge(`netflows_${source}_credits_remaining`, `${title} credits left, as last reported by ${title}`, [], async (set) => {
    const credits = await ledger();
    if (credits?.remaining != null) set({}, credits.remaining);
  });
  metrics.gauge(`netflows_${source}_credits_spent_today`, `${title} credits spent this UTC day`, [], async (set) => {
    const credits = await ledger();
    if (credits) set({}, credits.spent_today);
  });
  metrics.gauge(`netflows_${source}_credits_in_flight`, `${title} credits reserved by calls under way`, [], async (set) => {
    const credits = await ledger();
    if (credits) set({}, credits.in_flight);
  });
}
