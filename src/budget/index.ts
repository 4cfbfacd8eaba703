import { createHash } from 'node:crypto';
import type { Config } from '../config.js';
import { COINMETRICS_FAILURES, readCoinMetricsLimits } from '../providers/coinmetrics/client.js';
import { NANSEN_CREDITS_PER_CALL, NANSEN_FAILURES, readNansenCredits, readNansenLimits } from '../providers/nansen/client.js';
import type { Secret } from '../secret.js';
import type { Clock } from '../time.js';
import { CREDIT_RECHECK_MS } from './credits.js';
import type { BudgetStore } from './store.js';
import { UpstreamBudget } from './upstream-budget.js';
import { CircuitBreaker } from '../upstream/circuit.js';

/** Nansen documents no parallel cap; this keeps a burst from arriving at once. */
const NANSEN_MAX_IN_FLIGHT = 10;

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

/** Budgets and circuits per upstream credential, all in one store. */
export function createGuards(config: Config, store: BudgetStore, clock: Clock): { coinmetrics: UpstreamGuards; nansen: UpstreamGuards | undefined } {
  const circuit = (source: 'coinmetrics' | 'nansen', key: string) =>
    new CircuitBreaker({ source, key: `${key}:circuit`, store, clock, failureThreshold: config.circuitFailures, cooldownMs: config.circuitCooldownMs });
  const budgets = createBudgets(config, store, clock);
  const coinmetricsKey = credentialKey('coinmetrics', config.coinmetrics.apiKey);
  return {
    coinmetrics: { budget: budgets.coinmetrics, circuit: circuit('coinmetrics', coinmetricsKey) },
    nansen: budgets.nansen ? { budget: budgets.nansen, circuit: circuit('nansen', credentialKey('nansen', config.nansen.apiKey)) } : undefined,
  };
}

function createBudgets(config: Config, store: BudgetStore, clock: Clock) {
  const coinmetrics = new UpstreamBudget({
    source: 'coinmetrics',
    name: 'Coin Metrics',
    key: credentialKey('coinmetrics', config.coinmetrics.apiKey),
    limits: config.coinmetrics.rateLimits,
    maxInFlight: config.coinmetrics.maxInFlight,
    slotLeaseMs: config.slotLeaseMs,
    maxWaitMs: config.budgetMaxWaitMs,
    store,
    clock,
    readLimits: readCoinMetricsLimits,
    retryAfter: COINMETRICS_FAILURES.retryAfter,
  });
  const nansenKey = credentialKey('nansen', config.nansen.apiKey);
  const nansen = config.nansen.apiKey
    ? new UpstreamBudget({
        source: 'nansen',
        name: 'Nansen',
        key: nansenKey,
        limits: config.nansen.rateLimits,
        maxInFlight: NANSEN_MAX_IN_FLIGHT,
        slotLeaseMs: config.slotLeaseMs,
        maxWaitMs: config.budgetMaxWaitMs,
        store,
        clock,
        readLimits: readNansenLimits,
        retryAfter: NANSEN_FAILURES.retryAfter,
        credits: {
          terms: { cost: NANSEN_CREDITS_PER_CALL, reserve: config.nansen.creditReserve, dailyCap: config.nansen.dailyCreditCap, recheckMs: CREDIT_RECHECK_MS },
          read: readNansenCredits,
        },
      })
    : undefined;
  return { coinmetrics, nansen };
}
