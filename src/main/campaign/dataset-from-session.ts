import { SeededRandom, zscoreTargets, type TrainingSession } from "../../models/index.js";
import type { SessionStore } from "../store/index.js";

/** Front-end features of stimuli by content hash, concatenated in the order asked ([N, h, w, c]). */
export type FeatureSource = (sha256s: readonly string[]) => Promise<Float32Array>;

/** A runner session as the ensemble trains on it, with what is needed to check and score it. */
export interface SessionTrainingData {
  sessionId: number;
  session: TrainingSession;
  /** Stimulus hash of each row of `session` (distinct stimuli, first-presentation order). */
  imageKeys: string[];
  /** Block of each row's first presentation. */
  blocks: string[];
  /** Rows of the held-out test images: never in trainIdx or valIdx, never used for the z-score statistics. */
  testIdx: number[];
  /** Repeats per row with complete counts. */
  repeatsPerImage: number[];
  unitNames: string[];
  /** Presentations shown, and those whose counts were complete (only these are used). */
  presentations: number;
  usedPresentations: number;
}

export interface SessionDataOptions {
  key: string;
  /** Stimulus hashes of the held-out test set. */
  heldOut: ReadonlySet<string>;
  features: FeatureSource;
  /** Fraction of the training images used for early stopping (default 0.1). */
  validationFraction?: number;
  seed?: number;
}

/**
 * Turns a stored runner session into training data: spike counts summed over bins per presentation,
 * averaged over repeats per stimulus, z-scored per unit with training-image statistics. Presentations
 * whose counts are incomplete (faults) are left out. Held-out images stay in the data for scoring
 * (with their repeats, for r²_ER) but in neither the training nor the validation rows.
 */
export async function sessionTrainingData(store: SessionStore, sessionId: number, options: SessionDataOptions): Promise<SessionTrainingData> {
  const units = store.units(sessionId);
  if (units.length === 0) throw new Error(`Session ${sessionId} in ${store.file} has no units with spike counts; nothing can be trained on it. Check the rig's faults with \`cortexloop show ${sessionId}\`.`);
  const unitIdx = new Map(units.map((u, i) => [u.id, i]));
  const complete = new Set(store.countResults(sessionId).filter((r) => r.complete).map((r) => r.presentationIdx));
  const counts = new Map<number, Float64Array>();
  for (const c of store.spikeCounts(sessionId)) {
    if (!complete.has(c.presentationIdx)) continue;
    let row = counts.get(c.presentationIdx);
    if (row === undefined) counts.set(c.presentationIdx, (row = new Float64Array(units.length)));
    row[unitIdx.get(c.unitId)!]! += c.count;
  }
  const presentations = store.presentations(sessionId).filter((p) => p.status !== "skipped");
  const rowOf = new Map<string, number>();
  const imageKeys: string[] = [];
  const blocks: string[] = [];
  const perImage: Float64Array[][] = [];
  for (const p of presentations) {
    let i = rowOf.get(p.stimulusSha256);
    if (i === undefined) {
      i = imageKeys.length;
      rowOf.set(p.stimulusSha256, i);
      imageKeys.push(p.stimulusSha256);
      blocks.push(p.block);
      perImage.push([]);
    }
    // Units without a stored row in a complete presentation fired no spikes in the window.
    const row = counts.get(p.idx) ?? (complete.has(p.idx) ? new Float64Array(units.length) : undefined);
    if (row !== undefined) perImage[i]!.push(row);
  }
  const nU = units.length;
  const nI = imageKeys.length;
  const repeatsPerImage = perImage.map((r) => r.length);
  const maxRepeats = Math.max(1, ...repeatsPerImage);
  const mean = new Float64Array(nU * nI).fill(Number.NaN);
  for (let i = 0; i < nI; i++) {
    const reps = perImage[i]!;
    if (reps.length === 0) continue;
    for (let u = 0; u < nU; u++) {
      let s = 0;
      for (const r of reps) s += r[u]!;
      mean[u * nI + i] = s / reps.length;
    }
  }
  const testIdx: number[] = [];
  const fit: number[] = [];
  imageKeys.forEach((sha, i) => {
    if (options.heldOut.has(sha)) testIdx.push(i);
    else if (repeatsPerImage[i]! > 0) fit.push(i);
  });
  if (fit.length < 4) throw new Error(`Session ${sessionId} has ${fit.length} training images with complete counts; at least 4 are needed. Nothing was trained; run a longer session.`);
  const shuffled = new SeededRandom(options.seed ?? 1).shuffle([...fit]);
  const nVal = Math.max(2, Math.round(fit.length * (options.validationFraction ?? 0.1)));
  const valIdx = shuffled.slice(0, nVal).sort((a, b) => a - b);
  const trainIdx = shuffled.slice(nVal).sort((a, b) => a - b);
  const z = zscoreTargets(mean, nU, nI, units.map(() => true), fit);
  const features = await options.features(imageKeys);
  const session: TrainingSession = {
    key: options.key,
    features,
    targets: z.values,
    units: nU,
    trainIdx,
    valIdx,
    // r²_ER needs repeats of every image scored; single-repeat rows (validation) fall back to raw R².
    repeats: (unit, idx) => {
      if (idx.some((i) => repeatsPerImage[i]! < 2)) return [];
      return Array.from({ length: maxRepeats }, (_, r) => Float64Array.from(idx, (i) => perImage[i]![r]?.[unit] ?? Number.NaN));
    },
  };
  return {
    sessionId,
    session,
    imageKeys,
    blocks,
    testIdx,
    repeatsPerImage,
    unitNames: units.map((u) => `${u.electrode}#${u.sortedId}`),
    presentations: presentations.length,
    usedPresentations: repeatsPerImage.reduce((a, b) => a + b, 0),
  };
}
