import { describe, expect, it } from 'vitest';
import { SORT_FIELDS, type SortKey } from '../../src/model.js';
import { compareRecords, firstInOrder } from '../../src/netflows/merge.js';
import { EXCHANGES } from '../../src/providers/coinmetrics/catalog.js';
import { seriesRecords, type AssetDays } from '../../src/providers/coinmetrics/normalize.js';
import { seriesPage } from '../../src/providers/coinmetrics/series-page.js';
import { DAY_MS } from '../../src/time.js';

/** mulberry32, so a failure can be run again from its seed. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const START = Date.UTC(2026, 9, 1);
// btc and eth have chains, usdt_eth one by suffix, "mystery" none (null in the chain column).
const ASSETS = ['btc', 'eth', 'usdt_eth', 'mystery'];

/** An asset's days with repeated values, nulls, missing days and unsupported exchanges, so every comparison rule is hit. */
function assetDays(random: () => number, asset: string, days: number): AssetDays {
  const supported = EXCHANGES.filter(() => random() < 0.6).map((e) => e.slug);
  const value = () => (random() < 0.15 ? null : random() < 0.2 ? 0 : Math.round((random() - 0.5) * 8) * 1000);
  const data: AssetDays = { asset, supported, days: {} };
  for (let d = 0; d < days; d++) {
    if (random() < 0.1) continue;
    data.days[START + d * DAY_MS] = Object.fromEntries(supported.filter(() => random() < 0.9).map((slug) => [slug, { native: value(), usd: value() }]));
  }
  return data;
}

function sortOf(random: () => number): SortKey[] {
  const fields = [...SORT_FIELDS];
  return Array.from({ length: 1 + Math.floor(random() * 3) }, () => ({ field: fields.splice(Math.floor(random() * fields.length), 1)[0]!, descending: random() < 0.5 }));
}

describe('seriesPage', () => {
  it('gives the first rows of a series exactly as sorting every record would, for any sort, page size and nulls', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const random = seeded(seed);
      const days = 1 + Math.floor(random() * 40);
      const data = ASSETS.filter(() => random() < 0.7).map((asset) => assetDays(random, asset, days));
      const exchanges = EXCHANGES.filter(() => random() < 0.8);
      const sort = sortOf(random);
      const count = Math.floor(random() * 300);
      const end = START + (days - 1) * DAY_MS;
      const all = data.flatMap((d) => seriesRecords(d, exchanges, START, end));
      const page = seriesPage(data, exchanges, START, end, sort, count);
      expect({ seed, total: page.total }).toEqual({ seed, total: all.length });
      expect({ seed, records: page.records }).toEqual({ seed, records: firstInOrder(all, compareRecords(sort), count) });
    }
  });

  it('gives nothing for an empty span or no supported exchange', () => {
    const data = assetDays(seeded(7), 'btc', 3);
    expect(seriesPage([data], EXCHANGES, START, START - DAY_MS, [], 100)).toEqual({ records: [], total: 0 });
    expect(seriesPage([{ ...data, supported: [] }], EXCHANGES, START, START + 2 * DAY_MS, [], 100)).toEqual({ records: [], total: 0 });
  });
});
