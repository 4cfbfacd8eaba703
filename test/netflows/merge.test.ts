import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { firstInOrder } from '../../src/netflows/merge.js';

describe('firstInOrder', () => {
  it('gives the first rows of a stable sort, ties in their original order, for any count', () => {
    const rows = fc.array(fc.record({ key: fc.integer({ min: 0, max: 20 }), id: fc.nat() }), { maxLength: 400 });
    const byKey = (a: { key: number }, b: { key: number }) => a.key - b.key;
    fc.assert(
      fc.property(rows, fc.integer({ min: 0, max: 450 }), (list, count) => {
        expect(firstInOrder(list, byKey, count)).toEqual([...list].sort(byKey).slice(0, count));
      }),
      { numRuns: 2000 },
    );
  });
});
