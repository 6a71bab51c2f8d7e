import * as tf from "@tensorflow/tfjs";
import type { DeepEnsemble } from "../ensemble/ensemble.js";
import type { FrontEnd } from "../frontend/types.js";
import { SeededRandom } from "../data/random.js";
import { kCenterGreedy } from "./coreset.js";
import { disagreement } from "./disagreement.js";
import { powerSample } from "./power.js";

export interface Candidate {
  id: string;
  /** size×size×3 RGB 0..255. */
  pixels: Uint8Array;
}

export interface SelectOptions {
  ensemble: DeepEnsemble;
  frontEnd: FrontEnd;
  imageSize: number;
  /** Sessions whose readouts make up the predicted population (default: every readout). */
  sessions?: string[];
  k: number;
  /** Greedy k-centre over the top `k × poolFactor` images in pooled front-end feature space. */
  coreset?: { poolFactor: number };
  /**
   * Power sampling instead of top-k: k drawn without replacement with chance ∝ score^exponent,
   * seeded. Keeps every candidate's id and score (a few bytes each), not only the top.
   */
  power?: { exponent: number; seed: number };
  signal?: AbortSignal;
  onProgress?: (scored: number) => void;
}

export interface Selected {
  id: string;
  score: number;
}

interface Pooled extends Selected {
  embedding?: Float32Array;
}

/**
 * Streams a candidate bank batch by batch (memory bounded by the batch and the kept pool),
 * scores each image by ensemble disagreement and keeps the top k (or a k-centre coreset of the
 * top k × poolFactor, or k drawn by power sampling).
 */
export async function selectByDisagreement(
  batches: AsyncIterable<Candidate[]> | Iterable<Candidate[]>,
  options: SelectOptions,
): Promise<Selected[]> {
  const sessions = options.sessions ?? options.ensemble.sessionKeys();
  if (sessions.length === 0)
    throw new Error("selectByDisagreement: the ensemble has no session readouts to predict a population with");
  if (options.coreset !== undefined && options.power !== undefined)
    throw new Error("selectByDisagreement: choose k-centre thinning or power sampling, not both");
  const keep = options.coreset ? Math.max(options.k, Math.ceil(options.k * options.coreset.poolFactor)) : options.k;
  const pool: Pooled[] = []; // sorted by score, descending (in bank order, every candidate, for power sampling)
  let scored = 0;
  for await (const batch of batches) {
    if (options.signal?.aborted) break;
    if (batch.length === 0) continue;
    const flat = new Uint8Array(batch.length * options.imageSize * options.imageSize * 3);
    batch.forEach((c, i) => {
      if (c.pixels.length !== options.imageSize * options.imageSize * 3)
        throw new Error(
          `selectByDisagreement: candidate ${c.id} has ${c.pixels.length} bytes, expected ${options.imageSize}x` +
            `${options.imageSize}x3`,
        );
      flat.set(c.pixels, i * c.pixels.length);
    });
    const { members, embedding } = tf.tidy(() => {
      const features = options.frontEnd.apply(
        tf.tensor4d(flat, [batch.length, options.imageSize, options.imageSize, 3], "int32"),
      );
      const perSession = sessions.map((s) => options.ensemble.predictMembers(s, features));
      const all = perSession.length === 1 ? perSession[0]! : tf.concat(perSession, 2);
      return { members: all, embedding: options.coreset ? tf.mean(features, [1, 2]) : undefined };
    });
    const [m, n, u] = members.shape;
    const scores = disagreement(members.dataSync() as Float32Array, m, n, u);
    const emb = embedding?.dataSync() as Float32Array | undefined;
    const d = embedding?.shape[1] ?? 0;
    tf.dispose([members, embedding].filter((t): t is tf.Tensor => t !== undefined));
    batch.forEach((c, i) => {
      const score = scores[i]!;
      // Power sampling draws over every candidate, in bank order (the draws follow the order of the weights).
      if (options.power) return void pool.push({ id: c.id, score });
      if (pool.length >= keep && score <= pool[pool.length - 1]!.score) return;
      const item: Pooled = { id: c.id, score, embedding: emb ? emb.slice(i * d, (i + 1) * d) : undefined };
      let lo = 0;
      let hi = pool.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (pool[mid]!.score >= score) lo = mid + 1;
        else hi = mid;
      }
      pool.splice(lo, 0, item);
      if (pool.length > keep) pool.pop();
    });
    scored += batch.length;
    options.onProgress?.(scored);
    await new Promise((r) => setImmediate(r));
  }
  if (options.power) {
    const order = powerSample(
      Float64Array.from(pool, (p) => p.score),
      options.k,
      options.power.exponent,
      new SeededRandom(options.power.seed),
    );
    return order.map((i) => ({ id: pool[i]!.id, score: pool[i]!.score }));
  }
  if (!options.coreset || pool.length <= options.k)
    return pool.slice(0, options.k).map(({ id, score }) => ({ id, score }));
  const d = pool[0]!.embedding!.length;
  const points = new Float32Array(pool.length * d);
  pool.forEach((p, i) => points.set(p.embedding!, i * d));
  return kCenterGreedy(points, pool.length, d, options.k, 0).map((i) => ({ id: pool[i]!.id, score: pool[i]!.score }));
}
