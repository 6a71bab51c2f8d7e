// Saliency maps, smooth− images and the random-smoothing control. Smoothing a patch replaces it by
// the same place of a Gaussian-blurred copy of the image; patches sit on a grid and never overlap.
import * as tf from "@tensorflow/tfjs";
import { usedBases, type PixelBox, type UnitResponseModel } from "../../models/response/index.js";
import { gaussianBlur } from "../gaudy-blur.js";
import type { RgbImage } from "../image.js";
import { Random } from "../random.js";
import { checkImages, checkUnits, imagesToTensor, SynthesisInputError } from "./tensors.js";

export interface PatchOptions {
  /** Side of a square patch in px. */
  patchPx: number;
  /** Distance between neighbouring grid positions in px. */
  stridePx: number;
  /** Blur of the smoothed copy (sigma in px). */
  blurPx: number;
  batchSize: number;
}

export const defaultPatchOptions: PatchOptions = { patchPx: 12, stridePx: 6, blurPx: 4, batchSize: 64 };

export interface Patch {
  x: number;
  y: number;
}

export interface SaliencyMap {
  unit: number;
  basePredicted: number;
  /** Grid positions (top-left corners), row-major: `columns` per row. */
  positions: Patch[];
  columns: number;
  /** Predicted response with the patch at each position smoothed, minus the base's. */
  change: Float32Array;
}

export interface SmoothedImage {
  unit: number;
  image: RgbImage;
  predicted: number;
  basePredicted: number;
  patches: Patch[];
  /** Pixels (not values) that were smoothed: patches × patchPx². */
  pixelsSmoothed: number;
}

/** Top-left corners of a grid covering 0..size-patch, the last row and column flush with the edge. */
export function patchGrid(size: number, patchPx: number, stridePx: number): { positions: Patch[]; columns: number } {
  if (!(Number.isInteger(patchPx) && patchPx >= 1 && patchPx <= size))
    throw new SynthesisInputError(
      "bad-option",
      `smoothing: patchPx must be a whole number 1..${size}, got ${patchPx}.`,
    );
  if (!(Number.isInteger(stridePx) && stridePx >= 1))
    throw new SynthesisInputError("bad-option", `smoothing: stridePx must be a whole number ≥ 1, got ${stridePx}.`);
  const starts: number[] = [];
  for (let s = 0; s + patchPx <= size; s += stridePx) starts.push(s);
  if (starts[starts.length - 1] !== size - patchPx) starts.push(size - patchPx);
  const positions = starts.flatMap((y) => starts.map((x) => ({ x, y })));
  return { positions, columns: starts.length };
}

export function patchesOverlap(a: Patch, b: Patch, patchPx: number): boolean {
  return Math.abs(a.x - b.x) < patchPx && Math.abs(a.y - b.y) < patchPx;
}

/** `image` with `patches` taken from `blurred`. */
export function smoothPatches(
  image: RgbImage,
  blurred: RgbImage,
  patches: readonly Patch[],
  patchPx: number,
): RgbImage {
  const out = image.pixels0to255.slice();
  const w = image.width;
  for (const p of patches) {
    for (let y = p.y; y < p.y + patchPx; y++) {
      const from = (y * w + p.x) * 3;
      out.set(blurred.pixels0to255.subarray(from, from + patchPx * 3), from);
    }
  }
  return { width: image.width, height: image.height, pixels0to255: out };
}

/** Predictions of many (unit, image) pairs in batches. */
export async function predictMany(
  model: UnitResponseModel,
  pairs: readonly { unit: number; image: RgbImage }[],
  batchSize: number,
): Promise<Float32Array> {
  const out = new Float32Array(pairs.length);
  for (let start = 0; start < pairs.length; start += batchSize) {
    const chunk = pairs.slice(start, start + batchSize);
    const x = imagesToTensor(chunk.map((c) => c.image));
    const p = model.predict(
      x,
      chunk.map((c) => c.unit),
    );
    out.set(await p.data(), start);
    tf.dispose([x, p]);
  }
  return out;
}

/** An image that equals `bases[base]` outside `box` (one smoothed patch). */
interface Variant {
  base: number;
  image: RgbImage;
  box: PixelBox;
}

/**
 * [start, end) batches of at most `batchSize` variants that split a run of variants of one base
 * only where the run alone exceeds a batch (each batch computes its bases' activations once).
 */
export function chunksByBase(variants: readonly { base: number }[], batchSize: number): [number, number][] {
  const chunks: [number, number][] = [];
  let start = 0;
  let i = 0;
  while (i < variants.length) {
    let end = i;
    while (end < variants.length && variants[end]!.base === variants[i]!.base) end++;
    // The run [i, end) of one base: close the batch before it if it does not fit, split it if it never would.
    if (end - start > batchSize && i > start) {
      chunks.push([start, i]);
      start = i;
    }
    while (end - start > batchSize) {
      chunks.push([start, start + batchSize]);
      start += batchSize;
    }
    i = end;
  }
  if (start < variants.length) chunks.push([start, variants.length]);
  return chunks;
}

/**
 * Predictions of variants of base images (each a base with one patch changed), in batches: by the
 * model's local path where it has one (layers near the input recomputed only around the patch),
 * else whole.
 */
async function predictVariants(
  model: UnitResponseModel,
  bases: readonly { unit: number; image: RgbImage }[],
  variants: readonly Variant[],
  batchSize: number,
): Promise<Float32Array> {
  if (model.predictNear === undefined)
    return predictMany(
      model,
      variants.map((v) => ({ unit: bases[v.base]!.unit, image: v.image })),
      batchSize,
    );
  const out = new Float32Array(variants.length);
  for (const [start, end] of chunksByBase(variants, batchSize)) {
    const chunk = variants.slice(start, end);
    const { used, baseOf } = usedBases(chunk.map((v) => v.base));
    const b = imagesToTensor(used.map((u) => bases[u]!.image));
    const x = imagesToTensor(chunk.map((v) => v.image));
    const p = model.predictNear(
      b,
      baseOf,
      x,
      chunk.map((v) => v.box),
      chunk.map((v) => bases[v.base]!.unit),
    );
    out.set(await p.data(), start);
    tf.dispose([b, x, p]);
  }
  return out;
}

function patchBox(p: Patch, patchPx: number): PixelBox {
  return { y0: p.y, y1: p.y + patchPx, x0: p.x, x1: p.x + patchPx };
}

function checkItems(
  where: string,
  model: UnitResponseModel,
  items: readonly { unit: number; image: RgbImage }[],
): void {
  checkUnits(
    where,
    items.map((i) => i.unit),
    model.unitCount,
  );
  checkImages(
    where,
    items.map((i) => i.image),
    model.inputSize,
  );
}

/** Per (unit, image): the predicted change when the patch at each grid position is smoothed. */
export async function saliencyMaps(
  model: UnitResponseModel,
  items: readonly { unit: number; image: RgbImage }[],
  options: Partial<PatchOptions> = {},
): Promise<SaliencyMap[]> {
  const o = { ...defaultPatchOptions, ...options };
  checkItems("saliency", model, items);
  const { positions, columns } = patchGrid(model.inputSize, o.patchPx, o.stridePx);
  const variants = items.flatMap((item, base) => {
    const blurred = gaussianBlur(item.image, o.blurPx);
    return positions.map((p) => ({
      base,
      image: smoothPatches(item.image, blurred, [p], o.patchPx),
      box: patchBox(p, o.patchPx),
    }));
  });
  const bases = await predictMany(model, items, o.batchSize);
  const p = await predictVariants(model, items, variants, o.batchSize);
  const stride = positions.length;
  return items.map((item, i) => {
    const base = bases[i]!;
    return {
      unit: item.unit,
      basePredicted: base,
      positions,
      columns,
      change: Float32Array.from(p.subarray(i * stride, (i + 1) * stride), (v) => v - base),
    };
  });
}

export interface SmoothMinusOptions extends PatchOptions {
  /** Patches smoothed per image (the paper: 25). */
  patches: number;
  /**
   * After the first round, how many of the best-scoring free positions are scored again each
   * round (lazy greedy); Infinity scores every free position every round (exact greedy).
   */
  rescore: number;
}

export const defaultSmoothMinusOptions: SmoothMinusOptions = { ...defaultPatchOptions, patches: 25, rescore: 12 };

function checkPatchCount(n: number): void {
  if (!(Number.isInteger(n) && n >= 1))
    throw new SynthesisInputError("bad-option", `smoothing: patches must be a whole number ≥ 1, got ${n}.`);
}

/**
 * smooth−: per (unit, image), greedily smooth the non-overlapping patch that lowers the unit's
 * prediction most, `patches` times. Every image's candidates are scored in the same batches.
 */
export async function smoothMinus(
  model: UnitResponseModel,
  items: readonly { unit: number; image: RgbImage }[],
  options: Partial<SmoothMinusOptions> = {},
): Promise<SmoothedImage[]> {
  const o = { ...defaultSmoothMinusOptions, ...options };
  checkItems("smooth−", model, items);
  checkPatchCount(o.patches);
  const { positions } = patchGrid(model.inputSize, o.patchPx, o.stridePx);
  const state = items.map((item) => ({
    item,
    blurred: gaussianBlur(item.image, o.blurPx),
    chosen: [] as Patch[],
    current: item.image,
    /** Last known score of each position (smaller is better); NaN once it overlaps a chosen patch. */
    score: new Float64Array(positions.length),
    done: false,
  }));
  const base = await predictMany(
    model,
    items.map((i) => ({ unit: i.unit, image: i.image })),
    o.batchSize,
  );
  for (let round = 0; round < o.patches; round++) {
    const asks: { s: number; pos: number }[] = [];
    state.forEach((st, s) => {
      if (st.done) return;
      const free = positions.map((_, j) => j).filter((j) => !Number.isNaN(st.score[j]!));
      if (free.length === 0) {
        st.done = true;
        return;
      }
      const pick =
        round === 0 || !Number.isFinite(o.rescore)
          ? free
          : free.sort((a, b) => st.score[a]! - st.score[b]!).slice(0, Math.max(1, o.rescore));
      for (const j of pick) asks.push({ s, pos: j });
    });
    if (asks.length === 0) break;
    const variants = asks.map((a) => {
      const st = state[a.s]!;
      const patch = positions[a.pos]!;
      return {
        base: a.s,
        image: smoothPatches(st.current, st.blurred, [patch], o.patchPx),
        box: patchBox(patch, o.patchPx),
      };
    });
    const currents = state.map((st) => ({ unit: st.item.unit, image: st.current }));
    const p = await predictVariants(model, currents, variants, o.batchSize);
    const bestOf = new Map<number, { pos: number; v: number }>();
    asks.forEach((a, i) => {
      const st = state[a.s]!;
      st.score[a.pos] = p[i]!;
      const b = bestOf.get(a.s);
      if (b === undefined || p[i]! < b.v) bestOf.set(a.s, { pos: a.pos, v: p[i]! });
    });
    for (const [s, b] of bestOf) {
      const st = state[s]!;
      const patch = positions[b.pos]!;
      st.chosen.push(patch);
      st.current = smoothPatches(st.current, st.blurred, [patch], o.patchPx);
      positions.forEach((q, j) => {
        if (patchesOverlap(q, patch, o.patchPx)) st.score[j] = Number.NaN;
      });
    }
  }
  const finals = await predictMany(
    model,
    state.map((st) => ({ unit: st.item.unit, image: st.current })),
    o.batchSize,
  );
  return state.map((st, i) => ({
    unit: st.item.unit,
    image: st.current,
    predicted: finals[i]!,
    basePredicted: base[i]!,
    patches: st.chosen,
    pixelsSmoothed: st.chosen.length * o.patchPx * o.patchPx,
  }));
}

/**
 * The control for smooth−: the same number of patches (so the same number of pixels), of the same
 * size and blur, at random non-overlapping grid positions (seeded).
 */
export async function randomSmoothing(
  model: UnitResponseModel,
  items: readonly { unit: number; image: RgbImage; patches: number }[],
  options: Partial<PatchOptions> & { seed?: number } = {},
): Promise<SmoothedImage[]> {
  const o = { ...defaultPatchOptions, ...options };
  checkItems("random smoothing", model, items);
  const random = new Random(options.seed ?? 1);
  const { positions } = patchGrid(model.inputSize, o.patchPx, o.stridePx);
  const made = items.map((item) => {
    checkPatchCount(item.patches);
    for (let attempt = 0; attempt < 100; attempt++) {
      const chosen: Patch[] = [];
      let free = positions.slice();
      while (chosen.length < item.patches && free.length > 0) {
        const patch = free[random.int(free.length)]!;
        chosen.push(patch);
        free = free.filter((q) => !patchesOverlap(q, patch, o.patchPx));
      }
      if (chosen.length === item.patches)
        return {
          item,
          chosen,
          image: smoothPatches(item.image, gaussianBlur(item.image, o.blurPx), chosen, o.patchPx),
        };
    }
    throw new SynthesisInputError(
      "bad-option",
      `random smoothing: ${item.patches} non-overlapping ${o.patchPx} px patches do not fit a ` +
        `${model.inputSize} px image often enough; ask for fewer or smaller patches.`,
    );
  });
  const p = await predictMany(
    model,
    [
      ...made.map((m) => ({ unit: m.item.unit, image: m.image })),
      ...items.map((i) => ({ unit: i.unit, image: i.image })),
    ],
    o.batchSize,
  );
  return made.map((m, i) => ({
    unit: m.item.unit,
    image: m.image,
    predicted: p[i]!,
    basePredicted: p[made.length + i]!,
    patches: m.chosen,
    pixelsSmoothed: m.chosen.length * o.patchPx * o.patchPx,
  }));
}
