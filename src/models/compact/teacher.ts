// The teacher's targets for distillation: the deep ensemble's prediction for each unit on every image
// of the stream, computed once (front end, then ensemble) in batches, with the ensemble's
// disagreement per image (the active-learning score: what the ensemble finds informative).
import * as tf from "@tensorflow/tfjs";
import { disagreement } from "../active/index.js";
import type { DeepEnsemble } from "../ensemble/index.js";
import { extractFeatures, type FrontEnd } from "../frontend/index.js";
import type { ImageStream } from "./distill.js";

export interface TeacherOptions {
  ensemble: DeepEnsemble;
  /** The readout (session key) whose units are distilled. */
  readout: string;
  /** Columns of that readout to keep, in order. */
  units: readonly number[];
  frontEnd: FrontEnd;
  batchSize?: number;
  /** Keep the front end's features of every image (for the distillation's feature hint). */
  keepFeatures?: boolean;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => void;
}

export interface TeacherTargets {
  /** [stream.count, units.length], the ensemble's mean prediction. */
  targets: Float32Array;
  /** Per image, the median distance between members' predicted population responses (every unit of the readout). */
  disagreement: Float64Array;
  /** With keepFeatures: the front end's features [stream.count, h·w·c]. */
  features?: Float32Array;
}

export class TeacherCancelled extends Error {
  constructor(done: number, total: number) {
    super(`teacher predictions cancelled after ${done}/${total} images`);
    this.name = "TeacherCancelled";
  }
}

export async function teacherTargets(stream: ImageStream, o: TeacherOptions): Promise<TeacherTargets> {
  const all = o.ensemble.unitsOf(o.readout);
  for (const u of o.units)
    if (!Number.isInteger(u) || u < 0 || u >= all)
      throw new Error(`teacherTargets: unit column ${u} is outside readout "${o.readout}" (${all} units)`);
  const batch = o.batchSize ?? 64;
  const n = stream.count;
  const k = o.units.length;
  const targets = new Float32Array(n * k);
  const score = new Float64Array(n);
  const [h, w, c] = o.frontEnd.outputShape;
  const kept = o.keepFeatures === true ? new Float32Array(n * h * w * c) : undefined;
  for (let start = 0; start < n; start += batch) {
    if (o.signal?.aborted) throw new TeacherCancelled(start, n);
    const idx = Array.from({ length: Math.min(batch, n - start) }, (_, i) => start + i);
    const features = await extractFeatures(
      o.frontEnd,
      idx.map((i) => stream.pixels(i)),
      stream.size,
      { batchSize: batch },
    );
    kept?.set(features, start * h * w * c);
    const members = tf.tidy(() => o.ensemble.predictMembers(o.readout, tf.tensor4d(features, [idx.length, h, w, c])));
    const [m, nb, u] = members.shape;
    const values = (await members.data()) as Float32Array;
    members.dispose();
    // Mean over members, the kept columns.
    for (let i = 0; i < nb; i++) {
      for (let j = 0; j < k; j++) {
        let s = 0;
        for (let mm = 0; mm < m; mm++) s += values[(mm * nb + i) * u + o.units[j]!]!;
        targets[(start + i) * k + j] = s / m;
      }
    }
    if (m >= 2) score.set(disagreement(values, m, nb, u), start);
    o.onProgress?.(start + idx.length, n);
    await new Promise((r) => setImmediate(r));
  }
  return { targets, disagreement: score, features: kept };
}

/** The front end's features of every image [stream.count, h·w·c] (the hint's targets, when resuming). */
export async function frontEndFeatures(stream: ImageStream, frontEnd: FrontEnd, batchSize = 64): Promise<Float32Array> {
  const per = frontEnd.outputShape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(stream.count * per);
  for (let start = 0; start < stream.count; start += batchSize) {
    const idx = Array.from({ length: Math.min(batchSize, stream.count - start) }, (_, i) => start + i);
    out.set(
      await extractFeatures(
        frontEnd,
        idx.map((i) => stream.pixels(i)),
        stream.size,
        { batchSize },
      ),
      start * per,
    );
    await new Promise((r) => setImmediate(r));
  }
  return out;
}

/** z-scores features [n, perImage] per channel (the last axis, of `channels`) with the statistics of rows `idx`. */
export function zscoreFeatures(
  features: Float32Array,
  perImage: number,
  channels: number,
  idx: readonly number[],
): Float32Array {
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  for (const i of idx) {
    for (let k = 0; k < perImage; k++) {
      const v = features[i * perImage + k]!;
      sum[k % channels]! += v;
      sq[k % channels]! += v * v;
    }
  }
  const count = Math.max(1, (idx.length * perImage) / channels);
  const mean = Float64Array.from(sum, (s) => s / count);
  const sd = Float64Array.from(sq, (q, c) => Math.sqrt(Math.max(0, q / count - mean[c]! ** 2)) || 1);
  return Float32Array.from(features, (v, k) => (v - mean[k % channels]!) / sd[k % channels]!);
}
