import { describe, expect, it } from 'vitest';
import { entryBytes, UpstreamCache, type Loaded } from '../../src/cache/upstream-cache.js';
import { UpstreamError } from '../../src/errors.js';

function setup(options: Partial<{ maxBytes: number; swr: number; sie: number }> = {}) {
  const clock = { now: 1_000_000 };
  const cache = new UpstreamCache({
    maxBytes: options.maxBytes ?? 1_000_000,
    staleWhileRevalidateMs: options.swr ?? 30_000,
    staleIfErrorMs: options.sie ?? 3_600_000,
    clock: () => clock.now,
  });
  let calls = 0;
  let fail: Error | undefined;
  let release: (() => void) | undefined;
  let gate: Promise<void> | undefined;
  const load = async (): Promise<Loaded<string>> => {
    calls++;
    if (gate) await gate;
    if (fail) throw fail;
    return { value: `v${calls}`, freshForMs: 60_000, sizeBytes: 100 };
  };
  return {
    cache,
    clock,
    load,
    calls: () => calls,
    failWith: (error: Error | undefined) => (fail = error),
    hold: () => (gate = new Promise<void>((resolve) => (release = resolve))),
    releaseHold: () => {
      gate = undefined;
      release?.();
    },
  };
}

describe('UpstreamCache', () => {
  it('makes one load for many concurrent misses of one key', async () => {
    const t = setup();
    t.hold();
    const results = Promise.all(Array.from({ length: 100 }, () => t.cache.get('k', t.load)));
    t.releaseHold();
    const answers = await results;
    expect(t.calls()).toBe(1);
    expect(new Set(answers.map((a) => a.entry.value))).toEqual(new Set(['v1']));
    expect(answers.every((a) => a.outcome === 'miss')).toBe(true);
  });

  it('serves a hit while fresh and loads again after the TTL and the stale windows', async () => {
    const t = setup({ swr: 0, sie: 0 });
    await t.cache.get('k', t.load);
    t.clock.now += 59_999;
    expect(await t.cache.get('k', t.load)).toMatchObject({ outcome: 'hit', entry: { value: 'v1' } });
    t.clock.now += 1;
    expect(await t.cache.get('k', t.load)).toMatchObject({ outcome: 'miss', entry: { value: 'v2' } });
    expect(t.calls()).toBe(2);
  });

  it('serves stale within the revalidate window and refreshes once in the background', async () => {
    const t = setup();
    await t.cache.get('k', t.load);
    t.clock.now += 60_000 + 10_000;
    t.hold();
    const during = await Promise.all(Array.from({ length: 20 }, () => t.cache.get('k', t.load)));
    expect(during.every((a) => a.outcome === 'stale' && a.entry.value === 'v1')).toBe(true);
    t.releaseHold();
    await new Promise((resolve) => setImmediate(resolve));
    expect(t.calls()).toBe(2);
    expect(await t.cache.get('k', t.load)).toMatchObject({ outcome: 'hit', entry: { value: 'v2' } });
  });

  it('serves stale data when the load fails within the stale-if-error window, with the error', async () => {
    const t = setup();
    await t.cache.get('k', t.load);
    t.clock.now += 60_000 + 600_000;
    t.failWith(new UpstreamError('nansen', 'upstream_error', 'Nansen answered 500'));
    const result = await t.cache.get('k', t.load);
    expect(result).toMatchObject({ outcome: 'stale', entry: { value: 'v1' }, error: { code: 'upstream_error', detail: 'Nansen answered 500' } });
    t.failWith(undefined);
    expect(await t.cache.get('k', t.load)).toMatchObject({ outcome: 'miss', entry: { value: 'v3' } });
  });

  it('says stale with the failure once a background refresh failed, until a refresh succeeds', async () => {
    const t = setup();
    await t.cache.get('k', t.load);
    t.clock.now += 60_000 + 1_000;
    t.failWith(new UpstreamError('coinmetrics', 'upstream_error', 'Coin Metrics answered 500'));
    expect(await t.cache.get('k', t.load)).toEqual({ outcome: 'stale', entry: expect.objectContaining({ value: 'v1' }) });
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < 2; i++) {
      expect(await t.cache.get('k', t.load)).toMatchObject({ outcome: 'stale', entry: { value: 'v1' }, error: { code: 'upstream_error', detail: 'Coin Metrics answered 500' } });
      await new Promise((resolve) => setImmediate(resolve));
    }
    t.failWith(undefined);
    await t.cache.get('k', t.load);
    await new Promise((resolve) => setImmediate(resolve));
    expect(await t.cache.get('k', t.load)).toMatchObject({ outcome: 'hit', entry: { value: 'v5' } });
  });

  it('throws when the load fails and nothing usable is held', async () => {
    const t = setup();
    t.failWith(new Error('down'));
    await expect(t.cache.get('k', t.load)).rejects.toThrow('down');
    await t.cache.get('old', async () => ({ value: 'x', freshForMs: 1000, sizeBytes: 1 }));
    t.clock.now += 1000 + 3_600_000;
    await expect(t.cache.get('old', t.load)).rejects.toThrow('down');
  });

  it('never stores a failed load', async () => {
    const t = setup();
    t.failWith(new Error('malformed'));
    await expect(t.cache.get('k', t.load)).rejects.toThrow('malformed');
    expect(t.cache.peek('k')).toBeUndefined();
    expect(t.cache.entries).toBe(0);
    t.failWith(undefined);
    expect(await t.cache.get('k', t.load)).toMatchObject({ outcome: 'miss', entry: { value: 'v2' } });
  });

  it('stays within its byte bound, evicting the least recently used', async () => {
    const maxBytes = 10 * entryBytes('k10', 100);
    const t = setup({ maxBytes });
    for (let i = 10; i < 35; i++) await t.cache.get(`k${i}`, async () => ({ value: i, freshForMs: 60_000, sizeBytes: 100 }));
    expect(t.cache.sizeBytes).toBeLessThanOrEqual(maxBytes);
    expect(t.cache.entries).toBe(10);
    expect(t.cache.peek('k10')).toBeUndefined();
    expect(t.cache.peek('k34')).toBeDefined();
  });

  it('counts its keys in the byte bound (regression: a long upstream question cost nothing)', async () => {
    const t = setup({ maxBytes: 100_000 });
    for (let i = 0; i < 100; i++) await t.cache.get(`coinmetrics|${i}|${'asset,'.repeat(1000)}`, async () => ({ value: i, freshForMs: 60_000, sizeBytes: 1 }));
    // Each key is 6,000 characters: 100 of them are more than 100 KB.
    expect(t.cache.entries).toBeLessThan(100_000 / 6000);
    expect(t.cache.sizeBytes).toBeLessThanOrEqual(100_000);
  });

  it('sweeps entries past their stale windows without their keys being asked again', async () => {
    const t = setup();
    const dropped: string[] = [];
    t.cache.onDrop((key, reason) => dropped.push(`${key}:${reason}`));
    for (let i = 0; i < 20; i++) await t.cache.get(`old${i}`, t.load);
    t.clock.now += 60_000 + 3_600_000 + 1;
    await t.cache.get('new', t.load);
    expect(t.cache.entries).toBe(1);
    expect(dropped).toHaveLength(20);
    expect(dropped[0]).toBe('old0:expire');
  });

  it('tells drop listeners about evictions but not replacements', async () => {
    const t = setup({ maxBytes: 2.5 * entryBytes('a', 100) });
    const dropped: string[] = [];
    t.cache.onDrop((key) => dropped.push(key));
    await t.cache.get('a', t.load);
    t.clock.now += 60_000 + 3_600_000;
    await t.cache.get('a', t.load);
    expect(dropped).toEqual([]);
    await t.cache.get('b', t.load);
    await t.cache.get('c', t.load);
    expect(dropped).toEqual(['a']);
  });
});
