// Deterministic pseudo-randomness: every simulated value is a pure function of a
// seed string, so tests can recompute exactly what a simulator answered.

/** FNV-1a 32-bit hash of the string's UTF-16 code units. */
export function hash(str: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < str.length; i++) {
    h ^= str.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: a small, fast 32-bit PRNG. Returns a generator of numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A uniform number in [0, 1) that depends only on `seed`. */
export function rand(seed: string): number {
  return mulberry32(hash(seed))();
}

/** A uniform number in [min, max). */
export function randBetween(seed: string, min: number, max: number): number {
  return min + rand(seed) * (max - min);
}

/** A uniform integer in [min, max] (both inclusive). */
export function randInt(seed: string, min: number, max: number): number {
  return min + Math.floor(rand(seed) * (max - min + 1));
}

/** -1 or 1 with equal odds. */
export function randSign(seed: string): 1 | -1 {
  return rand(seed) < 0.5 ? -1 : 1;
}

export function pick<T>(seed: string, items: readonly T[]): T {
  const item = items[Math.floor(rand(seed) * items.length)];
  if (item === undefined) throw new Error('pick() needs a non-empty list');
  return item;
}

/** `length` characters drawn from `alphabet`. */
export function randString(seed: string, length: number, alphabet: string): string {
  const next = mulberry32(hash(seed));
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[Math.floor(next() * alphabet.length)];
  return out;
}

export function randHex(seed: string, length: number): string {
  return randString(seed, length, '0123456789abcdef');
}
