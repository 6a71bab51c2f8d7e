/** Small seeded generator (mulberry32) for splits and batches; models must be reproducible. */
export class SeededRandom {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }
}

/** Deterministic split of 0..n-1 into train and test (fraction `testFraction` held out). */
export function splitIndices(n: number, testFraction: number, seed: number): { train: number[]; test: number[] } {
  const idx = new SeededRandom(seed).shuffle(Array.from({ length: n }, (_, i) => i));
  const nTest = Math.max(1, Math.round(n * testFraction));
  return { test: idx.slice(0, nTest).sort((a, b) => a - b), train: idx.slice(nTest).sort((a, b) => a - b) };
}

/**
 * A seed that depends only on what a thing is (its identity text) and the run's seed, never on
 * where it stands in a list: FNV-1a over the UTF-8 text, mixed with the seed.
 */
export function stableSeed(identity: string, seed: number): number {
  let h = 0x811c9dc5 ^ Math.imul(seed | 0, 0x9e3779b1);
  for (const byte of Buffer.from(identity, "utf8")) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0 || 1;
}

/** Assigns 0..n-1 to `k` folds of near-equal size at random (seeded); every index is in exactly one fold. */
export function kFolds(n: number, k: number, seed: number): number[][] {
  if (!Number.isInteger(k) || k < 2) throw new Error(`kFolds: need at least 2 folds, got ${k}`);
  if (n < k) throw new Error(`kFolds: ${n} items cannot fill ${k} folds`);
  const order = new SeededRandom(seed).shuffle(Array.from({ length: n }, (_, i) => i));
  return Array.from({ length: k }, (_, f) => order.filter((_, i) => i % k === f).sort((a, b) => a - b));
}
