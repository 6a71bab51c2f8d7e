// The distillation split: held-out, pruning and pruning-check images are disjoint from the training
// images and from each other, an image and its gaudy version always land together, and the
// teacher's own held-out images are held out.
import { describe, expect, it } from "vitest";
import { DistillInputError, splitStream, type MemoryStream } from "../../src/main/compact/sources.js";

/** `natural` images, each followed by its gaudy version. */
function stream(natural: number): MemoryStream {
  const keys: string[] = [];
  const kinds: MemoryStream["kinds"] = [];
  const group: number[] = [];
  for (let i = 0; i < natural; i++) {
    keys.push(`h${i}`, `gaudy:h${i}`);
    kinds.push("session", "gaudy");
    group.push(2 * i, 2 * i);
  }
  const images = keys.map(() => new Uint8Array(3));
  return { count: keys.length, size: 1, pixels: (i) => images[i]!, images, keys, kinds, group };
}

describe("splitStream", () => {
  const options = { fraction: 0.1, maxHeldOut: 600, pruneImages: 64, validationImages: 256, seed: 1 };

  it("holds the pruning check's images out of training, apart from the held-out and pruning images", () => {
    const s = stream(1000);
    const split = splitStream(s, { ...options, heldOutHashes: new Set(["h5", "h17"]) });
    const sets = [split.train, split.heldOut, split.prune, split.validation];
    const all = sets.flat();
    expect(new Set(all).size).toBe(all.length);
    expect(all.length).toBe(s.count);
    expect(split.validation.length).toBeGreaterThanOrEqual(256);
    expect(split.validation.length).toBeLessThan(256 + 2);
    expect(split.prune.length).toBeGreaterThanOrEqual(64);
    // Both of the teacher's held-out images, with their gaudy versions, are held out.
    expect(split.heldOut).toEqual(expect.arrayContaining([10, 11, 34, 35]));
    for (const part of sets) for (const i of part) expect(part).toContain(s.group[i]! + (i % 2 === 0 ? 1 : 0));
  });

  it("gives the check at most a quarter of the images left where the stream is small", () => {
    const split = splitStream(stream(200), { ...options, heldOutHashes: new Set() });
    // 20 held out, 32 for pruning (each with its gaudy version), 148 left: 37 to check, 111 to train on.
    expect(split.validation.length).toBe(2 * 37);
    expect(split.train.length).toBe(2 * 111);
  });

  it("says what is missing when too few images are left to train on", () => {
    const few = { ...options, pruneImages: 256, heldOutHashes: new Set<string>() };
    expect(() => splitStream(stream(140), few)).toThrow(DistillInputError);
    expect(() => splitStream(stream(140), few)).toThrow(/for pruning and \d+ to check it/);
  });
});
