import type { NetflowRecord, SortKey } from '../model.js';

type Comparable = string | number | null;

/** After the caller's keys, these make the order total so pages never overlap or skip. */
const TIE_BREAKERS: readonly (keyof NetflowRecord)[] = ['source', 'entity', 'asset', 'chain', 'token_address', 'period_start'];

/** Sorts by the caller's keys, nulls last whatever the direction, then by the tie-breakers. */
export function compareRecords(sort: readonly SortKey[]): (a: NetflowRecord, b: NetflowRecord) => number {
  const keys = [
    ...sort.map((k) => ({ field: k.field as keyof NetflowRecord, descending: k.descending })),
    ...TIE_BREAKERS.filter((f) => !sort.some((k) => k.field === f)).map((field) => ({ field, descending: false })),
  ];
  return (a, b) => {
    for (const { field, descending } of keys) {
      const order = compareValues(a[field] as Comparable, b[field] as Comparable, descending);
      if (order !== 0) return order;
    }
    return 0;
  };
}

function compareValues(a: Comparable, b: Comparable, descending: boolean): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  const order = a < b ? -1 : a > b ? 1 : 0;
  return descending ? -order : order;
}
