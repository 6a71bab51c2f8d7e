import { SeededRandom, zscoreTargets, type TrainingSession } from "../../models/index.js";
import type { SessionStore, UnitKey } from "../store/index.js";

/** How units are matched across sessions: electrode and sorted id. */
const unitName = (u: UnitKey): string => `${u.electrode}#${u.sortedId}`;

/** Front-end features of stimuli by content hash, concatenated in the order asked ([N, h, w, c]). */
export type FeatureSource = (sha256s: readonly string[]) => Promise<Float32Array>;

/** A runner session as the ensemble trains on it, with what is needed to check and score it. */
export interface SessionTrainingData {
  /** The (first) session the data comes from. */
  sessionId: number;
  /** Every session pooled into the data (one unless several were asked for). */
  sessionIds: number[];
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
  /** Per unit, the mean and SD over the training images that the targets were z-scored with. */
  targetStats: { mean: number[]; std: number[] };
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
 * Turns stored runner sessions into training data: spike counts summed over bins per presentation,
 * averaged over repeats per stimulus, z-scored per unit with training-image statistics. Presentations
 * whose counts are incomplete (faults) are left out. Held-out images stay in the data for scoring
 * (with their repeats, for r²_ER) but in neither the training nor the validation rows.
 *
 * Several sessions are pooled into one data set when they record the same units (matched by
 * electrode and sorted id, as the simulated rig and a chronic array with matched units do): an
 * image shown in more than one session pools its repeats, and each session's own images are split
 * into training and validation rows with seed + its position in the list (so the split of a
 * session does not change as later sessions are added).
 */
export async function sessionTrainingData(
  store: SessionStore,
  sessionIds: number | readonly number[],
  options: SessionDataOptions,
): Promise<SessionTrainingData> {
  const ids = typeof sessionIds === "number" ? [sessionIds] : [...sessionIds];
  const sessionId = ids[0];
  if (sessionId === undefined) throw new Error("sessionTrainingData: no session given");
  const units = store.units(sessionId);
  if (units.length === 0)
    throw new Error(
      `Session ${sessionId} in ${store.file} has no units with spike counts; nothing can be trained on it. Check ` +
        `the rig's faults with \`cortexloop show ${sessionId}\`.`,
    );
  const unitNames = units.map(unitName);
  const column = new Map(unitNames.map((name, i) => [name, i]));
  const rowOf = new Map<string, number>();
  const imageKeys: string[] = [];
  const blocks: string[] = [];
  const perImage: Float64Array[][] = [];
  /** Index in `ids` of the session each row was first shown in. */
  const sourceOf: number[] = [];
  let presentationCount = 0;
  ids.forEach((id, source) => {
    const own = store.units(id);
    const unitIdx = new Map<number, number>();
    for (const u of own) {
      const c = column.get(unitName(u));
      if (c !== undefined) unitIdx.set(u.id, c);
    }
    if (own.length !== units.length || unitIdx.size !== units.length) {
      const theirs = own.map(unitName);
      const missing = unitNames.filter((n) => !theirs.includes(n)).slice(0, 5);
      const extra = theirs.filter((n) => !column.has(n)).slice(0, 5);
      throw new Error(
        `Sessions ${sessionId} and ${id} in ${store.file} record different units (${own.length} against ` +
          `${units.length}; missing ${missing.join(", ") || "none"}, extra ${extra.join(", ") || "none"}), so their ` +
          `data cannot share one readout. Nothing was trained; train them with a readout per session.`,
      );
    }
    const complete = new Set(
      store
        .countResults(id)
        .filter((r) => r.complete)
        .map((r) => r.presentationIdx),
    );
    const counts = new Map<number, Float64Array>();
    for (const c of store.spikeCounts(id)) {
      if (!complete.has(c.presentationIdx)) continue;
      let row = counts.get(c.presentationIdx);
      if (row === undefined) counts.set(c.presentationIdx, (row = new Float64Array(units.length)));
      row[unitIdx.get(c.unitId)!]! += c.count;
    }
    const presentations = store.presentations(id).filter((p) => p.status !== "skipped");
    presentationCount += presentations.length;
    for (const p of presentations) {
      let i = rowOf.get(p.stimulusSha256);
      if (i === undefined) {
        i = imageKeys.length;
        rowOf.set(p.stimulusSha256, i);
        imageKeys.push(p.stimulusSha256);
        blocks.push(p.block);
        perImage.push([]);
        sourceOf.push(source);
      }
      // Units without a stored row in a complete presentation fired no spikes in the window.
      const row = counts.get(p.idx) ?? (complete.has(p.idx) ? new Float64Array(units.length) : undefined);
      if (row !== undefined) perImage[i]!.push(row);
    }
  });
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
  const fitBySource: number[][] = ids.map(() => []);
  imageKeys.forEach((sha, i) => {
    if (options.heldOut.has(sha)) testIdx.push(i);
    else if (repeatsPerImage[i]! > 0) fitBySource[sourceOf[i]!]!.push(i);
  });
  const fit = fitBySource.flat();
  const named = ids.length === 1 ? `Session ${sessionId}` : `Sessions ${ids.join(", ")}`;
  if (fit.length < 4)
    throw new Error(
      `${named} ${ids.length === 1 ? "has" : "have"} ${fit.length} training images with complete counts; at least ` +
        `4 are needed. Nothing was trained; run a longer session.`,
    );
  const valIdx: number[] = [];
  const trainIdx: number[] = [];
  fitBySource.forEach((own, source) => {
    if (own.length === 0) return;
    const shuffled = new SeededRandom((options.seed ?? 1) + source).shuffle([...own]);
    // At least 2 validation images, but at least 2 training images left where a session is tiny.
    const nVal = Math.min(
      Math.max(2, Math.round(own.length * (options.validationFraction ?? 0.1))),
      Math.max(0, own.length - 2),
    );
    valIdx.push(...shuffled.slice(0, nVal));
    trainIdx.push(...shuffled.slice(nVal));
  });
  valIdx.sort((a, b) => a - b);
  trainIdx.sort((a, b) => a - b);
  const z = zscoreTargets(
    mean,
    nU,
    nI,
    units.map(() => true),
    fit,
  );
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
      return Array.from({ length: maxRepeats }, (_, r) =>
        Float64Array.from(idx, (i) => perImage[i]![r]?.[unit] ?? Number.NaN),
      );
    },
  };
  return {
    sessionId,
    sessionIds: ids,
    session,
    imageKeys,
    blocks,
    testIdx,
    repeatsPerImage,
    unitNames,
    presentations: presentationCount,
    usedPresentations: repeatsPerImage.reduce((a, b) => a + b, 0),
    targetStats: { mean: Array.from(z.mean), std: Array.from(z.std) },
  };
}
