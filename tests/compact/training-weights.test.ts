import { describe, expect, it } from "vitest";
import { BatchSampler } from "../../src/models/compact/index.js";
import { distillSettings, trainingWeights } from "../../src/main/compact/distill-run.js";

describe("the shared model's sampling weights", () => {
  // 20 training images: even stream indices natural, odd gaudy; disagreement rises with the index.
  const train = Array.from({ length: 20 }, (_, i) => i);
  const kinds = train.map((i) => (i % 2 === 0 ? "bank" : "gaudy"));
  const disagreement = Float64Array.from(train, (i) => i + 1);

  it("draws the most informative tenth twice and natural images naturalWeight times as often", () => {
    expect(trainingWeights(train, disagreement, kinds, 1)).toEqual(train.map((i) => (i >= 18 ? 2 : 1)));
    const w = trainingWeights(train, disagreement, kinds, 3);
    expect(w).toEqual(train.map((i) => (i >= 18 ? 2 : 1) * (i % 2 === 0 ? 3 : 1)));
    // An epoch of the sampler holds each image as many times as its weight.
    const sampler = new BatchSampler(train, w, 1);
    const epoch = w.reduce((a, b) => a + b, 0);
    const counts = new Map<number, number>();
    for (const i of sampler.batch(0, epoch)) counts.set(i, (counts.get(i) ?? 0) + 1);
    expect(train.map((i) => counts.get(i))).toEqual(w);
  });

  it("refuses a natural weight that is not a whole number ≥ 1", () => {
    expect(() => distillSettings({ naturalWeight: 0 })).toThrow(/--natural-weight must be a whole number ≥ 1, got 0/);
    expect(() => distillSettings({ naturalWeight: 1.5 })).toThrow(/--natural-weight/);
    expect(distillSettings({ naturalWeight: 2 }).naturalWeight).toBe(2);
  });
});
