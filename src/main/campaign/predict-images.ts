// What the ensemble predicts for a set of pictures, as the designer scores them: every member on every readout's
// units; summed up per picture as the members' disagreement (the active-learning score) and their mean response.
import * as tf from "@tensorflow/tfjs";
import { disagreement, type DeepEnsemble } from "../../models/index.js";
import type { ProposalPredictions } from "../store/proposals.js";

export interface ImageScores {
  /** Per picture: the median pairwise distance between members' population predictions. */
  disagreement: Float64Array;
  /** Per picture: the prediction averaged over members and units. */
  mean: Float64Array;
}

/** Per picture (i of n), the mean of members' predictions [m, n, u] over members and units. */
export function memberMeans(members: Float32Array, m: number, n: number, u: number): Float64Array {
  const out = new Float64Array(n);
  for (let a = 0; a < m; a++)
    for (let i = 0; i < n; i++) {
      const o = (a * n + i) * u;
      let s = 0;
      for (let k = 0; k < u; k++) s += members[o + k]!;
      out[i]! += s;
    }
  for (let i = 0; i < n; i++) out[i]! /= m * u;
  return out;
}

/** Scores one batch of front-end features [n, h, w, c] with every member on the units of every readout. */
export async function scoreBatch(
  ensemble: DeepEnsemble,
  features: Float32Array,
  n: number,
  shape: readonly [number, number, number],
): Promise<ImageScores> {
  const [h, w, c] = shape;
  const sessions = ensemble.sessionKeys();
  const members = tf.tidy(() => {
    const x = tf.tensor4d(features, [n, h, w, c]);
    const all = sessions.map((s) => ensemble.predictMembers(s, x));
    return all.length === 1 ? all[0]! : tf.concat(all, 2);
  });
  try {
    const [m, , u] = members.shape;
    const data = (await members.data()) as Float32Array;
    return { disagreement: disagreement(data, m, n, u), mean: memberMeans(data, m, n, u) };
  } finally {
    members.dispose();
  }
}

/** Scores pictures in batches of 128 (their features come from `features`, computed once and cached). */
export async function scoreImages(
  ensemble: DeepEnsemble,
  keys: readonly string[],
  features: (keys: readonly string[]) => Promise<Float32Array>,
  shape: readonly [number, number, number],
): Promise<ImageScores> {
  const out = { disagreement: new Float64Array(keys.length), mean: new Float64Array(keys.length) };
  for (let start = 0; start < keys.length; start += 128) {
    const chunk = keys.slice(start, start + 128);
    const s = await scoreBatch(ensemble, await features(chunk), chunk.length, shape);
    out.disagreement.set(s.disagreement, start);
    out.mean.set(s.mean, start);
  }
  return out;
}

/** What a proposal stores of an ensemble: which readouts, how many units and members. */
export function predictionsHeader(
  ensemble: DeepEnsemble,
  modelVersionId: number | undefined,
): Omit<ProposalPredictions, "images"> {
  const readouts = ensemble.sessionKeys();
  return {
    modelVersionId: modelVersionId ?? null,
    readouts,
    units: readouts.reduce((sum, r) => sum + ensemble.unitsOf(r), 0),
    members: ensemble.cores.length,
    scale: "z-scored",
  };
}

/** A number JSON can carry (NaN and ±Infinity become null). */
export function finite(x: number | undefined): number | null {
  return x !== undefined && Number.isFinite(x) ? x : null;
}
