import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { selectBackend } from "../../src/models/backend.js";
import type { NpyValue } from "../../src/models/compact/index.js";
import { startBankScorer, type BankScorer } from "../../src/main/causal/bank-scorer.js";
import { compactUnits, type CompactUnits } from "../helpers/compact-units.js";
import { generateImages, type NamedImage } from "../../src/stimulus/index.js";
import { imagesToTensor, topBankImages } from "../../src/stimulus/synthesis/index.js";

let models: CompactUnits;
let arrays: NpyValue[];
let scorer: BankScorer;
let backend: Awaited<ReturnType<typeof selectBackend>>;

beforeAll(async () => {
  backend = await selectBackend({ log: () => {} });
  models = compactUnits([5, 6, 7]);
  arrays = models.arrays;
  scorer = await startBankScorer(arrays, 112, { workers: 2, backend: backend.name });
});

afterAll(async () => {
  await scorer.close();
  models.dispose();
});

describe("bank scorer (worker threads)", () => {
  it("scores every unit as the models' predictAll does, and ranks the same top images", async () => {
    expect(scorer.workers).toBe(2);
    const model = models.model;
    const bank: NamedImage[] = [...generateImages("gratings", 9, 112, 3), ...generateImages("noise", 9, 112, 4)].map(
      (im, i) => ({ ...im, name: `b${i}` }),
    );
    const x = imagesToTensor(bank);
    const all = model.predictAll(x);
    const expected = await all.data();
    tf.dispose([x, all]);
    const got = await scorer.score(bank);
    expect(got.length).toBe(expected.length);
    // One wasm thread against the main backend's: the same sums, at most in another order.
    got.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 3));
    const units = [0, 1, 2];
    const plain = await topBankImages(model, units, bank, { k: 4, batchSize: 5 });
    const viaWorkers = await topBankImages(model, units, bank, { k: 4, batchSize: 5, score: (b) => scorer.score(b) });
    expect(viaWorkers.map((r) => r.top.map((t) => t.name))).toEqual(plain.map((r) => r.top.map((t) => t.name)));
    viaWorkers.forEach((r, j) => expect(r.bankMean).toBeCloseTo(plain[j]!.bankMean, 3));
  });

  it("refuses images of another size, and fails clearly once closed", async () => {
    const [small] = generateImages("dots", 1, 32, 1);
    await expect(scorer.score([small!])).rejects.toThrow(/32×32/);
    const other = await startBankScorer(arrays.slice(0, 1), 112, { workers: 3, backend: backend.name });
    expect(other.workers).toBe(1);
    await other.close();
    const [img] = generateImages("dots", 1, 112, 1);
    await expect(other.score([img!])).rejects.toThrow(/closed/);
  });
});
