// Medians, percentiles, and which rounds of a scenario to trust.

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function medianOrNull(values: readonly (number | null)[]): number | null {
  return values.every((v): v is number => v !== null) ? median(values) : null;
}

/** Nearest-rank percentile of unsorted samples. */
export function percentile(samples: Float64Array, p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** A growable array of doubles: latencies of one slice. */
export class Samples {
  private values = new Float64Array(1 << 14);
  length = 0;
  push(value: number): void {
    if (this.length === this.values.length) {
      const bigger = new Float64Array(this.values.length * 2);
      bigger.set(this.values);
      this.values = bigger;
    }
    this.values[this.length++] = value;
  }
  all(): Float64Array {
    return this.values.subarray(0, this.length);
  }
}

/**
 * Rounds of a scenario and when one is quiet: other processes (not the bench's) used at
 * most `quietCores` cores' worth of CPU during it.
 */
export interface RoundPolicy {
  rounds: number;
  /** Rounds added, at most, while fewer than half the rounds were quiet. */
  extraRounds: number;
  quietCores: number;
}

const isQuiet = (policy: RoundPolicy, round: { others: number | null }) => round.others !== null && round.others <= policy.quietCores;

/** Whether to run round `round` (0-based): the planned ones, then extras while fewer than half of them were quiet. */
export function anotherRound(policy: RoundPolicy, round: number, rounds: readonly { others: number | null }[]): boolean {
  if (round < policy.rounds) return true;
  if (round >= policy.rounds + policy.extraRounds) return false;
  return rounds.filter((r) => isQuiet(policy, r)).length < Math.ceil(policy.rounds / 2);
}

export interface RoundChoice<R> {
  used: R[];
  quiet: number;
  /** False: too few quiet rounds, the medians are over all of them and unreliable. */
  quietOnly: boolean;
}

/** The rounds to take medians over: the quiet ones when there are at least 3 (or all, when fewer were planned), else all of them. */
export function chooseRounds<R extends { others: number | null }>(policy: RoundPolicy, rounds: R[]): RoundChoice<R> {
  const quiet = rounds.filter((r) => isQuiet(policy, r));
  const enough = Math.min(3, policy.rounds);
  return quiet.length >= enough ? { used: quiet, quiet: quiet.length, quietOnly: true } : { used: rounds, quiet: quiet.length, quietOnly: false };
}

export function describeRounds(policy: RoundPolicy, choice: RoundChoice<unknown>, total: number): string {
  if (choice.quietOnly && choice.quiet === total) return `all ${total} rounds quiet`;
  if (choice.quietOnly) return `medians over the ${choice.quiet} quiet rounds of ${total} (other processes ≤ ${Math.round(policy.quietCores * 100)}% of a core)`;
  return `only ${choice.quiet} of ${total} rounds quiet: medians over all rounds, UNRELIABLE`;
}
