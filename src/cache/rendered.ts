import { LRUCache } from 'lru-cache';
import type { Clock } from '../time.js';

/** A finished /netflows answer: the bytes and headers to send again while its data is fresh. */
export interface Rendered {
  body: string;
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
 * The hit path: answers kept by request (URL and Accept) and by normalised question, so a
 * repeated question is not planned, merged, sorted or serialised again. Bounded by bytes.
 */
export class RenderedCache {
  private readonly lru: LRUCache<string, Rendered>;

  constructor(
    maxBytes: number,
    private readonly clock: Clock,
  ) {
    this.lru = new LRUCache<string, Rendered>({
      maxSize: Math.max(1, Math.floor(maxBytes)),
      sizeCalculation: (r) => r.body.length * 2 + 512,
    });
  }

  get(key: string): Rendered | undefined {
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

  set(keys: readonly string[], rendered: Rendered): void {
    if (rendered.freshUntil <= this.clock()) return;
    for (const key of keys) this.lru.set(key, rendered);
  }
}
