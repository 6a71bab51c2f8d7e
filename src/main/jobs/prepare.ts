// Shared by evaluation and retraining: load sessions, run the frozen front end, split and z-score.
import * as tf from "@tensorflow/tfjs";
import { meanResponses, repeatMatrix, type SessionDataset } from "../../models/data/dataset.js";
import { splitIndices, stableSeed } from "../../models/data/random.js";
import { zscoreTargets } from "../../models/data/targets.js";
import { type TrainingSession } from "../../models/ensemble/index.js";
import { extractFeatures, loadFrontEnd, type FrontEndSpec } from "../../models/frontend/index.js";
import type { SessionStore } from "../store/index.js";
import { loadSessionDataset, resolveSession } from "../import/dataset.js";
import { FeatureCache, featureCacheDir } from "./feature-cache.js";

export interface PreparedSession extends TrainingSession {
  /** Held-out images (never trained on). */
  testIdx: number[];
  /** All training images (trainIdx ∪ valIdx): evaluation readouts are fitted on these. */
  fitIdx: number[];
  ds: SessionDataset;
  raw: Float64Array;
  /**
   * Mean and standard deviation per unit of the training images' responses: predictions × std + mean are in response
   * units.
   */
  targetStats: { mean: number[]; std: number[] };
}

export interface PreparedData {
  ids: number[];
  sessions: PreparedSession[];
  featureShape: [number, number, number];
  frontEndName: string;
  taskDriven: boolean;
}

export async function prepareSessions(
  store: SessionStore,
  options: {
    sessions: string[];
    frontEnd: FrontEndSpec;
    imageSize?: number;
    /** Fraction of each session's images held out as `testIdx` (default 0.2; 0: none). */
    testFraction?: number;
    seed: number;
    log: (line: string) => void;
    /** Keep front-end features beside the database and reuse them (default true for a file database). */
    featureCache?: boolean;
  },
): Promise<PreparedData> {
  const { log, seed } = options;
  const ids = options.sessions.map((ref) => resolveSession(store, ref));
  const datasets: SessionDataset[] = [];
  for (const id of ids) {
    const ds = await loadSessionDataset(store, id, options.imageSize ?? 112);
    const usable = ds.usable.filter(Boolean).length;
    if (usable === 0)
      throw new Error(
        `Session "${ds.name}" (id ${id}) has no unit usable for fitting (all flagged or empty); nothing was trained.`,
      );
    if (ds.images.length < 10)
      throw new Error(`Session "${ds.name}" (id ${id}) has ${ds.images.length} images; evaluation needs at least 10.`);
    log(
      `session ${ds.name}: ${ds.images.length} images, ${ds.unitNames.length} units (${usable} usable), ` +
        `${ds.repeats} repeat(s)${ds.averaged ? " (repeat-averaged)" : ""}`,
    );
    datasets.push(ds);
  }
  const frontEnd = await loadFrontEnd({ ...options.frontEnd, log });
  log(`front end: ${frontEnd.name} → features ${frontEnd.outputShape.join("x")}; ${frontEnd.description}`);
  const cacheDir = options.featureCache === false ? undefined : featureCacheDir(store.file);
  const cache = cacheDir === undefined ? undefined : new FeatureCache(cacheDir);
  const sessions: PreparedSession[] = [];
  for (const ds of datasets) {
    const t0 = Date.now();
    const identity = sessionIdentity(ds);
    let features = cache?.get(frontEnd.name, ds.imageSize, identity, ds.imageKeys)?.features;
    if (features !== undefined) log(`features ${ds.name}: ${ds.images.length} images from the feature cache`);
    else {
      features = await extractFeatures(frontEnd, ds.images, ds.imageSize, { batchSize: 32 });
      log(`features ${ds.name}: ${ds.images.length} images in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      cache?.put(
        frontEnd.name,
        ds.imageSize,
        identity,
        ds.imageKeys,
        { shape: [...frontEnd.outputShape] as [number, number, number], features },
        log,
      );
    }
    // The split depends on the session's own identity and the seed, never on its place in the list.
    const testFraction = options.testFraction ?? 0.2;
    const { train, test } =
      testFraction > 0
        ? splitIndices(ds.images.length, testFraction, stableSeed(identity, seed))
        : { train: ds.images.map((_, i) => i), test: [] };
    const { train: fit, test: val } = splitIndices(train.length, 0.15, stableSeed(identity, seed + 100));
    const raw = meanResponses(ds);
    const z = zscoreTargets(raw, ds.unitNames.length, ds.images.length, ds.usable, train);
    const targets = z.values;
    const hasRepeats = !ds.averaged && ds.repeats >= 2;
    sessions.push({
      key: String(ds.sessionId),
      features,
      targets,
      units: ds.unitNames.length,
      trainIdx: fit.map((j) => train[j]!),
      valIdx: val.map((j) => train[j]!),
      repeats: hasRepeats ? (u, idx) => repeatMatrix(ds, u, idx) : undefined,
      testIdx: test,
      fitIdx: train,
      ds,
      raw,
      targetStats: {
        mean: Array.from(z.mean, (v) => (Number.isFinite(v) ? v : 0)),
        std: Array.from(z.std, (v) => (v > 0 ? v : 1)),
      },
    });
  }
  const prepared: PreparedData = {
    ids,
    sessions,
    featureShape: [...frontEnd.outputShape] as [number, number, number],
    frontEndName: frontEnd.name,
    taskDriven: frontEnd.taskDriven,
  };
  frontEnd.dispose();
  return prepared;
}

/** Whether the active backend can take gradients through the ensemble's ops; else switch to cpu. */
export async function ensureTrainableBackend(log: (l: string) => void): Promise<string> {
  const probe = (): void =>
    tf.tidy(() => {
      const x = tf.ones([1, 3, 3, 2]) as tf.Tensor4D;
      const dw = tf.variable(tf.ones([3, 3, 2, 1]));
      const pw = tf.variable(tf.ones([1, 1, 2, 2]));
      const g = tf.variableGrads(
        () => tf.sum(tf.separableConv2d(x, dw as tf.Tensor4D, pw as tf.Tensor4D, 1, "same")) as tf.Scalar,
        [dw, pw],
      );
      tf.dispose([dw, pw, ...Object.values(g.grads), g.value]);
    });
  try {
    probe();
    return tf.getBackend();
  } catch (err) {
    const was = tf.getBackend();
    await tf.setBackend("cpu");
    await tf.ready();
    log(
      `backend: ${was} cannot train the ensemble (` +
        `${err instanceof Error ? err.message.split("\n")[0] : String(err)}); training on cpu (front-end features ` +
        `were computed on ${was}).`,
    );
    return "cpu";
  }
}

/**
 * What a session is, for its splits and its cached features: its name and its images, in order (not its place in a
 * list, nor its id in one database).
 */
export function sessionIdentity(ds: Pick<SessionDataset, "name" | "imageKeys">): string {
  return `${ds.name}\n${ds.imageKeys.length}\n${ds.imageKeys[0] ?? ""}\n${ds.imageKeys[ds.imageKeys.length - 1] ?? ""}`;
}

/**
 * `config.targetStats` of a model version: per readout session, how to turn its z-scored predictions back into
 * responses.
 */
export type TargetStatsRecord = Record<string, { mean: number[]; std: number[] }>;

export function targetStatsOf(sessions: readonly PreparedSession[]): TargetStatsRecord {
  return Object.fromEntries(sessions.map((s) => [s.key, s.targetStats]));
}
