import { createHash } from 'node:crypto';
import type { SourceId } from '../model.js';
import type { RateLimit } from '../ratelimit.js';
import type { Secret } from '../secret.js';
import type { Clock } from '../time.js';
import { CircuitBreaker } from '../upstream/circuit.js';
import type { UpstreamResponse } from '../upstream/response.js';
import { CREDIT_RECHECK_MS, type CreditReading } from './credits.js';
import type { BudgetStore } from './store.js';
import { UpstreamBudget, type RateLimitReading } from './upstream-budget.js';

/** How one upstream is budgeted beyond its configured windows; each provider declares one. */
export interface BudgetPolicy {
  /** Calls in flight at most. */
  maxInFlight: number;
  /** The upstream's rate-limit headers, read. */
  readLimits(response: UpstreamResponse): RateLimitReading[];
  /** How long a 429 asks us to pause (ms), from its headers. */
  retryAfter(response: UpstreamResponse, now: number): number | undefined;
  /** An upstream that charges credits per call: its terms and how its answers report them. */
  credits?: { costPerCall: number; reserve: number; dailyCap: number | undefined; read(response: UpstreamResponse): CreditReading };
  /** Headers of its own that /admin/budgets shows as last seen, beside `*ratelimit*` and `Retry-After`. */
  recordedHeaders?: RegExp;
}

/** One upstream to budget: its id and name, its credential and windows, and its policy. */
export interface BudgetedUpstream {
  source: SourceId;
  title: string;
  apiKey: Secret | undefined;
  rateLimits: readonly RateLimit[];
  policy: BudgetPolicy;
}

/** What every upstream's budget and circuit share, from the configuration (ms). */
export interface GuardSettings {
  slotLeaseMs: number;
  budgetMaxWaitMs: number;
  circuitFailures: number;
  circuitCooldownMs: number;
}

/** A budget key per credential that does not reveal it: a short hash, or `community`. */
function credentialKey(source: string, key: Secret | undefined): string {
  if (!key) return `${source}:community`;
  return `${source}:${createHash('sha256').update(key.reveal()).digest('hex').slice(0, 12)}`;
}

export interface UpstreamGuards {
  budget: UpstreamBudget;
  circuit: CircuitBreaker;
}

/** What /admin/budgets and the gauges show of one upstream: its budget and its circuit. */
export async function upstreamSnapshot(guards: UpstreamGuards) {
  return { ...(await guards.budget.snapshot()), circuit: await guards.circuit.state() };
}

/** The budget and circuit of one upstream credential, both in the one store. */
export function createGuards(upstream: BudgetedUpstream, settings: GuardSettings, store: BudgetStore, clock: Clock): UpstreamGuards {
  const { source, title, apiKey, rateLimits, policy } = upstream;
  const key = credentialKey(source, apiKey);
  const budget = new UpstreamBudget({
    source,
    name: title,
    key,
    limits: rateLimits,
    maxInFlight: policy.maxInFlight,
    slotLeaseMs: settings.slotLeaseMs,
    maxWaitMs: settings.budgetMaxWaitMs,
    store,
    clock,
    readLimits: policy.readLimits,
    retryAfter: policy.retryAfter,
    ...(policy.recordedHeaders ? { recordedHeaders: policy.recordedHeaders } : {}),
    ...(policy.credits
      ? {
          credits: {
            terms: { cost: policy.credits.costPerCall, reserve: policy.credits.reserve, dailyCap: policy.credits.dailyCap, recheckMs: CREDIT_RECHECK_MS },
            read: policy.credits.read,
          },
        }
      : {}),
  });
  const circuit = new CircuitBreaker({
    source,
    key: `${key}:circuit`,
    store,
    clock,
    failureThreshold: settings.circuitFailures,
    cooldownMs: settings.circuitCooldownMs,
  });
  return { budget, circuit };
}
