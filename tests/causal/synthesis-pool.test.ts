import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { selectBackend } from "../../src/models/backend.js";
import type { FastCompactModel } from "../../src/models/compact/index.js";
import { compactResponseModel, routedResponseModel } from "../../src/models/response/index.js";
import { designCausal, type CausalDesignOptions, type DesignModel } from "../../src/main/causal/index.js";
import { startSynthesisPool, type SynthesisPool } from "../../src/main/causal/synthesis-pool.js";
import { generateImages, type NamedImage, type RgbImage } from "../../src/stimulus/index.js";
import {
  imagesToTensor,
  randomSmoothing,
  smoothMinus,
  synthesizeMaximizing,
  SynthesisInputError,
} from "../../src/stimulus/synthesis/index.js";
import * as tf from "@tensorflow/tfjs";
import { compactUnits as randomCompactUnits, type CompactUnits } from "../helpers/compact-units.js";

let units: CompactUnits;
let fast: FastCompactModel[];
let pool: SynthesisPool;

const options: Partial<CausalDesignOptions> = {
  restarts: 2,
  steps: 4,
  normalPerUnit: 2,
  adversarialPerUnit: 2,
  budget: { norm: "l2", value: 600 },
  smoothPerUnit: 2,
  // No choice among candidates here (near-equal drops could order differently on one thread and two).
  smoothCandidates: 2,
  smoothPatches: 2,
  patchPx: 28,
  stridePx: 28,
  randomNormal: 6,
  saliency: false,
  seed: 3,
};

async function* bankOf(images: NamedImage[]): AsyncGenerator<NamedImage> {
  for (const im of images) yield im;
}

beforeAll(async () => {
  const backend = await selectBackend({ log: () => {} });
  units = randomCompactUnits([5, 6]);
  fast = units.fast;
  pool = await startSynthesisPool(units.arrays, 112, { workers: 2, backend: backend.name });
});

afterAll(async () => {
  await pool.close();
  units.dispose();
});

function compactUnits(): DesignModel {
  return {
    model: units.model,
    units: ["a#0", "b#0"].map((name, i) => ({
      name,
      electrode: name.slice(0, 1),
      sortedId: 0,
      source: "compact" as const,
      modelVersionId: i + 1,
    })),
    imageSize: 112,
    scale: "compact",
    dispose() {},
  };
}

function predictOne(f: FastCompactModel, image: RgbImage): number {
  const x = imagesToTensor([image]);
  const p = f.predict(x);
  const v = p.dataSync()[0]!;
  tf.dispose([x, p]);
  return v;
}

const bank = (): NamedImage[] =>
  [...generateImages("gratings", 8, 112, 21), ...generateImages("dots", 8, 112, 22)].map((im, i) => ({
    ...im,
    name: `bank${i}`,
  }));

describe("causal design: smooth− candidates", () => {
  for (const keepBy of ["drop", "contrast"] as const)
    it(`shows, per unit, the smooth− of its top images with the largest predicted drop (${keepBy})`, async () => {
      const dm = compactUnits();
      const o = {
        ...options,
        normalPerUnit: 4,
        smoothPerUnit: 2,
        smoothCandidates: 4,
        adversarialPerUnit: 0,
        smoothKeepBy: keepBy,
      };
      const design = await designCausal(dm, bankOf(bank()), o);
      let chosenNotFirst = 0;
      let rulesDiffer = 0;
      for (const unit of [0, 1]) {
        const top = design.images.filter((im) => im.kind === "maximizing-normal" && im.unit === unit);
        expect(top).toHaveLength(4);
        // Each of the four top images smoothed as the design does, alone, with its random control.
        const smoothing = { patches: 2, patchPx: 28, stridePx: 28, blurPx: 8 };
        const all = await smoothMinus(
          dm.model,
          top.map((t) => ({ unit, image: t.image })),
          smoothing,
        );
        const control = await randomSmoothing(
          dm.model,
          all.map((m, i) => ({ unit, image: top[i]!.image, patches: m.patches.length })),
          { ...smoothing, seed: 3 },
        );
        const keptBy = (by: "drop" | "contrast"): string[] =>
          all
            .map((m, i) => ({
              d: m.predicted - (by === "drop" ? m.basePredicted : control[i]!.predicted),
              name: top[i]!.name ?? "",
            }))
            .sort((a, b) => a.d - b.d)
            .slice(0, 2)
            .map((x) => x.name)
            .sort();
        const best = keptBy(keepBy);
        if (keptBy("drop").join() !== keptBy("contrast").join()) rulesDiffer++;
        const bases = design.images.filter((im) => im.kind === "smooth-base" && im.unit === unit);
        expect(bases.map((b) => b.name).sort()).toEqual(best.sort());
        if (best.some((name) => name !== top[0]!.name && name !== top[1]!.name)) chosenNotFirst++;
        expect(design.images.filter((im) => im.kind === "smooth-minus" && im.unit === unit)).toHaveLength(2);
        expect(design.images.filter((im) => im.kind === "random-smoothed" && im.unit === unit)).toHaveLength(2);
      }
      // The fixture tells a choice from the top two images apart, and the two rules' choices.
      expect(chosenNotFirst).toBeGreaterThan(0);
      expect(rulesDiffer).toBeGreaterThan(0);
    });
});

describe("causal design: a ranking model", () => {
  it("picks each unit's maximizing normal images by the ranking model and predicts them by the design's", async () => {
    const dm = compactUnits();
    // Unit 0 ranked by model b, unit 1 by model a.
    const rankModel = routedResponseModel([1, 0].map((i) => ({ model: compactResponseModel(fast[i]!), unit: 0 })));
    const o = { ...options, normalPerUnit: 3, adversarialPerUnit: 0, smoothPerUnit: 0, restarts: 1, steps: 1 };
    const images = bank();
    const design = await designCausal({ ...dm, rankModel }, bankOf(images), o);
    const plain = await designCausal(dm, bankOf(images), o);
    for (const unit of [0, 1]) {
      const expected = images
        .map((image) => ({ name: image.name, v: predictOne(fast[1 - unit]!, image) }))
        .sort((a, b) => b.v - a.v)
        .slice(0, 3)
        .map((x) => x.name);
      const picked = design.images.filter((im) => im.kind === "maximizing-normal" && im.unit === unit);
      expect(picked.map((p) => p.name)).toEqual(expected);
      picked.forEach((p) => expect(p.predicted).toBeCloseTo(predictOne(fast[unit]!, p.image), 3));
      const own = plain.images.filter((im) => im.kind === "maximizing-normal" && im.unit === unit);
      expect(own.map((p) => p.name)).not.toEqual(expected);
    }
  });
  it("chooses each maximizing synthesized restart's image among its spans' best by the ranking model", async () => {
    const dm = compactUnits();
    const rankModel = routedResponseModel([1, 0].map((i) => ({ model: compactResponseModel(fast[i]!), unit: 0 })));
    const o = {
      ...options,
      adversarialPerUnit: 0,
      smoothPerUnit: 0,
      restarts: 3,
      steps: 9,
      maximizingFrom: "noise" as const,
      maximizingCandidates: 3,
    };
    const design = await designCausal({ ...dm, rankModel }, bankOf(bank()), o);
    let notOwnChoice = 0;
    for (const unit of [0, 1]) {
      // The design runs each unit's restarts as its own job (a half of the units).
      const [alone] = await synthesizeMaximizing(dm.model, [unit], {
        jitterPx: 4,
        gradientBlurPx: 2,
        restarts: 3,
        steps: 9,
        seed: 3,
        candidates: 3,
      });
      const shown = design.images.filter((im) => im.kind === "maximizing-synthesized" && im.unit === unit);
      expect(shown).toHaveLength(3);
      alone!.restartCandidates.forEach((cands, r) => {
        const byRank = cands.map((im) => predictOne(fast[1 - unit]!, im));
        const c = byRank.indexOf(Math.max(...byRank));
        expect(Buffer.from(shown[r]!.image.pixels0to255).equals(Buffer.from(cands[c]!.pixels0to255))).toBe(true);
        expect(shown[r]!.predicted).toBeCloseTo(predictOne(fast[unit]!, cands[c]!), 3);
        if (cands[c] !== alone!.restartImages[r]) notOwnChoice++;
      });
    }
    // The fixture tells the ranking model's choice from the design model's apart.
    expect(notOwnChoice).toBeGreaterThan(0);
  });
});

describe("synthesis pool (worker threads)", () => {
  it("designs the same images on its workers, the kinds at once, as the main thread one after another", async () => {
    expect(pool.workers).toBe(2);
    const onMain = compactUnits();
    const plain = await designCausal(onMain, bankOf(bank()), options);
    const viaPool = await designCausal({ ...onMain, synthesize: pool.run }, bankOf(bank()), options);
    const shape = (d: typeof plain) => d.images.map((im) => [im.kind, im.unit, im.base, im.name]);
    expect(shape(viaPool)).toEqual(shape(plain));
    for (const kind of ["maximizing-synthesized", "adversarial-plus", "adversarial-minus", "smooth-minus"])
      expect(plain.images.filter((im) => im.kind === kind).length).toBeGreaterThan(0);
    plain.images.forEach((im, i) => {
      const other = viaPool.images[i]!;
      // One wasm thread against the main backend's two: the same steps, sums at most in another order.
      expect(other.predicted).toBeCloseTo(im.predicted, 2);
      let differ = 0;
      im.image.pixels0to255.forEach((v, j) => (differ += Math.abs(v - other.image.pixels0to255[j]!) > 2 ? 1 : 0));
      expect(differ / im.image.pixels0to255.length).toBeLessThan(0.01);
    });
    for (const kind of ["maximizing synthesized", "adversarial", "smooth−", "random smoothing"])
      expect(viaPool.seconds[kind]).toBeGreaterThan(0);
  });

  it("gives a job's input error as the same error, and fails clearly once closed", async () => {
    const [base] = generateImages("dots", 1, 112, 1);
    const bad = pool.run({
      kind: "adversarial",
      items: [{ unit: 0, base: base! }],
      options: { budget: { norm: "l2", value: 0 } },
    });
    await expect(bad).rejects.toBeInstanceOf(SynthesisInputError);
    await expect(bad).rejects.toThrow(/budget must be a number > 0/);
    const other = await startSynthesisPool(units.arrays.slice(0, 1), 112, { workers: 1 });
    await other.close();
    await expect(other.run({ kind: "maximizing synthesized", units: [0], options: { steps: 1 } })).rejects.toThrow(
      /closed/,
    );
  });
});
