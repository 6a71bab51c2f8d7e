// A causal-test design: per unit, images from its model (maximizing synthesized and normal,
// adversarial ± pairs, smooth− with the random-smoothing control) and a pool of randomly chosen
// normal images, each with its provenance. Computed in memory; storing it is store-design.ts.
import { performance } from "node:perf_hooks";
import * as tf from "@tensorflow/tfjs";
import { Random, type NamedImage, type RgbImage } from "../../stimulus/index.js";
import {
  chooseMaximizing,
  imagesToTensor,
  predictMany,
  saliencyMaps,
  topBankImages,
  priorsProblem,
  type GradientPriors,
  type MaximizeOptions,
  type PixelBudget,
  type SaliencyMap,
} from "../../stimulus/synthesis/index.js";
import type { DesignModel } from "./model-units.js";
import { CausalInputError } from "./errors.js";
import { processCpuSeconds, runDesignJobs, type JobOf } from "./synthesis-jobs.js";

export const CAUSAL_KINDS = [
  "random-normal",
  "maximizing-synthesized",
  "maximizing-normal",
  "adversarial-base",
  "adversarial-plus",
  "adversarial-minus",
  "smooth-base",
  "smooth-minus",
  "random-smoothed",
] as const;
export type CausalKind = (typeof CAUSAL_KINDS)[number];

export interface CausalImage {
  image: RgbImage;
  /** Index into `units`. */
  unit: number;
  kind: CausalKind;
  /** Index into `images` of the image it was made from (adversarial and smoothed images). */
  base?: number;
  predicted: number;
  /** For bank images, their name in the bank. */
  name?: string;
}

export interface CausalDesignOptions {
  restarts: number;
  steps: number;
  normalPerUnit: number;
  adversarialPerUnit: number;
  /**
   * Where each unit's adversarial bases come from: the randomly chosen normal images whose predicted
   * response for the unit lies between these quantiles of the pool's ([0, 1]: any of them). From a base
   * that drives the unit moderately, both directions have room (docs/causal-tests.md).
   */
  adversarialBases: [number, number];
  budget: PixelBudget;
  smoothPerUnit: number;
  /**
   * Per unit, how many of its top bank images smooth− is tried on (at least smoothPerUnit): the
   * smoothPerUnit that `smoothKeepBy` ranks first are shown. Through campaign D's compact models, 4 of 12
   * chosen by predicted drop fell 28.7% against 23.7% for the top 4 (docs/causal-tests.md).
   */
  smoothCandidates: number;
  /**
   * Which candidates are shown: "contrast", those whose smooth− the model predicts lowers the response most
   * beyond its random-smoothing control (the contrast the test measures); "drop", most in itself. Through
   * campaign F's compact models, 6 patches of 24 px: −26.1% / control −4.4% by contrast, −25.5% / −6.1% by drop.
   */
  smoothKeepBy: "contrast" | "drop";
  /**
   * Patches smoothed per smooth− image. Through campaign H's compact models (kept by contrast): 6 patches of 24 px
   * −23.7% / control −5.6%, 8 −26.5% / −6.7%, 10 −32.0% / −11.2% (docs/causal-tests.md).
   */
  smoothPatches: number;
  /** Blur of a smoothed patch (Gaussian sigma, px). */
  smoothBlurPx: number;
  /** Side of a smoothed patch and the grid step of patch positions, px. */
  patchPx: number;
  stridePx: number;
  randomNormal: number;
  saliency: boolean;
  seed: number;
  /**
   * Priors on the gradient that maximizing synthesized and adversarial images follow: jitter and blur
   * (src/stimulus/synthesis/prior-gradient.ts). Without them the designs move the model and not the
   * neuron (docs/causal-tests.md).
   */
  priors: GradientPriors;
  /**
   * Where maximizing synthesized images start: "normal", restart r of a unit from its r-th maximizing normal
   * image (the ascent takes the best the bank offers further); "noise", from seeded noise around mid-grey.
   * Through campaign C's compact models the same ascent reached +94% from a unit's best natural image against
   * +88% from noise (docs/causal-tests.md).
   */
  maximizingFrom: "normal" | "noise";
  /**
   * Where the design ranks by another model than it synthesizes through (compact models and their ensemble):
   * per maximizing synthesized restart, the best iterate of each of this many spans of the steps is kept
   * and the ensemble chooses among them. Through campaign E's compact models, 6 so chosen drove the neurons
   * +100.2% against +95.0% for the compact model's own best iterate (3: +98.1%; docs/causal-tests.md).
   */
  maximizingCandidates: number;
  /** Extra maximizing settings (tests shorten them). */
  maximize?: Partial<MaximizeOptions>;
}

export const defaultCausalDesignOptions: CausalDesignOptions = {
  restarts: 4,
  steps: 150,
  normalPerUnit: 10,
  adversarialPerUnit: 10,
  adversarialBases: [0.5, 0.8],
  budget: { norm: "l2", value: 8000 },
  smoothPerUnit: 10,
  smoothCandidates: 30,
  smoothKeepBy: "contrast",
  smoothPatches: 8,
  smoothBlurPx: 8,
  patchPx: 24,
  stridePx: 24,
  randomNormal: 40,
  saliency: true,
  seed: 1,
  priors: { jitterPx: 4, gradientBlurPx: 2 },
  maximizingFrom: "normal",
  maximizingCandidates: 6,
};

export interface CausalDesign {
  images: CausalImage[];
  /** Per unit, the saliency map of its top bank image. */
  saliency: { unit: number; baseName: string; map: SaliencyMap }[];
  bankImages: number;
  /** Wall-clock seconds spent per kind of work. */
  seconds: Record<string, number>;
  /** CPU seconds (user + system, all threads) per kind of work: on a shared machine, closer to the work done. */
  cpuSeconds: Record<string, number>;
  /** Gradient steps taken (maximizing and adversarial), for steps/s. */
  gradientImageSteps: number;
  /**
   * Wall-clock seconds of the maximizing, adversarial and smooth− work together: where it ran at once on
   * worker threads, less than the sum of their `seconds` (each job's time on its thread).
   */
  synthesisWall: number;
}

function checkOptions(o: CausalDesignOptions): void {
  const counts = [
    "restarts",
    "steps",
    "normalPerUnit",
    "randomNormal",
    "smoothPatches",
    "smoothCandidates",
    "patchPx",
    "stridePx",
    "maximizingCandidates",
  ] as const;
  for (const key of counts) {
    if (!Number.isInteger(o[key]) || o[key] < 1)
      throw new CausalInputError("option", `${key} must be a whole number ≥ 1, got ${o[key]}.`);
  }
  for (const key of ["adversarialPerUnit", "smoothPerUnit"] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 0)
      throw new CausalInputError("option", `${key} must be a whole number ≥ 0, got ${o[key]}.`);
  }
  if (!(Number.isFinite(o.smoothBlurPx) && o.smoothBlurPx > 0))
    throw new CausalInputError("option", `smoothBlurPx must be a number > 0 (px), got ${o.smoothBlurPx}.`);
  if (!(Number.isFinite(o.budget.value) && o.budget.value > 0)) {
    throw new CausalInputError(
      "option",
      `The adversarial budget must be a number > 0 on 0..255 pixels (e.g. --budget l2:8000), got ${o.budget.value}.`,
    );
  }
  if (o.smoothKeepBy !== "contrast" && o.smoothKeepBy !== "drop")
    throw new CausalInputError("option", `smoothKeepBy must be "contrast" or "drop", got "${String(o.smoothKeepBy)}".`);
  if (!isQuantileBand(o.adversarialBases))
    throw new CausalInputError(
      "option",
      `The adversarial bases' quantiles must satisfy 0 ≤ from < to ≤ 1 (e.g. 0.5:0.8), got ` +
        `${o.adversarialBases.join(":")}.`,
    );
  const priors = priorsProblem(o.priors);
  if (priors !== undefined) throw new CausalInputError("option", `The gradient priors: ${priors}`);
}

/** Reservoir sample of `k` bank images (seeded) while the bank streams past. */
class Reservoir {
  readonly items: NamedImage[] = [];
  private seen = 0;
  constructor(
    private readonly k: number,
    private readonly random: Random,
  ) {}
  offer(item: NamedImage): void {
    this.seen++;
    if (this.items.length < this.k) this.items.push(item);
    else {
      const j = this.random.int(this.seen);
      if (j < this.k) this.items[j] = item;
    }
  }
}

/** Whether `[from, to]` are quantiles with 0 ≤ from < to ≤ 1 (NaN is not). */
export function isQuantileBand([lo, hi]: readonly number[]): boolean {
  return lo! >= 0 && hi! <= 1 && lo! < hi!;
}

/**
 * Pool images (indices) for one unit's adversarial bases: `count` of those whose prediction lies between
 * the quantiles `band` of the pool's predictions, widened to the nearest ranks where the band holds fewer.
 */
export function adversarialBaseCandidates(
  predicted: readonly number[],
  band: [number, number],
  count: number,
): number[] {
  const order = predicted.map((_, i) => i).sort((a, b) => predicted[a]! - predicted[b]! || a - b);
  const n = order.length;
  const need = Math.min(count, n);
  const hi = Math.min(n, Math.max(Math.ceil(band[1] * n), Math.floor(band[0] * n) + need));
  const lo = Math.max(0, Math.min(Math.floor(band[0] * n), hi - need));
  return order.slice(lo, hi);
}

/** Every unit's prediction for each image, in batches of 32. */
export async function predictAllOf(model: DesignModel["model"], images: readonly RgbImage[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (let start = 0; start < images.length; start += 32) {
    const x = imagesToTensor(images.slice(start, start + 32));
    const p = model.predictAll(x);
    const v = await p.data();
    tf.dispose([x, p]);
    for (let i = 0; i < p.shape[0]; i++)
      out.push(Float32Array.from(v.subarray(i * model.unitCount, (i + 1) * model.unitCount)));
  }
  return out;
}

export async function designCausal(
  dm: DesignModel,
  bank: AsyncIterable<NamedImage>,
  options: Partial<CausalDesignOptions> = {},
  log: (line: string) => void = () => {},
): Promise<CausalDesign> {
  const o = { ...defaultCausalDesignOptions, ...options };
  checkOptions(o);
  const model = dm.model;
  const units = dm.units.map((_, i) => i);
  const random = new Random(o.seed);
  const seconds: Record<string, number> = {};
  const cpuSeconds: Record<string, number> = {};
  /** Adds parts' seconds to their kinds' and says each kind's so far. */
  const record = (partSeconds: Record<string, number>, partCpu: Record<string, number>): void => {
    for (const [what, sec] of Object.entries(partSeconds)) {
      seconds[what] = (seconds[what] ?? 0) + sec;
      cpuSeconds[what] = (cpuSeconds[what] ?? 0) + partCpu[what]!;
      log(`${what}: ${seconds[what]!.toFixed(1)} s`);
    }
  };
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = performance.now();
    const c0 = processCpuSeconds();
    const r = await fn();
    record({ [what]: (performance.now() - t0) / 1000 }, { [what]: processCpuSeconds() - c0 });
    return r;
  };
  const patch = { patchPx: o.patchPx, stridePx: o.stridePx };
  const images: CausalImage[] = [];
  const add = (img: Omit<CausalImage, "image"> & { image: RgbImage }): number => images.push(img) - 1;

  // One pass over the bank: each unit's top images and a seeded random pool of normal images.
  const reservoir = new Reservoir(o.randomNormal, random);
  let bankImages = 0;
  async function* tee(): AsyncGenerator<NamedImage> {
    for await (const im of bank) {
      bankImages++;
      reservoir.offer(im);
      yield im;
    }
  }
  const smoothCandidates = o.smoothPerUnit === 0 ? 0 : Math.max(o.smoothPerUnit, o.smoothCandidates);
  const k = Math.max(o.normalPerUnit, smoothCandidates);
  // The random pool's predictions are the bank's own (every pool image was scored there).
  const scores = new WeakMap<NamedImage, Float32Array>();
  const onScored = (image: NamedImage, predictions: Float32Array): void => {
    if (reservoir.items.includes(image)) scores.set(image, predictions);
  };
  // Ranked by the design's ranking model where it has one (its ensemble), the images then predicted by `model`.
  const rankModel = dm.rankModel ?? model;
  if (dm.rankModel !== undefined)
    log("maximizing normal: the bank ranked by the ensemble, the images it picks predicted by the design's models");
  const ranked = await timed("maximizing normal", async () => {
    const byRank = await topBankImages(rankModel, units, tee(), {
      k,
      batchSize: 64,
      onScored,
      score: dm.rankModel === undefined ? dm.scoreBank : undefined,
    });
    if (dm.rankModel === undefined) return byRank;
    const tops = byRank.flatMap((r) => r.top.map((t) => ({ unit: r.unit, image: t.image })));
    const predicted = Array.from(await predictMany(model, tops, 32));
    let next = 0;
    return byRank.map((r) => ({ ...r, top: r.top.map((t) => ({ ...t, predicted: predicted[next++]! })) }));
  });
  const pool = reservoir.items;
  const poolPredicted =
    dm.rankModel === undefined ? pool.map((im) => scores.get(im)!) : await predictAllOf(model, pool);
  pool.forEach((im, i) =>
    units.forEach((u) =>
      add({ image: im, unit: u, kind: "random-normal", predicted: poolPredicted[i]![u]!, name: im.name }),
    ),
  );
  // Per unit, its top bank images as stored (maximizing normal where shown, else -1).
  const topIndex = ranked.map((r) =>
    r.top.map((t, i) =>
      i < o.normalPerUnit
        ? add({ image: t.image, unit: r.unit, kind: "maximizing-normal", predicted: t.predicted, name: t.name })
        : -1,
    ),
  );
  // --maximizing-from normal: restart r of a unit starts from its (r mod top)-th best image, its base.
  const starts =
    o.maximizingFrom === "normal" && ranked.every((r) => r.top.length > 0)
      ? ranked.flatMap((r, k) =>
          Array.from({ length: o.restarts }, (_, i) => {
            const t = i % r.top.length;
            return { image: r.top[t]!.image, base: topIndex[k]![t]! };
          }),
        )
      : undefined;
  const maximizeJob: JobOf<"maximizing synthesized"> = {
    kind: "maximizing synthesized",
    units,
    options: {
      ...o.priors,
      ...o.maximize,
      restarts: o.restarts,
      steps: o.steps,
      seed: o.seed,
      candidates: dm.rankModel === undefined ? 1 : Math.min(o.maximizingCandidates, o.steps),
      ...(starts === undefined ? {} : { startImages: starts.map((s) => s.image) }),
    },
  };
  const adversarialItems = units.flatMap((u) => {
    if (o.adversarialPerUnit === 0) return [];
    const band = adversarialBaseCandidates(
      poolPredicted.map((p) => p[u]!),
      o.adversarialBases,
      o.adversarialPerUnit,
    );
    const picks = new Set<number>();
    while (picks.size < Math.min(o.adversarialPerUnit, band.length)) picks.add(band[random.int(band.length)]!);
    return [...picks].map((p) => ({ unit: u, base: pool[p]! }));
  });
  const smoothItems = units.flatMap((u) =>
    ranked[u]!.top.slice(0, smoothCandidates).map((t) => ({ unit: u, image: t.image, name: t.name })),
  );
  const done = await runDesignJobs(
    model,
    dm.synthesize,
    {
      maximizing: maximizeJob,
      ...(adversarialItems.length === 0
        ? {}
        : {
            adversarial: {
              kind: "adversarial",
              items: adversarialItems,
              options: { budget: o.budget, ...o.priors, seed: o.seed },
            },
          }),
      ...(smoothItems.length === 0
        ? {}
        : {
            smooth: {
              kind: "smooth−",
              items: smoothItems.map(({ unit, image }) => ({ unit, image })),
              options: { patches: o.smoothPatches, blurPx: o.smoothBlurPx, ...patch },
              seed: o.seed,
            },
          }),
    },
    record,
  );
  const { adversarial: pairs, smooth: smoothed, wall: synthesisWall } = done;
  const spans = maximizeJob.options.candidates ?? 1;
  const choosing = dm.rankModel !== undefined && spans > 1;
  if (choosing)
    log(`maximizing synthesized: each restart's image chosen by the ensemble among its ${spans} spans' best iterates`);
  const maximizing = choosing
    ? await timed("maximizing choice", () => chooseMaximizing(rankModel, done.maximizing))
    : done.maximizing;
  maximizing.forEach((m, k) =>
    m.restartImages.forEach((image, r) => {
      const base = starts?.[k * o.restarts + r]?.base ?? -1;
      add({
        image,
        unit: m.unit,
        kind: "maximizing-synthesized",
        predicted: m.restartPredictions[r]!,
        ...(base >= 0 ? { base } : {}),
      });
    }),
  );
  pairs.forEach((p, i) => {
    const base = add({
      image: p.base,
      unit: p.unit,
      kind: "adversarial-base",
      predicted: p.basePredicted,
      name: adversarialItems[i]!.base.name,
    });
    add({ image: p.plus.image, unit: p.unit, kind: "adversarial-plus", base, predicted: p.plus.predicted });
    add({ image: p.minus.image, unit: p.unit, kind: "adversarial-minus", base, predicted: p.minus.predicted });
  });
  // Per unit, the smoothPerUnit candidates whose smooth− the model predicts the largest drop for (beyond the
  // random control's, by contrast).
  const candidatesOf = new Map<number, number[]>();
  smoothed.minus.forEach((m, i) => candidatesOf.set(m.unit, [...(candidatesOf.get(m.unit) ?? []), i]));
  const drop = (i: number): number =>
    smoothed.minus[i]!.predicted -
    (o.smoothKeepBy === "contrast" ? smoothed.control[i]!.predicted : smoothed.minus[i]!.basePredicted);
  const kept = [...candidatesOf.values()].flatMap((ids) =>
    ids
      .slice()
      .sort((a, b) => drop(a) - drop(b) || a - b)
      .slice(0, o.smoothPerUnit)
      .sort((a, b) => a - b),
  );
  kept.forEach((i) => {
    const m = smoothed.minus[i]!;
    const base = add({
      image: smoothItems[i]!.image,
      unit: m.unit,
      kind: "smooth-base",
      predicted: m.basePredicted,
      name: smoothItems[i]!.name,
    });
    add({ image: m.image, unit: m.unit, kind: "smooth-minus", base, predicted: m.predicted });
    add({
      image: smoothed.control[i]!.image,
      unit: m.unit,
      kind: "random-smoothed",
      base,
      predicted: smoothed.control[i]!.predicted,
    });
  });

  const saliency: CausalDesign["saliency"] = [];
  if (o.saliency) {
    const maps = await timed("saliency", () =>
      saliencyMaps(
        model,
        units.map((u) => ({ unit: u, image: ranked[u]!.top[0]!.image })),
        patch,
      ),
    );
    maps.forEach((map, u) => saliency.push({ unit: u, baseName: ranked[u]!.top[0]!.name, map }));
  }
  const gradientImageSteps = units.length * o.restarts * o.steps;
  return { images, saliency, bankImages, seconds, cpuSeconds, gradientImageSteps, synthesisWall };
}
