import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import {
  decodeImage,
  generateImages,
  isImageName,
  Random,
  readZipEntries,
  type RgbImage,
} from "../../stimulus/index.js";
import type { SimNeurons } from "./sim-rig.js";
import { FastCompactModel, loadCompactModelFromNpy } from "../../models/index.js";

/** What the simulated rig needs of a compact model: a tfjs model from (N,112,112,3) raw RGB to (N,1). */
export interface CompactModelLike {
  predict(x: tf.Tensor): tf.Tensor | tf.Tensor[];
  dispose?(): unknown;
}

/** How compact models are loaded; the default comes from src/models/compact/ (`loadCompactModelFromNpy`). */
export type CompactModelLoader = (npyPath: string) => Promise<CompactModelLike>;

export interface CompactNeuronOptions {
  /** Folder of compact_model_<session>_neuron<i>.npy files. */
  dir: string;
  count: number;
  seed: number;
  loader?: CompactModelLoader;
  /** Firing-rate range the models' arbitrary output scale is mapped to: the calibration set's lowest and highest. */
  rateRangeHz?: [number, number];
  /**
   * The highest rate a neuron fires at (default 150 Hz). Images the model rates above every calibration image
   * drive it above `rateRangeHz[1]`, up to this, as images synthesized for a V4 neuron drive it above its best
   * natural image (Cowley et al. 2023, Fig. 2); below the calibration set's lowest it fires at `rateRangeHz[0]`.
   */
  ceilingHz?: number;
}

const modelSide = 112;

/** The published compact models, read with src/models' .npy loader. */
export async function defaultCompactLoader(): Promise<CompactModelLoader> {
  // The eval-mode fast model computes the same function with batch norm folded: ~3x faster rates.
  return async (path) => {
    const model = await loadCompactModelFromNpy(path);
    const fast = FastCompactModel.fromModel(model);
    model.dispose();
    return { predict: (x) => fast.predict(x as tf.Tensor4D), dispose: () => fast.dispose() };
  };
}

/**
 * Natural images from the image zips beside the compact models (shared/data/v4/images), so the rate
 * mapping spans what the neurons see in an experiment; none when that folder is absent.
 */
async function naturalCalibrationImages(modelsDir: string, count: number): Promise<RgbImage[]> {
  const imagesDir = join(modelsDir, "..", "images");
  if (!existsSync(imagesDir)) return [];
  const zips = readdirSync(imagesDir)
    .filter((f) => f.endsWith(".zip"))
    .sort();
  const out: RgbImage[] = [];
  for (const zip of zips) {
    if (out.length >= count) break;
    const entries = await readZipEntries(join(imagesDir, zip), (name) => isImageName(name));
    for (const e of entries.slice(0, Math.ceil(count / zips.length)))
      out.push(await decodeImage(e.data, `${zip}:${e.name}`));
  }
  return out.slice(0, count);
}

function toInput(images: RgbImage[]): tf.Tensor4D {
  return tf.tidy(() => {
    const batch = images.map((im) => {
      const t = tf.tensor3d(im.pixels0to255, [im.height, im.width, 3], "int32").toFloat();
      return im.width === modelSide && im.height === modelSide ? t : tf.image.resizeBilinear(t, [modelSide, modelSide]);
    });
    return tf.stack(batch) as tf.Tensor4D;
  });
}

function predictAll(models: CompactModelLike[], input: tf.Tensor4D): Float32Array[] {
  return models.map((m) =>
    tf.tidy(() => {
      const out = m.predict(input);
      return (Array.isArray(out) ? out[0]! : out).reshape([-1]).dataSync() as Float32Array;
    }),
  );
}

/**
 * The published compact models as simulated neurons: a seeded choice of `count` models, each output
 * mapped linearly so that its range over a fixed calibration set spans `rateRangeHz` (natural images from
 * the shared image zips when they are there, what the neurons see in an experiment, else generated ones),
 * and kept between `rateRangeHz[0]` and `ceilingHz`.
 */
export async function compactNeurons(options: CompactNeuronOptions): Promise<SimNeurons> {
  const files = readdirSync(options.dir)
    .filter((f) => /^compact_model_.*\.npy$/.test(f))
    .sort();
  if (files.length === 0)
    throw new Error(
      `No compact_model_*.npy files in ${options.dir}; nothing was simulated. Point --compact-models at ` +
        `shared/data/v4/compact_models.`,
    );
  const chosen = new Random(options.seed).shuffle(files).slice(0, Math.min(options.count, files.length));
  const loader = options.loader ?? (await defaultCompactLoader());
  const models: CompactModelLike[] = [];
  for (const f of chosen) models.push(await loader(join(options.dir, f)));
  const natural = await naturalCalibrationImages(options.dir, 96);
  const calibration =
    natural.length >= 24
      ? natural
      : [
          ...generateImages("gratings", 8, modelSide, options.seed),
          ...generateImages("noise", 8, modelSide, options.seed),
          ...generateImages("dots", 8, modelSide, options.seed),
        ];
  const input = toInput(calibration);
  const outputs = predictAll(models, input);
  input.dispose();
  const [lo, hi] = options.rateRangeHz ?? [5, 60];
  const ceiling = Math.max(hi, options.ceilingHz ?? 150);
  const ranges = outputs.map((o) => {
    let min = Infinity;
    let max = -Infinity;
    for (const v of o) {
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    return { min, span: Math.max(1e-6, max - min) };
  });
  return {
    units: chosen.map((f) => ({ electrode: f.replace(/^compact_model_/, "").replace(/\.npy$/, ""), sortedId: 0 })),
    rates(image) {
      const x = toInput([image]);
      const out = predictAll(models, x);
      x.dispose();
      return out.map((o, i) => {
        const r = ranges[i]!;
        return Math.min(ceiling, Math.max(lo, lo + ((o[0]! - r.min) / r.span) * (hi - lo)));
      });
    },
    dispose() {
      for (const m of models) m.dispose?.();
    },
  };
}
