// Shared tensor helpers of the synthesis routines: images in and out, a Gaussian blur, errors.
import * as tf from "@tensorflow/tfjs";
import type { RgbImage } from "../image.js";

/** Bad input to a synthesis routine: says what was wrong; nothing was produced. */
export class SynthesisInputError extends Error {
  constructor(
    readonly code: "no-units" | "bad-unit" | "bad-image" | "empty-bank" | "bad-budget" | "bad-option",
    message: string,
  ) {
    super(message);
    this.name = "SynthesisInputError";
  }
}

export function checkImages(where: string, images: readonly RgbImage[], size: number): void {
  images.forEach((im, i) => {
    if (im.width !== size || im.height !== size || im.pixels0to255.length !== size * size * 3) {
      throw new SynthesisInputError(
        "bad-image",
        `${where}: image ${i} is ${im.width}×${im.height} (${im.pixels0to255.length} bytes); the model takes ` +
          `${size}×${size} RGB images. Resize it first.`,
      );
    }
  });
}

export function checkUnits(where: string, units: readonly number[], unitCount: number): void {
  if (units.length === 0) throw new SynthesisInputError("no-units", `${where}: no units were asked for.`);
  for (const u of units) {
    if (!Number.isInteger(u) || u < 0 || u >= unitCount)
      throw new SynthesisInputError(
        "bad-unit",
        `${where}: unit ${u} is not one of the model's ${unitCount} units (0..${unitCount - 1}).`,
      );
  }
}

/** Images (all size×size) as a float tensor [N, size, size, 3], 0..255. */
export function imagesToTensor(images: readonly RgbImage[]): tf.Tensor4D {
  const size = images[0]!.width;
  const flat = new Float32Array(images.length * size * size * 3);
  images.forEach((im, i) => flat.set(im.pixels0to255, i * size * size * 3));
  return tf.tensor4d(flat, [images.length, size, size, 3]);
}

/** A tensor [N, S, S, 3] back to images, rounded and clipped to 0..255. */
export async function tensorToImages(x: tf.Tensor4D): Promise<RgbImage[]> {
  const [n, h, w] = x.shape;
  const data = await x.data();
  const per = h * w * 3;
  return Array.from({ length: n }, (_, i) => {
    const px = new Uint8Array(per);
    for (let j = 0; j < per; j++) px[j] = Math.min(255, Math.max(0, Math.round(data[i * per + j]!)));
    return { width: w, height: h, pixels0to255: px };
  });
}

function gaussianKernel(sigma: number): number[] {
  const radius = Math.max(1, Math.ceil(2.5 * sigma));
  const k = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const sum = k.reduce((a, b) => a + b, 0);
  return k.map((v) => v / sum);
}

/** Separable Gaussian blur per channel with mirrored edges; sigma in pixels (≤ 0: a copy). */
export function blurTensor(x: tf.Tensor4D, sigmaPx: number): tf.Tensor4D {
  if (!(sigmaPx > 0)) return tf.clone(x);
  return tf.tidy(() => {
    const k = gaussianKernel(sigmaPx);
    const r = (k.length - 1) / 2;
    const size = Math.min(x.shape[1], x.shape[2]);
    if (r >= size)
      throw new SynthesisInputError("bad-option", `blur: sigma ${sigmaPx} px is too wide for ${size} px images.`);
    const c = x.shape[3];
    const row = tf.tile(tf.tensor4d(k, [1, k.length, 1, 1]), [1, 1, c, 1]) as tf.Tensor4D;
    const col = tf.tile(tf.tensor4d(k, [k.length, 1, 1, 1]), [1, 1, c, 1]) as tf.Tensor4D;
    const padded = tf.mirrorPad(
      x,
      [
        [0, 0],
        [r, r],
        [r, r],
        [0, 0],
      ],
      "reflect",
    );
    return tf.depthwiseConv2d(tf.depthwiseConv2d(padded, row, 1, "valid"), col, 1, "valid") as tf.Tensor4D;
  });
}

/** Per-image root mean square [N, 1, 1, 1] of a tensor [N, h, w, c]. */
export function rmsPerImage(x: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => tf.sqrt(tf.mean(tf.square(x), [1, 2, 3], true)) as tf.Tensor4D);
}
