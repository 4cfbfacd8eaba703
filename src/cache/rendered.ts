import { LRUCache } from 'lru-cache';
import type { Clock } from '../time.js';

/** A finished /netflows answer: the bytes and headers to send again while its data is fresh. */
export interface Rendered {
  /** Bytes, not a string: sending them again costs no encoding. */
  body: Buffer;
  /** Strong validator of `body`. */
  etag: string;
  /** Validators of earlier representations of the same data (the first answer said `miss`). */
  alsoMatches: readonly string[];
  contentType: string;
  /** Headers that do not change with time: Cache-Status, Netflows-*, Link. */
  headers: Readonly<Record<string, string>>;
  storedAt: number;
  freshUntil: number;
}

/**
 * An answer kept for serving again. It is rendered (as a cache hit) the first time it is
 * served again, not when it is kept, so a miss pays for one rendering only; what the
 * rendering needed is let go once it has run.
 */
export class KeptAnswer {
  private render: (() => Rendered) | undefined;
  private rendered: Rendered | undefined;

  constructor(
    render: () => Rendered,
    /** What it holds, bytes, for the memory bound: before rendering, the first answer and what it was made from. */
    readonly bytes: number,
    readonly storedAt: number,
    readonly freshUntil: number,
  ) {
    this.render = render;
  }

  get answer(): Rendered {
    if (!this.rendered) {
      this.rendered = this.render!();
      this.render = undefined;
    }
    return this.rendered;
  }
}

/** Keys longer than this are not kept: an answer is still found by its (shorter) question. */
export const MAX_KEY_CHARS = 4096;
/**
 * What one entry costs besides its answer's bytes and its key (counted as UTF-16, two
 * bytes a character at worst): lru-cache's slot and map entry, the KeptAnswer, and the
 * rendered headers and validators. Generous rather than exact.
 */
export const ENTRY_OVERHEAD_BYTES = 1024;
/** Expired entries are swept at most this often (clock ms), when an answer is kept. */
const SWEEP_EVERY_MS = 10_000;

/**
 * The hit path: answers kept by request (URL and negotiated format) and by normalised
 * question, so a repeated question is not planned, merged, sorted or serialised again.
 * Bounded by bytes, keys included; expired entries are swept, not only dropped when read.
 */
export class RenderedCache {
  private readonly lru: LRUCache<string, KeptAnswer>;
  private lastSweep: number;

  constructor(
    maxBytes: number,
    private readonly clock: Clock,
  ) {
    this.lastSweep = clock();
    this.lru = new LRUCache<string, KeptAnswer>({
      maxSize: Math.max(1, Math.floor(maxBytes)),
      sizeCalculation: (kept, key) => entryBytes(key, kept.bytes),
      // Freshness decides expiry, on the injected clock.
      perf: { now: clock },
      ttlResolution: 0,
    });
  }

  get(key: string): KeptAnswer | undefined {
    const kept = this.lru.get(key);
    // lru-cache expires an entry just after its ttl; the data is stale at freshUntil itself.
    if (kept && kept.freshUntil <= this.clock()) {
      this.lru.delete(key);
      return undefined;
    }
    return kept;
  }

  get sizeBytes(): number {
    return this.lru.calculatedSize;
  }

  get entries(): number {
    return this.lru.size;
  }

  clear(): void {
    this.lru.clear();
  }

  set(keys: readonly string[], kept: KeptAnswer): void {
    const now = this.clock();
    const ttl = kept.freshUntil - now;
    if (ttl <= 0) return;
    this.sweepIfDue(now);
    for (const key of keys) if (key.length <= MAX_KEY_CHARS) this.lru.set(key, kept, { ttl });
  }

  private sweepIfDue(now: number): void {
    if (now - this.lastSweep < SWEEP_EVERY_MS) return;
    this.lastSweep = now;
    this.lru.purgeStale();
  }
}

export function entryBytes(key: string, answerBytes: number): number {
  return key.length * 2 + answerBytes + ENTRY_OVERHEAD_BYTES;
}

/** Whether an If-None-Match header names this answer (either of its validators, weakly compared, or `*`). */
export function matches(header: string, answer: Rendered): boolean {
  return header.split(',').some((tag) => {
    const t = tag.trim().replace(/^W\//, '');
    return t === '*' || t === answer.etag || answer.alsoMatches.includes(t);
  });
}
