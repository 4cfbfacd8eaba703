import { describe, expect, it } from 'vitest';
import { KeptAnswer, RenderedCache, type Rendered } from '../../src/cache/rendered.js';

const clock = { now: 1_000_000 };

function kept(bodyBytes: number, freshForMs = 60_000): KeptAnswer {
  const body = Buffer.alloc(bodyBytes, 'x');
  const rendered: Rendered = {
    body,
    etag: '"e"',
    alsoMatches: [],
    contentType: 'application/json; charset=utf-8',
    headers: {},
    storedAt: clock.now,
    freshUntil: clock.now + freshForMs,
  };
  return new KeptAnswer(() => rendered, body.length, clock.now, clock.now + freshForMs);
}

describe('RenderedCache', () => {
  it('counts its keys in the byte bound (regression: 15 KB keys were free and a flood filled the heap)', () => {
    const cache = new RenderedCache(1_000_000, () => clock.now);
    const answer = kept(100);
    for (let i = 0; i < 1000; i++) cache.set([`/netflows?limit=1\n${i}-${'a'.repeat(3000)}`], answer);
    // 1,000 keys of 3,000 characters are 3 MB of strings at the least: they cannot all fit in 1 MB.
    expect(cache.entries).toBeLessThan(1_000_000 / 3000);
    expect(cache.sizeBytes).toBeLessThanOrEqual(1_000_000);
  });

  it('sweeps expired entries without their keys being read again (regression: they stayed until re-read)', () => {
    const cache = new RenderedCache(10_000_000, () => clock.now);
    for (let i = 0; i < 100; i++) cache.set([`short-lived ${i}`], kept(1000, 1000));
    expect(cache.entries).toBe(100);
    clock.now += 60_000;
    cache.set(['later'], kept(1000));
    expect(cache.entries).toBe(1);
    expect(cache.get('short-lived 0')).toBeUndefined();
  });

  it('serves an entry until its data expires', () => {
    const cache = new RenderedCache(10_000_000, () => clock.now);
    cache.set(['a', 'b'], kept(10, 5000));
    expect(cache.get('a')?.answer.body.length).toBe(10);
    clock.now += 4999;
    expect(cache.get('b')).toBeDefined();
    clock.now += 1;
    expect(cache.get('a')).toBeUndefined();
  });
});
