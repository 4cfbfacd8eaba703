export interface WindowState {
  limit: number;
  /** Hits still allowed in the window right now; never negative. */
  remaining: number;
  /** Whole seconds until the oldest counted hit leaves the window, freeing a slot; 0 when the window is empty. */
  resetS: number;
}

/**
 * Sliding-window log: counts the hits of each key over the last `windowMs`.
 * Only hits passed to `add` count, so callers decide whether a refused request uses a slot.
 */
export class SlidingWindow {
  private readonly hits = new Map<string, number[]>();

  constructor(
    readonly limit: number,
    readonly windowMs: number,
    private readonly now: () => number,
  ) {}

  state(key: string): WindowState {
    const hits = this.liveHits(key);
    const oldest = hits[0];
    return {
      limit: this.limit,
      remaining: Math.max(0, this.limit - hits.length),
      resetS: oldest === undefined ? 0 : Math.max(1, Math.ceil((oldest + this.windowMs - this.now()) / 1000)),
    };
  }

  hasRoom(key: string): boolean {
    return this.liveHits(key).length < this.limit;
  }

  add(key: string): WindowState {
    this.liveHits(key).push(this.now());
    return this.state(key);
  }

  clear(): void {
    this.hits.clear();
  }

  private liveHits(key: string): number[] {
    const cutoff = this.now() - this.windowMs;
    const hits = (this.hits.get(key) ?? []).filter((at) => at > cutoff);
    this.hits.set(key, hits);
    return hits;
  }
}
