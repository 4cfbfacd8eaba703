import type { RateLimit } from '../config.js';

/** One window of a budget as it stands now. */
export interface WindowState {
  limit: number;
  windowMs: number;
  /** Uses still allowed in the window now. */
  remaining: number;
  /** When the next use leaves the window (ms from now; 0 when none is counted). */
  refillsInMs: number;
}

export interface TakeResult {
  granted: boolean;
  /** When not granted: how long until every window has room again (ms). */
  retryAfterMs: number;
  windows: WindowState[];
}

/**
 * Where budgets live: counts per key and window, pauses, calls in flight, and small
 * numbers (credits). In memory here; a Redis store can follow with atomic scripts, so
 * several replicas spend one budget. Every method is async for that reason.
 */
export interface BudgetStore {
  /** Takes one use from every window of `key`, or none if any window is full. */
  take(key: string, limits: readonly RateLimit[], now: number): Promise<TakeResult>;
  /** Counts `count` uses in one window that end at `endsAt`, without asking (the upstream said so). */
  consume(key: string, limit: RateLimit, count: number, endsAt: number, now: number): Promise<void>;
  peek(key: string, limits: readonly RateLimit[], now: number): Promise<WindowState[]>;
  /**
   * Takes a call slot if fewer than `max` are taken; the slot frees itself at `expiresAt`
   * if nobody releases it (a replica that died). Returns the slot's token, or undefined.
   */
  acquireSlot(key: string, max: number, expiresAt: number, now: number): Promise<string | undefined>;
  releaseSlot(key: string, token: string): Promise<void>;
  slots(key: string, now: number): Promise<number>;
  getNumber(key: string): Promise<number | undefined>;
  /** Sets a number; it is forgotten at `expiresAt` (ms) when given. */
  setNumber(key: string, value: number, expiresAt?: number): Promise<void>;
  addNumber(key: string, delta: number, expiresAt?: number): Promise<number>;
}

/** Sliding windows kept as the times each use stops counting: exact, and small at these limits. */
export class MemoryBudgetStore implements BudgetStore {
  private readonly uses = new Map<string, number[]>();
  private readonly slotHolders = new Map<string, Map<string, number>>();
  private nextToken = 0;
  private readonly numbers = new Map<string, { value: number; expiresAt: number }>();

  constructor(private readonly clock: () => number = Date.now) {}

  clear(): void {
    this.uses.clear();
    this.slotHolders.clear();
    this.numbers.clear();
  }

  async take(key: string, limits: readonly RateLimit[], now: number): Promise<TakeResult> {
    const windows = limits.map((limit) => this.window(key, limit, now));
    const full = windows.filter((w) => w.ends.length >= w.limit.limit);
    if (full.length > 0) {
      const retryAfterMs = Math.max(...full.map((w) => w.ends[w.ends.length - w.limit.limit]! - now));
      return { granted: false, retryAfterMs, windows: windows.map((w) => state(w.limit, w.ends, now)) };
    }
    for (const w of windows) insertSorted(w.ends, now + w.limit.windowMs);
    return { granted: true, retryAfterMs: 0, windows: windows.map((w) => state(w.limit, w.ends, now)) };
  }

  async consume(key: string, limit: RateLimit, count: number, endsAt: number, now: number): Promise<void> {
    const { ends } = this.window(key, limit, now);
    let i = ends.length;
    while (i > 0 && ends[i - 1]! > endsAt) i--;
    ends.splice(i, 0, ...Array<number>(Math.min(count, limit.limit)).fill(endsAt));
  }

  async peek(key: string, limits: readonly RateLimit[], now: number): Promise<WindowState[]> {
    return limits.map((limit) => state(limit, this.window(key, limit, now).ends, now));
  }

  async acquireSlot(key: string, max: number, expiresAt: number, now: number): Promise<string | undefined> {
    const holders = this.holders(key, now);
    if (holders.size >= max) return undefined;
    const token = `m${++this.nextToken}`;
    holders.set(token, expiresAt);
    return token;
  }

  async releaseSlot(key: string, token: string): Promise<void> {
    this.slotHolders.get(key)?.delete(token);
  }

  async slots(key: string, now: number): Promise<number> {
    return this.holders(key, now).size;
  }

  private holders(key: string, now: number): Map<string, number> {
    let holders = this.slotHolders.get(key);
    if (!holders) this.slotHolders.set(key, (holders = new Map()));
    for (const [token, expiresAt] of holders) if (expiresAt <= now) holders.delete(token);
    return holders;
  }

  async getNumber(key: string): Promise<number | undefined> {
    const held = this.numbers.get(key);
    if (!held) return undefined;
    if (held.expiresAt <= this.clock()) {
      this.numbers.delete(key);
      return undefined;
    }
    return held.value;
  }

  async setNumber(key: string, value: number, expiresAt = Number.POSITIVE_INFINITY): Promise<void> {
    this.numbers.set(key, { value, expiresAt });
  }

  async addNumber(key: string, delta: number, expiresAt = Number.POSITIVE_INFINITY): Promise<number> {
    const value = ((await this.getNumber(key)) ?? 0) + delta;
    this.numbers.set(key, { value, expiresAt });
    return value;
  }

  private window(key: string, limit: RateLimit, now: number) {
    const id = `${key}|${limit.windowMs}`;
    let ends = this.uses.get(id);
    if (!ends) this.uses.set(id, (ends = []));
    let expired = 0;
    while (expired < ends.length && ends[expired]! <= now) expired++;
    if (expired > 0) ends.splice(0, expired);
    return { limit, ends };
  }
}

function state(limit: RateLimit, ends: readonly number[], now: number): WindowState {
  return {
    limit: limit.limit,
    windowMs: limit.windowMs,
    remaining: Math.max(0, limit.limit - ends.length),
    refillsInMs: ends.length > 0 ? Math.max(0, ends[0]! - now) : 0,
  };
}

function insertSorted(list: number[], value: number): void {
  let i = list.length;
  while (i > 0 && list[i - 1]! > value) i--;
  list.splice(i, 0, value);
}
