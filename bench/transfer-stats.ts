// What the transfer benches share: every unit's predictions for a list of images, and summaries.
import * as tf from "@tensorflow/tfjs";
import type { UnitResponseModel } from "../src/models/response/index.js";
import { imagesToTensor } from "../src/stimulus/synthesis/tensors.js";
import type { RgbImage } from "../src/stimulus/image.js";

/** The options both transfer benches take: the store, the model version, the natural images' count. */
export const storeModelOptions = {
  db: { type: "string" },
  model: { type: "string" },
  random: { type: "string", default: "200" },
} as const;

/** Predictions of every unit, [images × units] row-major. */
export function predictions(m: UnitResponseModel, images: readonly RgbImage[]): Float32Array {
  const out: number[] = [];
  for (let s = 0; s < images.length; s += 50) {
    const x = imagesToTensor(images.slice(s, s + 50));
    const p = m.predictAll(x);
    out.push(...p.dataSync());
    tf.dispose([x, p]);
  }
  return Float32Array.from(out);
}

/** Unit j's column of [images × units] row-major predictions. */
export const unitColumn = (v: Float32Array, units: number, j: number): number[] =>
  Array.from({ length: v.length / units }, (_, i) => v[i * units + j]!);

export function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, sd: Math.sqrt(xs.reduce((a, x) => a + (x - mean) ** 2, 0) / Math.max(1, xs.length - 1)) };
}

/** Mean ± s.e. over units. */
export function summary(xs: readonly number[]): string {
  const { mean, sd } = meanSd(xs);
  return `${mean.toFixed(2)} ± ${(sd / Math.sqrt(xs.length)).toFixed(2)}`.padStart(14);
}
