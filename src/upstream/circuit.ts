import type { BudgetStore } from '../budget/store.js';
import { UpstreamError } from '../errors.js';
import type { SourceId } from '../providers/types.js';
import type { Clock } from '../time.js';

export type CircuitState = 'closed' | 'open' | 'half_open';

export interface CircuitOptions {
  source: SourceId;
  key: string;
  store: BudgetStore;
  clock: Clock;
  /** Consecutive failures that open the circuit. */
  failureThreshold: number;
  /** How long an open circuit refuses calls before one probe decides (ms). */
  cooldownMs: number;
}

/**
 * Per upstream: after `failureThreshold` failures in a row (transport errors, 5xx) no call
 * is made for `cooldownMs`; then one probe call is let through, and its outcome closes the
 * circuit or opens it again. State lives in the budget store so replicas can share it.
 */
export class CircuitBreaker {
  constructor(private readonly options: CircuitOptions) {}

  /** Lets a call through, or refuses it with when to try again. */
  async check(): Promise<void> {
    const { store, key, clock, cooldownMs } = this.options;
    const now = clock();
    const openUntil = (await store.getNumber(`${key}:open-until`)) ?? 0;
    if (openUntil === 0) return;
    if (now < openUntil) throw this.refusal(openUntil - now);
    const probeUntil = (await store.getNumber(`${key}:probe-until`)) ?? 0;
    if (probeUntil > now) throw this.refusal(1000);
    await store.setNumber(`${key}:probe-until`, now + cooldownMs);
  }

  async record(ok: boolean): Promise<void> {
    const { store, key, clock, cooldownMs, failureThreshold } = this.options;
    if (ok) {
      await store.setNumber(`${key}:failures`, 0);
      await store.setNumber(`${key}:open-until`, 0);
      await store.setNumber(`${key}:probe-until`, 0);
      return;
    }
    const now = clock();
    const failures = await store.addNumber(`${key}:failures`, 1);
    const openUntil = (await store.getNumber(`${key}:open-until`)) ?? 0;
    if (openUntil > 0 || failures >= failureThreshold) {
      await store.setNumber(`${key}:open-until`, now + cooldownMs);
      await store.setNumber(`${key}:probe-until`, 0);
    }
  }

  async state(): Promise<CircuitState> {
    const { store, key, clock } = this.options;
    const openUntil = (await store.getNumber(`${key}:open-until`)) ?? 0;
    if (openUntil === 0) return 'closed';
    return clock() < openUntil ? 'open' : 'half_open';
  }

  private refusal(retryAfterMs: number): UpstreamError {
    return new UpstreamError(this.options.source, 'circuit_open', `${this.options.source} is failing; calls resume after a cool-down`, {
      retryAfterMs,
    });
  }
}
