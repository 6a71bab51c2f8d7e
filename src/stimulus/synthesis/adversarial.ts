// Adversarial + and − images: from a base image, small normalized gradient steps up or down a
// unit's prediction, projected onto a budget on the pixel change (0..255 units), until the change
// reaches the budget. The 8-bit result is rounded towards the base, so it stays within the budget.
import * as tf from "@tensorflow/tfjs";
import type { UnitResponseModel } from "../../models/response/index.js";
import type { RgbImage } from "../image.js";
import { checkImages, checkUnits, imagesToTensor, SynthesisInputError } from "./tensors.js";
import { priorGradient, priorsProblem } from "./prior-gradient.js";
import { Random } from "../random.js";

/** The largest allowed change of an image: its L2 norm (over all values) or its largest value change. */
export interface PixelBudget {
  norm: "l2" | "linf";
  /** In 0..255 pixel units. */
  value: number;
}

export interface AdversarialOptions {
  budget: PixelBudget;
  /** Steps to reach the budget along a straight line (each step is budget / stepsToBudget). */
  stepsToBudget: number;
  /** Most steps in all (a curved path needs more than stepsToBudget). */
  maxSteps: number;
  batchSize: number;
  /**
   * Priors on each step's gradient (prior-gradient.ts): a seeded jitter of up to this many pixels and a
   * blur (sigma, px). They keep the change smooth and not tied to one pixel pattern; 0 turns each off.
   */
  jitterPx: number;
  gradientBlurPx: number;
  seed: number;
}

export const defaultAdversarialOptions: Omit<AdversarialOptions, "budget"> = {
  stepsToBudget: 10,
  maxSteps: 40,
  batchSize: 16,
  jitterPx: 0,
  gradientBlurPx: 0,
  seed: 1,
};

export interface AdversarialImage {
  image: RgbImage;
  predicted: number;
  /** The change from the base in the budget's norm. */
  change: number;
}

export interface AdversarialPair {
  unit: number;
  base: RgbImage;
  basePredicted: number;
  plus: AdversarialImage;
  minus: AdversarialImage;
}

/** The change of `image` from `base` in a norm (0..255 units). */
export function pixelChange(
  image: Uint8Array | Float32Array,
  base: Uint8Array | Float32Array,
  norm: PixelBudget["norm"],
): number {
  let acc = 0;
  for (let i = 0; i < image.length; i++) {
    const d = Math.abs(image[i]! - base[i]!);
    acc = norm === "l2" ? acc + d * d : Math.max(acc, d);
  }
  return norm === "l2" ? Math.sqrt(acc) : acc;
}

function checkBudget(budget: PixelBudget): void {
  if (budget.norm !== "l2" && budget.norm !== "linf")
    throw new SynthesisInputError(
      "bad-budget",
      `adversarial: the budget's norm must be l2 or linf, got ${String(budget.norm)}.`,
    );
  if (!(Number.isFinite(budget.value) && budget.value > 0)) {
    throw new SynthesisInputError(
      "bad-budget",
      `adversarial: the pixel budget must be a number > 0 (0..255 units), got ${budget.value}; nothing was made.`,
    );
  }
}

/** Projects x onto {base + d : ‖d‖ ≤ budget} ∩ [0, 255]. */
function project(x: tf.Tensor4D, base: tf.Tensor4D, budget: PixelBudget): tf.Tensor4D {
  return tf.tidy(() => {
    let d = tf.sub(x, base) as tf.Tensor4D;
    if (budget.norm === "linf") d = tf.clipByValue(d, -budget.value, budget.value) as tf.Tensor4D;
    else {
      const norm = tf.sqrt(tf.sum(tf.square(d), [1, 2, 3], true));
      d = tf.mul(d, tf.minimum(1, tf.div(budget.value, tf.add(norm, 1e-12)))) as tf.Tensor4D;
    }
    return tf.clipByValue(tf.add(base, d), 0, 255) as tf.Tensor4D;
  });
}

/** One step of size `size` in the norm's steepest direction: g/‖g‖₂ (l2) or sign(g) (linf). */
function direction(g: tf.Tensor4D, norm: PixelBudget["norm"], size: number): tf.Tensor4D {
  return tf.tidy(
    () =>
      (norm === "linf"
        ? tf.mul(tf.sign(g), size)
        : tf.mul(g, tf.div(size, tf.add(tf.sqrt(tf.sum(tf.square(g), [1, 2, 3], true)), 1e-12)))) as tf.Tensor4D,
  );
}

/**
 * For each (unit, base) an adversarial + and − image within `budget` of the base, computed as one
 * batch of + and − walks per `batchSize` images.
 */
export async function adversarialPairs(
  model: UnitResponseModel,
  items: readonly { unit: number; base: RgbImage }[],
  options: Partial<AdversarialOptions> & { budget: PixelBudget },
): Promise<AdversarialPair[]> {
  const o = { ...defaultAdversarialOptions, ...options };
  checkBudget(o.budget);
  checkUnits(
    "adversarial",
    items.map((i) => i.unit),
    model.unitCount,
  );
  checkImages(
    "adversarial (base images)",
    items.map((i) => i.base),
    model.inputSize,
  );
  const priors = priorsProblem(o);
  if (priors !== undefined) throw new SynthesisInputError("bad-option", `adversarial: ${priors}`);
  const random = new Random(o.seed);
  const out: AdversarialPair[] = [];
  const half = Math.max(1, Math.floor(o.batchSize / 2));
  for (let start = 0; start < items.length; start += half) {
    const chunk = items.slice(start, start + half);
    const bases = chunk.map((c) => c.base);
    const units = [...chunk.map((c) => c.unit), ...chunk.map((c) => c.unit)];
    const signs = [...chunk.map(() => 1), ...chunk.map(() => -1)];
    const base = imagesToTensor([...bases, ...bases]);
    let x = tf.clone(base);
    const size = o.budget.value / o.stepsToBudget;
    let previous: number[] = [];
    for (let step = 0; step < o.maxSteps; step++) {
      const next = tf.tidy(() =>
        project(
          tf.add(x, direction(priorGradient(model, x, units, signs, o, random), o.budget.norm, size)) as tf.Tensor4D,
          base,
          o.budget,
        ),
      );
      x.dispose();
      x = next;
      const changes = await tf
        .tidy(() => {
          const d = tf.sub(x, base);
          return o.budget.norm === "l2" ? tf.sqrt(tf.sum(tf.square(d), [1, 2, 3])) : tf.max(tf.abs(d), [1, 2, 3]);
        })
        .data();
      // Done when every walk is at the budget or no longer moving away from its base (pinned at 0 or 255).
      const stalled = Array.from(changes).every(
        (c, i) => c >= 0.999 * o.budget.value || c - (previous[i] ?? 0) < 0.01 * o.budget.value,
      );
      previous = Array.from(changes);
      if (stalled) break;
    }
    // 8 bits, rounded towards the base: |rounded − base| ≤ |x − base| value by value.
    const baseData = await base.data();
    const xData = await x.data();
    tf.dispose([x, base]);
    const per = model.inputSize * model.inputSize * 3;
    const images = units.map((_, i) => {
      const px = new Uint8Array(per);
      for (let j = 0; j < per; j++) {
        const b = baseData[i * per + j]!;
        px[j] = Math.min(255, Math.max(0, b + Math.trunc(xData[i * per + j]! - b)));
      }
      return { width: model.inputSize, height: model.inputSize, pixels0to255: px };
    });
    const all = imagesToTensor([...images, ...bases]);
    const p = model.predict(all, [...units, ...chunk.map((c) => c.unit)]);
    const predicted = await p.data();
    tf.dispose([all, p]);
    const n = chunk.length;
    chunk.forEach((c, i) => {
      const made = (j: number): AdversarialImage => ({
        image: images[j]!,
        predicted: predicted[j]!,
        change: pixelChange(images[j]!.pixels0to255, c.base.pixels0to255, o.budget.norm),
      });
      out.push({ unit: c.unit, base: c.base, basePredicted: predicted[2 * n + i]!, plus: made(i), minus: made(n + i) });
    });
  }
  return out;
}
