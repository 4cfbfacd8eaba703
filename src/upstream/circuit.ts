import type { BudgetStore, CircuitState } from '../budget/store.js';
import { UpstreamError } from '../errors.js';
import type { SourceId } from '../model.js';
import type { Clock } from '../time.js';

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
 * circuit or opens it again. State lives in the budget store, each step one atomic
 * operation of it, so replicas share it and only one of them probes.
 */
export class CircuitBreaker {
  constructor(private readonly options: CircuitOptions) {}

  /** Lets a call through, or refuses it with when to try again. */
  async check(): Promise<void> {
    const { store, key, clock, cooldownMs } = this.options;
    const waitMs = await store.circuitCheck(key, cooldownMs, clock());
    if (waitMs > 0) throw this.refusal(waitMs);
  }

  async record(ok: boolean): Promise<void> {
    const { store, key, clock, cooldownMs, failureThreshold } = this.options;
    await store.circuitRecord(key, ok, failureThreshold, cooldownMs, clock());
  }

  async state(): Promise<CircuitState> {
    return this.options.store.circuitState(this.options.key, this.options.clock());
  }

  private refusal(retryAfterMs: number): UpstreamError {
    return new UpstreamError(this.options.source, 'circuit_open', `${this.options.source} is failing; calls resume after a cool-down`, {
      retryAfterMs,
    });
  }
}
