import { describe, expect, it } from 'vitest';
import { hash, rand, randInt } from '../../src/demo/sim/random.js';
import { SlidingWindow } from '../../src/demo/sim/rate-window.js';

describe('random', () => {
  it('hashes with FNV-1a (32 bit)', () => {
    expect(hash('')).toBe(0x811c9dc5);
    expect(hash('a')).toBe(0xe40c292c);
    expect(hash('foobar')).toBe(0xbf9cf968);
  });

  it('draws the same number for the same seed, in [0, 1)', () => {
    expect(rand('btc|BNB|2026-11-20')).toBe(rand('btc|BNB|2026-11-20'));
    expect(rand('btc|BNB|2026-11-20')).not.toBe(rand('btc|BNB|2026-11-21'));
    const draws = Array.from({ length: 10_000 }, (_, i) => rand(`seed-${i}`));
    expect(Math.min(...draws)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...draws)).toBeLessThan(1);
    const mean = draws.reduce((sum, x) => sum + x, 0) / draws.length;
    expect(mean).toBeCloseTo(0.5, 1);
  });

  it('draws integers within both bounds', () => {
    const draws = new Set(Array.from({ length: 1_000 }, (_, i) => randInt(`int-${i}`, 1, 3)));
    expect(draws).toEqual(new Set([1, 2, 3]));
  });
});

describe('SlidingWindow', () => {
  it('counts hits per key over the last windowMs and says when a slot frees', () => {
    let clock = 0;
    const window = new SlidingWindow(2, 1_000, () => clock);
    expect(window.state('a')).toEqual({ limit: 2, remaining: 2, resetS: 0 });
    window.add('a');
    clock = 400;
    expect(window.add('a')).toEqual({ limit: 2, remaining: 0, resetS: 1 });
    expect(window.hasRoom('a')).toBe(false);
    expect(window.hasRoom('b')).toBe(true);
    clock = 1_000;
    expect(window.state('a')).toEqual({ limit: 2, remaining: 1, resetS: 1 });
    window.clear();
    expect(window.state('a').remaining).toBe(2);
  });
});
