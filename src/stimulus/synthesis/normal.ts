// Maximizing normal images: each unit's top images of a candidate bank, streamed in batches so the
// bank may exceed memory (only the current batch and each unit's top k are held).
import * as tf from "@tensorflow/tfjs";
import type { UnitResponseModel } from "../../models/response/index.js";
import type { NamedImage } from "../image.js";
import { checkImages, checkUnits, imagesToTensor, SynthesisInputError } from "./tensors.js";

export interface RankedImage {
  name: string;
  image: NamedImage;
  predicted: number;
}

export interface BankRanking {
  unit: number;
  /** Highest predicted first. */
  top: RankedImage[];
  /** Mean and standard deviation of the unit's predictions over the whole bank. */
  bankMean: number;
  bankSd: number;
}

export interface TopImagesOptions {
  k: number;
  batchSize: number;
  /** Called after each batch with the images scored so far. */
  onProgress?: (scored: number) => void;
  /** Called for each image scored with every unit's prediction ([unitCount], the caller's to keep). */
  onScored?: (image: NamedImage, predictions: Float32Array) => void;
  /**
   * Scores a batch for every unit of the model, [N × unitCount] row-major, in place of `model.predictAll`
   * (the same values, e.g. from worker threads: bank-scorer.ts). While it runs, the next batch is
   * collected from the bank.
   */
  score?: (images: readonly NamedImage[]) => Promise<Float32Array>;
}

/** Keeps the k largest by `predicted`, highest first. */
class TopK {
  readonly items: RankedImage[] = [];
  constructor(private readonly k: number) {}
  offer(item: RankedImage): void {
    if (this.items.length === this.k && item.predicted <= this.items[this.k - 1]!.predicted) return;
    let i = this.items.length;
    while (i > 0 && this.items[i - 1]!.predicted < item.predicted) i--;
    this.items.splice(i, 0, item);
    if (this.items.length > this.k) this.items.pop();
  }
}

/**
 * Scores every image of `bank` (any iterable, sync or async: a zip read entry by entry) for every
 * unit of `units` and keeps each unit's k best. An empty bank is an error.
 */
export async function topBankImages(
  model: UnitResponseModel,
  units: readonly number[],
  bank: AsyncIterable<NamedImage> | Iterable<NamedImage>,
  options: Partial<TopImagesOptions> = {},
): Promise<BankRanking[]> {
  const k = options.k ?? 10;
  const batchSize = options.batchSize ?? 32;
  checkUnits("maximizing normal", units, model.unitCount);
  if (!Number.isInteger(k) || k < 1)
    throw new SynthesisInputError("bad-option", `maximizing normal: k must be a whole number ≥ 1, got ${k}.`);
  const tops = units.map(() => new TopK(k));
  const sums = units.map(() => ({ s: 0, s2: 0 }));
  let scored = 0;
  let batch: NamedImage[] = [];
  const width = model.unitCount;
  const scoreOf = async (images: readonly NamedImage[]): Promise<Float32Array> => {
    if (options.score !== undefined) {
      const values = await options.score(images);
      if (values.length !== images.length * width)
        throw new Error(`maximizing normal: the scorer gave ${values.length} values for ${images.length} images`);
      return values;
    }
    const x = imagesToTensor(images);
    const all = model.predictAll(x);
    const values = (await all.data()) as Float32Array;
    tf.dispose([x, all]);
    return values;
  };
  /** Scores `images` (checked by the caller) and ranks them. */
  const flush = async (images: NamedImage[]): Promise<void> => {
    const values = await scoreOf(images);
    images.forEach((image, i) => {
      options.onScored?.(image, values.slice(i * width, (i + 1) * width));
      units.forEach((u, j) => {
        const v = values[i * width + u]!;
        sums[j]!.s += v;
        sums[j]!.s2 += v * v;
        tops[j]!.offer({ name: image.name, image, predicted: v });
      });
    });
    scored += images.length;
    options.onProgress?.(scored);
  };
  // One batch scoring while the next is collected; batches are ranked in the bank's order.
  let inFlight: Promise<void> | undefined;
  const start = (images: NamedImage[]): void => {
    inFlight = flush(images);
    inFlight.catch(() => {});
  };
  for await (const image of bank) {
    batch.push(image);
    if (batch.length >= batchSize) {
      checkImages("maximizing normal (bank)", batch, model.inputSize);
      await inFlight;
      start(batch);
      batch = [];
    }
  }
  await inFlight;
  if (batch.length > 0) {
    checkImages("maximizing normal (bank)", batch, model.inputSize);
    await flush(batch);
  }
  if (scored === 0)
    throw new SynthesisInputError(
      "empty-bank",
      "maximizing normal: the candidate bank holds no images; give a folder or zip of PNG/JPEG images.",
    );
  return units.map((unit, j) => {
    const mean = sums[j]!.s / scored;
    const variance = Math.max(0, sums[j]!.s2 / scored - mean * mean);
    return { unit, top: tops[j]!.items, bankMean: mean, bankSd: Math.sqrt(variance) };
  });
}
