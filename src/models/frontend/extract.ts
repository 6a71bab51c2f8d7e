import * as tf from "@tensorflow/tfjs";
import type { FrontEnd } from "./types.js";

/**
 * Runs the front end over images (each size×size×3, 0..255) in batches; returns features
 * [N, h, w, c] as one Float32Array (bounded tensor memory: one batch at a time).
 */
export async function extractFeatures(
  frontEnd: FrontEnd,
  images: readonly Uint8Array[],
  imageSize: number,
  options: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<Float32Array> {
  const [h, w, c] = frontEnd.outputShape;
  const per = h * w * c;
  const out = new Float32Array(images.length * per);
  const batch = options.batchSize ?? 32;
  for (let start = 0; start < images.length; start += batch) {
    const chunk = images.slice(start, start + batch);
    const flat = new Uint8Array(chunk.length * imageSize * imageSize * 3);
    chunk.forEach((im, i) => {
      if (im.length !== imageSize * imageSize * 3)
        throw new Error(
          `extractFeatures: image ${start + i} has ${im.length} bytes, expected ${imageSize}x${imageSize}x3`,
        );
      flat.set(im, i * im.length);
    });
    const x = tf.tensor4d(flat, [chunk.length, imageSize, imageSize, 3], "int32");
    const y = frontEnd.apply(x);
    out.set(await y.data(), start * per);
    x.dispose();
    y.dispose();
    options.onProgress?.(Math.min(images.length, start + batch), images.length);
  }
  return out;
}
