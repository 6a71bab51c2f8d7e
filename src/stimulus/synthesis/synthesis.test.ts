import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCompactModel, FastCompactModel } from "../../models/compact/index.js";
import {
  compactResponseModel,
  populationResponseModel,
  routedResponseModel,
  type UnitResponseModel,
} from "../../models/response/index.js";
import type { RgbImage } from "../image.js";
import {
  adversarialPairs,
  patchesOverlap,
  pixelChange,
  randomSmoothing,
  saliencyMaps,
  smoothMinus,
  smoothPatches,
  SynthesisInputError,
  synthesizeMaximizing,
  topBankImages,
} from "./index.js";
import { gaussianBlur } from "../gaudy-blur.js";
import { chunksByBase } from "./smoothing.js";
import { roll2d } from "./maximize.js";

const S = 32;

/** A smooth oriented filter [S, S, 3] (a Gabor in luminance), unit norm. */
function gabor(theta: number, phase: number): Float32Array {
  const w = new Float32Array(S * S * 3);
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++) {
      const u = (x - S / 2) * Math.cos(theta) + (y - S / 2) * Math.sin(theta);
      const r2 = (x - S / 2) ** 2 + (y - S / 2) ** 2;
      const v = Math.exp(-r2 / (2 * 6 * 6)) * Math.cos((2 * Math.PI * u) / 10 + phase);
      for (let c = 0; c < 3; c++) w[(y * S + x) * 3 + c] = v;
    }
  const n = Math.sqrt(w.reduce((a, v) => a + v * v, 0));
  return w.map((v) => v / n);
}

const filters = [gabor(0, 0), gabor(Math.PI / 2, 0)];

/** Units that are single linear filters on pixels − 128: the optimum in 0..255 is known. */
function linearModel(): UnitResponseModel {
  const w = tf.tensor2d(
    Float32Array.from({ length: S * S * 3 * 2 }, (_, i) => filters[i % 2]![Math.floor(i / 2)]!),
    [S * S * 3, 2],
  );
  tf.keep(w);
  return populationResponseModel(
    (x) => tf.matMul(tf.reshape(tf.sub(x, 128), [x.shape[0], -1]), w) as tf.Tensor2D,
    2,
    S,
    "function",
  );
}

function linear(unit: number, image: RgbImage | Float32Array): number {
  const px = "pixels0to255" in image ? image.pixels0to255 : image;
  let s = 0;
  for (let i = 0; i < px.length; i++) s += filters[unit]![i]! * (px[i]! - 128);
  return s;
}

function correlation(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  let ma = 0;
  let mb = 0;
  for (let i = 0; i < n; i++) {
    ma += a[i]!;
    mb += b[i]!;
  }
  ma /= n;
  mb /= n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}

function noiseImage(seed: number, sd = 30): RgbImage {
  let s = seed;
  const px = new Uint8Array(S * S * 3);
  for (let i = 0; i < px.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    px[i] = Math.max(0, Math.min(255, Math.round(128 + sd * ((s / 2 ** 32) * 2 - 1))));
  }
  return { width: S, height: S, pixels0to255: px };
}

let model: UnitResponseModel;
beforeAll(async () => {
  await tf.setBackend("cpu");
  model = linearModel();
});
afterAll(() => tf.disposeVariables());

describe("maximizing synthesized", () => {
  it("finds an image that correlates with each unit's filter, far above noise, and is seeded", async () => {
    const before = tf.memory().numTensors;
    const opts = { restarts: 2, steps: 40, seed: 7 };
    const made = await synthesizeMaximizing(model, [0, 1], opts);
    expect(tf.memory().numTensors).toBe(before);
    for (const m of made) {
      expect(correlation(m.image.pixels0to255, filters[m.unit]!)).toBeGreaterThan(0.8);
      expect(correlation(m.image.pixels0to255, filters[1 - m.unit]!)).toBeLessThan(0.3);
      // The prediction reported is the stored 8-bit image's.
      expect(m.predicted).toBeCloseTo(linear(m.unit, m.image), 1);
      // The optimum in range (255 where w > 0, 0 where w < 0) predicts 127.5 ‖w‖₁ at most.
      const optimum = 127.5 * filters[m.unit]!.reduce((a, v) => a + Math.abs(v), 0);
      expect(m.predicted).toBeGreaterThan(0.5 * optimum);
      expect(m.predicted).toBe(Math.max(...m.restartPredictions));
    }
    const again = await synthesizeMaximizing(model, [0, 1], opts);
    expect(Buffer.from(again[0]!.image.pixels0to255).equals(Buffer.from(made[0]!.image.pixels0to255))).toBe(true);
  });

  it("with jitter, still follows the filter, differs from no jitter, and is seeded", async () => {
    const opts = { restarts: 1, steps: 40, seed: 7 };
    const plain = await synthesizeMaximizing(model, [0], opts);
    const jittered = await synthesizeMaximizing(model, [0], { ...opts, jitterPx: 2 });
    expect(correlation(jittered[0]!.image.pixels0to255, filters[0]!)).toBeGreaterThan(0.6);
    expect(Buffer.from(jittered[0]!.image.pixels0to255).equals(Buffer.from(plain[0]!.image.pixels0to255))).toBe(false);
    const again = await synthesizeMaximizing(model, [0], { ...opts, jitterPx: 2 });
    expect(Buffer.from(again[0]!.image.pixels0to255).equals(Buffer.from(jittered[0]!.image.pixels0to255))).toBe(true);
    await expect(synthesizeMaximizing(model, [0], { jitterPx: -1 })).rejects.toThrow(/jitterPx must be a whole number/);
  });

  it("from start images: restart 0 starts at the unit's image, later restarts near it; a count per unit", async () => {
    const starts = [noiseImage(3), noiseImage(4)];
    // A tiny step: the best iterate stays within a pixel level of where it started.
    const made = await synthesizeMaximizing(model, [0, 1], {
      restarts: 2,
      steps: 2,
      stepSize: 0.01,
      noiseSd: 10,
      startImages: starts,
    });
    made.forEach((m, k) => {
      const from = starts[k]!.pixels0to255;
      expect(pixelChange(m.restartImages[0]!.pixels0to255, from, "linf")).toBeLessThanOrEqual(1);
      const second = pixelChange(m.restartImages[1]!.pixels0to255, from, "linf");
      expect(second).toBeGreaterThan(5);
      expect(correlation(m.restartImages[1]!.pixels0to255, from)).toBeGreaterThan(0.5);
    });
    // Ascending from an image moves its prediction up.
    const up = await synthesizeMaximizing(model, [0], { restarts: 1, steps: 10, startImages: [starts[0]!] });
    expect(up[0]!.predicted).toBeGreaterThan(linear(0, starts[0]!) + 10);
    await expect(synthesizeMaximizing(model, [0, 1], { startImages: [starts[0]!] })).rejects.toThrow(
      /1 start images for 2 units × 4 restarts/,
    );
    // One a restart: each restart starts from its own image as it is.
    const own = [noiseImage(5), noiseImage(6), noiseImage(7), noiseImage(8)];
    const each = await synthesizeMaximizing(model, [0, 1], { restarts: 2, steps: 2, stepSize: 0.01, startImages: own });
    each.forEach((m, k) =>
      m.restartImages.forEach((im, r) =>
        expect(pixelChange(im.pixels0to255, own[k * 2 + r]!.pixels0to255, "linf")).toBeLessThanOrEqual(1),
      ),
    );
  });

  it("keeps each restart's best iterate of each span of its steps; the model's best is its image", async () => {
    const made = await synthesizeMaximizing(model, [0, 1], { restarts: 2, steps: 30, seed: 3, candidates: 3 });
    for (const m of made) {
      expect(m.restartCandidates.map((c) => c.length)).toEqual([3, 3]);
      m.restartCandidates.forEach((cands, r) => {
        const preds = m.candidatePredictions[r]!;
        cands.forEach((im, c) => expect(preds[c]).toBeCloseTo(linear(m.unit, im), 1));
        // A linear unit keeps rising: each span's best is above the one before.
        expect(preds[1]!).toBeGreaterThan(preds[0]!);
        expect(preds[2]!).toBeGreaterThan(preds[1]!);
        const best = preds.indexOf(Math.max(...preds));
        expect(m.restartImages[r]).toBe(cands[best]);
        expect(m.restartPredictions[r]).toBe(preds[best]);
      });
    }
    // One candidate: the same images as without the option.
    const one = await synthesizeMaximizing(model, [0], { restarts: 1, steps: 12, seed: 3 });
    expect(one[0]!.restartCandidates).toEqual([[one[0]!.image]]);
    await expect(synthesizeMaximizing(model, [0], { steps: 2, candidates: 3 })).rejects.toThrow(
      /3 candidates from 2 steps/,
    );
  });

  it("roll2d shifts rows and columns, wrapping round", () => {
    const x = tf.tensor4d(
      Float32Array.from({ length: 12 }, (_, i) => i),
      [1, 3, 4, 1],
    );
    const rolled = roll2d(x, 1, -1);
    // The pixel at (y, x) moves to (y + 1, x - 1), wrapping.
    expect(Array.from(rolled.dataSync())).toEqual([9, 10, 11, 8, 1, 2, 3, 0, 5, 6, 7, 4]);
    const back = roll2d(rolled, -1, 1);
    expect(Array.from(back.dataSync())).toEqual(Array.from(x.dataSync()));
    tf.dispose([x, rolled, back]);
  });

  it("refuses a unit the model does not have", async () => {
    await expect(synthesizeMaximizing(model, [2])).rejects.toThrow(/unit 2 is not one of the model's 2 units/);
    await expect(synthesizeMaximizing(model, [])).rejects.toBeInstanceOf(SynthesisInputError);
  });
});

describe("maximizing normal (streamed bank)", () => {
  it("keeps each unit's top k by prediction, highest first, from a generator", async () => {
    const images = Array.from({ length: 50 }, (_, i) => ({ ...noiseImage(i + 1), name: `im${i}.png` }));
    async function* bank(): AsyncGenerator<(typeof images)[number]> {
      for (const im of images) yield im;
    }
    const ranked = await topBankImages(model, [0, 1], bank(), { k: 5, batchSize: 7 });
    for (const r of ranked) {
      const expected = images
        .map((im) => ({ name: im.name, v: linear(r.unit, im) }))
        .sort((a, b) => b.v - a.v)
        .slice(0, 5);
      expect(r.top.map((t) => t.name)).toEqual(expected.map((e) => e.name));
      r.top.forEach((t, i) => expect(t.predicted).toBeCloseTo(expected[i]!.v, 2));
    }
  });

  it("refuses an empty bank", async () => {
    await expect(topBankImages(model, [0], [])).rejects.toThrow(/bank holds no images/);
  });
});

describe("adversarial ±", () => {
  it.each([
    ["l2", 300],
    ["linf", 4],
  ] as const)("stays within a %s budget of %d and moves the prediction both ways", async (norm, value) => {
    const bases = [noiseImage(3), noiseImage(4)];
    const pairs = await adversarialPairs(
      model,
      [
        { unit: 0, base: bases[0]! },
        { unit: 1, base: bases[1]! },
      ],
      { budget: { norm, value } },
    );
    for (const p of pairs) {
      for (const side of [p.plus, p.minus]) {
        expect(pixelChange(side.image.pixels0to255, p.base.pixels0to255, norm)).toBeLessThanOrEqual(value);
        expect(side.change).toBeLessThanOrEqual(value);
      }
      // A linear unit's best change within the budget: ‖w‖₂·budget (l2) or ‖w‖₁·budget (linf), less rounding.
      const best = norm === "l2" ? value : value * filters[p.unit]!.reduce((a, v) => a + Math.abs(v), 0);
      expect(p.plus.predicted - p.basePredicted).toBeGreaterThan(0.8 * best);
      expect(p.minus.predicted - p.basePredicted).toBeLessThan(-0.8 * best);
      expect(p.basePredicted).toBeCloseTo(linear(p.unit, p.base), 2);
    }
  });

  it("with jitter and gradient blur: within budget, still both ways, smoother than without, seeded", async () => {
    const items = [{ unit: 0, base: noiseImage(3) }];
    const budget = { norm: "l2", value: 300 } as const;
    const plain = await adversarialPairs(model, items, { budget });
    const priors = { budget, jitterPx: 2, gradientBlurPx: 2, seed: 5 };
    const [p] = await adversarialPairs(model, items, priors);
    for (const side of [p!.plus, p!.minus])
      expect(pixelChange(side.image.pixels0to255, p!.base.pixels0to255, "l2")).toBeLessThanOrEqual(300);
    // A blurred gradient is not the steepest direction, but still climbs a smooth filter most of the way.
    expect(p!.plus.predicted - p!.basePredicted).toBeGreaterThan(0.5 * 300);
    expect(p!.minus.predicted - p!.basePredicted).toBeLessThan(-0.5 * 300);
    // The change's roughness (mean squared difference of horizontal neighbours over its power) is lower.
    const roughness = (image: RgbImage): number => {
      const d = Float32Array.from(image.pixels0to255, (v, i) => v - p!.base.pixels0to255[i]!);
      let rough = 0;
      let power = 0;
      for (let i = 0; i < d.length; i++) {
        power += d[i]! ** 2;
        if (i % (S * 3) < (S - 1) * 3) rough += (d[i + 3]! - d[i]!) ** 2;
      }
      return rough / power;
    };
    expect(roughness(p!.plus.image)).toBeLessThan(roughness(plain[0]!.plus.image));
    const [again] = await adversarialPairs(model, items, priors);
    expect(Buffer.from(again!.plus.image.pixels0to255).equals(Buffer.from(p!.plus.image.pixels0to255))).toBe(true);
    await expect(adversarialPairs(model, items, { budget, jitterPx: 1.5 })).rejects.toThrow(/jitterPx/);
  });

  it("refuses a budget ≤ 0", async () => {
    await expect(
      adversarialPairs(model, [{ unit: 0, base: noiseImage(1) }], { budget: { norm: "l2", value: 0 } }),
    ).rejects.toThrow(/budget must be a number > 0/);
  });
});

describe("saliency, smooth− and the random-smoothing control", () => {
  const patchPx = 6;
  const opts = { patchPx, stridePx: 3, blurPx: 3 };

  it("saliency: each position's change is the prediction with that patch smoothed minus the base's", async () => {
    const image = noiseImage(9, 60);
    const [map] = await saliencyMaps(model, [{ unit: 0, image }], opts);
    const blurred = gaussianBlur(image, 3);
    for (const j of [0, 17, map!.positions.length - 1]) {
      const direct = linear(0, smoothPatches(image, blurred, [map!.positions[j]!], patchPx)) - linear(0, image);
      expect(map!.change[j]).toBeCloseTo(direct, 2);
    }
  });

  it(
    "smooth− lowers the prediction with non-overlapping patches; the control smooths exactly as many " + "pixels",
    async () => {
      const items = [
        { unit: 0, image: noiseImage(11, 60) },
        { unit: 1, image: noiseImage(12, 60) },
      ];
      const minus = await smoothMinus(model, items, { ...opts, patches: 8, rescore: Infinity });
      const control = await randomSmoothing(
        model,
        minus.map((m, i) => ({ unit: m.unit, image: items[i]!.image, patches: m.patches.length })),
        { ...opts, seed: 3 },
      );
      const covered = (patches: { x: number; y: number }[]): number => {
        const mask = new Uint8Array(S * S);
        for (const p of patches)
          for (let y = p.y; y < p.y + patchPx; y++) for (let x = p.x; x < p.x + patchPx; x++) mask[y * S + x] = 1;
        return mask.reduce((a, v) => a + v, 0);
      };
      minus.forEach((m, i) => {
        expect(m.patches).toHaveLength(8);
        for (const set of [m.patches, control[i]!.patches])
          for (let a = 0; a < set.length; a++)
            for (let b = a + 1; b < set.length; b++) expect(patchesOverlap(set[a]!, set[b]!, patchPx)).toBe(false);
        expect(covered(m.patches)).toBe(8 * patchPx * patchPx);
        expect(covered(control[i]!.patches)).toBe(covered(m.patches));
        expect(control[i]!.pixelsSmoothed).toBe(m.pixelsSmoothed);
        expect(m.predicted).toBeLessThan(m.basePredicted);
        expect(m.predicted).toBeCloseTo(linear(m.unit, m.image), 2);
        // Greedy on a linear unit picks the most negative patches: better than the random control.
        expect(m.predicted).toBeLessThan(control[i]!.predicted);
        // Outside the patches nothing changed.
        const changed = new Uint8Array(S * S);
        for (let j = 0; j < S * S * 3; j++)
          if (m.image.pixels0to255[j] !== items[i]!.image.pixels0to255[j]) changed[Math.floor(j / 3)] = 1;
        for (let p = 0; p < S * S; p++) {
          if (!changed[p]) continue;
          const x = p % S;
          const y = Math.floor(p / S);
          expect(m.patches.some((q) => x >= q.x && x < q.x + patchPx && y >= q.y && y < q.y + patchPx)).toBe(true);
        }
      });
    },
  );
});

describe("routed units", () => {
  it("a unit routed to another model predicts and differentiates as that model's unit", async () => {
    const routed = routedResponseModel([
      { model, unit: 1 },
      { model, unit: 0 },
    ]);
    const x = tf.tensor4d(Float32Array.from(noiseImage(5).pixels0to255), [1, S, S, 3]);
    const xx = tf.concat([x, x]) as tf.Tensor4D;
    const a = routed.predict(xx, [0, 1]);
    const b = model.predict(xx, [1, 0]);
    expect(Array.from(a.dataSync())).toEqual(Array.from(b.dataSync()));
    const ga = routed.gradient(xx, [0, 1], [1, -1]);
    const gb = model.gradient(xx, [1, 0], [1, -1]);
    expect(tf.max(tf.abs(tf.sub(ga, gb))).dataSync()[0]).toBeLessThan(1e-6);
    tf.dispose([x, xx, a, b, ga, gb]);
  });
});

describe("smoothing through compact models (layers near the input recomputed around each patch)", () => {
  const fast: FastCompactModel[] = [];
  let local: UnitResponseModel;
  let whole: UnitResponseModel;
  beforeAll(() => {
    for (const [i, f] of [
      [6, 5, 4, 4, 3],
      [6, 5, 4, 9, 8],
    ].entries()) {
      const m = createCompactModel(f, { inputSize: S, seed: 20 + i });
      fast.push(FastCompactModel.fromModel(m));
      m.dispose();
    }
    local = routedResponseModel(fast.map((f) => ({ model: compactResponseModel(f), unit: 0 })));
    // The same units with the local path taken away: every candidate predicted whole.
    whole = { ...local, predictNear: undefined };
  });
  afterAll(() => fast.forEach((f) => f.dispose()));
  const opts = { patchPx: 6, stridePx: 3, blurPx: 3, batchSize: 16 };
  const items = [
    { unit: 0, image: noiseImage(21, 60) },
    { unit: 1, image: noiseImage(22, 60) },
    { unit: 1, image: noiseImage(23, 60) },
  ];
  const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string): void => {
    const scale = Math.max(...Array.from(b, Math.abs));
    expect(scale, `${what}: all zeros`).toBeGreaterThan(1e-4);
    for (let i = 0; i < b.length; i++)
      expect(Math.abs(a[i]! - b[i]!), `${what} ${i}`).toBeLessThanOrEqual(1e-4 * scale);
  };

  it("saliency maps equal the whole model's within 1e-4 relative", async () => {
    const [a, b] = [await saliencyMaps(local, items, opts), await saliencyMaps(whole, items, opts)];
    a.forEach((map, i) => {
      close(map.change, b[i]!.change, `item ${i} change`);
      expect(map.basePredicted).toBe(b[i]!.basePredicted);
    });
  });

  it("smooth− picks the same patches and predicts the same as the whole model", async () => {
    const [a, b] = [
      await smoothMinus(local, items, { ...opts, patches: 5 }),
      await smoothMinus(whole, items, { ...opts, patches: 5 }),
    ];
    a.forEach((m, i) => {
      expect(m.patches).toEqual(b[i]!.patches);
      expect(m.predicted).toBe(b[i]!.predicted);
      expect(m.image.pixels0to255).toEqual(b[i]!.image.pixels0to255);
    });
  });

  it("batches a base's variants together unless they alone exceed a batch", () => {
    const runs = (bases: number[], size: number): [number, number][] =>
      chunksByBase(
        bases.map((base) => ({ base })),
        size,
      );
    expect(runs([0, 0, 0, 1, 1, 2], 4)).toEqual([
      [0, 3],
      [3, 6],
    ]);
    expect(runs([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 4)).toEqual([
      [0, 4],
      [4, 8],
      [8, 10],
    ]);
    expect(runs([0, 1, 1, 1, 1, 1], 4)).toEqual([
      [0, 1],
      [1, 5],
      [5, 6],
    ]);
    expect(runs([], 4)).toEqual([]);
  });
});
