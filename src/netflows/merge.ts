import type { NetflowRecord, SortKey } from '../model.js';

type Comparable = string | number | null;

/** After the caller's keys, these make the order total so pages never overlap or skip. */
const TIE_BREAKERS: readonly (keyof NetflowRecord)[] = ['source', 'entity', 'asset', 'chain', 'token_address', 'period_start'];

/** The fields records are ordered by: the caller's keys, then the tie-breakers they do not name. */
export function orderKeys(sort: readonly SortKey[]): { field: keyof NetflowRecord; descending: boolean }[] {
  return [
    ...sort.map((k) => ({ field: k.field as keyof NetflowRecord, descending: k.descending })),
    ...TIE_BREAKERS.filter((f) => !sort.some((k) => k.field === f)).map((field) => ({ field, descending: false })),
  ];
}

/** Sorts by orderKeys, nulls last whatever the direction. */
export function compareRecords(sort: readonly SortKey[]): (a: NetflowRecord, b: NetflowRecord) => number {
  const keys = orderKeys(sort);
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

/**
 * The first `count` records in `compare`'s order, as a stable sort would give them. When
 * they are few against the whole (a page of 100 from thousands of series rows), a bounded
 * heap keeps only them: most records are turned away by one comparison with its top.
 */
export function firstInOrder<T>(records: readonly T[], compare: (a: T, b: T) => number, count: number): T[] {
  if (count <= 0) return [];
  if (count * 4 >= records.length) return [...records].sort(compare).slice(0, count);
  // Ties go to the earlier record, as in a stable sort.
  const before = (i: number, j: number) => {
    const order = compare(records[i]!, records[j]!);
    return order < 0 || (order === 0 && i < j);
  };
  const heap: number[] = [];
  for (let i = 0; i < records.length; i++) {
    if (heap.length < count) {
      heap.push(i);
      siftUp(heap, heap.length - 1, before);
    } else if (before(i, heap[0]!)) {
      heap[0] = i;
      siftDown(heap, 0, before);
    }
  }
  return heap.sort((i, j) => (before(i, j) ? -1 : 1)).map((i) => records[i]!);
}

/** The heap keeps its last-in-order index on top. */
function siftUp(heap: number[], at: number, before: (i: number, j: number) => boolean): void {
  while (at > 0) {
    const parent = (at - 1) >> 1;
    if (!before(heap[parent]!, heap[at]!)) return;
    [heap[parent], heap[at]] = [heap[at]!, heap[parent]!];
    at = parent;
  }
}

function siftDown(heap: number[], at: number, before: (i: number, j: number) => boolean): void {
  for (;;) {
    const left = 2 * at + 1;
    const right = left + 1;
    let last = at;
    if (left < heap.length && before(heap[last]!, heap[left]!)) last = left;
    if (right < heap.length && before(heap[last]!, heap[right]!)) last = right;
    if (last === at) return;
    [heap[last], heap[at]] = [heap[at]!, heap[last]!];
    at = last;
  }
}
