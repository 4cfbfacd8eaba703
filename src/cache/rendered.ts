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
  /** Headers that do not change with time: Cache-Status, Netflows-*, Link, Vary. */
  headers: Readonly<Record<string, string>>;
  storedAt: number;
  freshUntil: number;
}

/**
 * An answer kept for serving again. It is rendered (as a cache hit) the first time it is
 * served again, not when it is kept, so a miss pays for one rendering only.
 */
export class KeptAnswer {
  private rendered: Rendered | undefined;

  constructor(
    private readonly render: () => Rendered,
    /** Size of the answer as first sent, for the memory bound. */
    readonly bytes: number,
    readonly storedAt: number,
    readonly freshUntil: number,
  ) {}

  get answer(): Rendered {
    return (this.rendered ??= this.render());
  }
}

/**
 * The hit path: answers kept by request (URL and Accept) and by normalised question, so a
 * repeated question is not planned, merged, sorted or serialised again. Bounded by bytes.
 */
export class RenderedCache {
  private readonly lru: LRUCache<string, KeptAnswer>;

  constructor(
    maxBytes: number,
    private readonly clock: Clock,
  ) {
    this.lru = new LRUCache<string, KeptAnswer>({
      maxSize: Math.max(1, Math.floor(maxBytes)),
      sizeCalculation: (kept) => kept.bytes + 512,
    });
  }

  get(key: string): KeptAnswer | undefined {
    const rendered = this.lru.get(key);
    if (rendered && rendered.freshUntil <= this.clock()) {
      this.lru.delete(key);
      return undefined;
    }
    return rendered;
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
    if (kept.freshUntil <= this.clock()) return;
    for (const key of keys) this.lru.set(key, kept);
  }
}
