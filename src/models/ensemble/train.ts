import * as tf from "@tensorflow/tfjs";
import { r2er } from "../metrics/r2er.js";
import { median } from "../metrics/r2er.js";
import { r2Raw } from "../metrics/r2-raw.js";
import { SeededRandom } from "../data/random.js";
import { adamOptimizer } from "../kernels/adam.js";
import type { DeepEnsemble } from "./ensemble.js";
import {
  fitReadoutsOnInputs,
  readoutLoss,
  type CachedReadoutFit,
  type CachedReadoutFitOptions,
} from "./readout-fit.js";
import { coreForward, coreVariables, readoutVariables, type Readout } from "./weights.js";

/** One session's data as the ensemble sees it. */
export interface TrainingSession {
  key: string;
  /** Front-end features [N, h, w, c], C order. */
  features: Float32Array;
  /** Targets [N, U]: repeat-averaged responses z-scored per unit; NaN = missing or excluded. */
  targets: Float32Array;
  units: number;
  trainIdx: number[];
  valIdx: number[];
  /** Optional repeats of unit u on images idx (rows = repeats, NaN padded): enables r²_ER. */
  repeats?: (unit: number, idx: readonly number[]) => Float64Array[];
}

export interface TrainOptions {
  maxCycles?: number;
  stepsPerVisit?: number;
  batchSize?: number;
  learningRate?: number;
  /** Cycles without a better validation score before stopping. */
  patience?: number;
  /**
   * What early stopping watches on the held-out validation images: "loss" (default), the mean
   * squared error of the ensemble's predictions of the z-scored targets over every unit and image,
   * or "median", the median over units of each unit's score (r²_ER or raw R²). The loss pools all
   * units and images, so it moves far less from cycle to cycle than a median of per-unit scores
   * on a few dozen single-trial images.
   */
  stopOn?: "loss" | "median";
  /** Never stop before this many cycles (default 1), whatever the patience. */
  minCycles?: number;
  /** Early stopping watches only this session's held-out images (default: mean over sessions). */
  validationSession?: string;
  resetReadoutOnVisit?: boolean;
  /**
   * How a cycle walks the sessions. "visits" (the default): one session at a time for `stepsPerVisit`
   * steps, with a fresh optimizer (and, by default, fresh readouts) per visit. "interleaved": a cycle is one
   * pass over every session's training images in batches of one session each, shuffled together, with
   * one optimizer and persistent readouts over the whole run (`stepsPerVisit`, `resetReadoutOnVisit` and
   * `refitSteps` do not apply). Pretraining on many recorded sessions needs "interleaved": a core that
   * follows one session's freshly reset readout for many steps forgets the others (see
   * docs/models-of-real-v4.md).
   */
  schedule?: "visits" | "interleaved";
  /** L2 penalty on the readout weights (1×1 mixing and spatial map), per unit; 0 = none (default). */
  readoutL2?: number;
  /**
   * Before each validation, every session's readouts are refitted for this many steps with the
   * cores frozen (default 100; 0 = off). Without it a session's readouts are stale: the cores
   * moved on while training visited the other sessions.
   */
  refitSteps?: number;
  seed?: number;
  signal?: AbortSignal;
  onProgress?: (p: TrainProgress) => void;
  /** First cycle number (resuming a checkpointed run continues its count). */
  startCycle?: number;
  /** Called after each completed cycle with its validation score (e.g. to checkpoint). */
  onCycleEnd?: (cycle: number, validation: number, isBest: boolean) => Promise<void> | void;
}

export interface TrainProgress {
  cycle: number;
  maxCycles: number;
  session: string;
  loss: number;
  /** Median over units of the validation score (r²_ER or raw R²). */
  validation?: number;
  /** Masked mean squared error on the validation images (z-scored targets). */
  validationLoss?: number;
}

export interface TrainResult {
  cycles: number;
  bestCycle: number;
  /** The best cycle's validation median (whichever criterion chose it). */
  bestValidation: number;
  /** The best cycle's validation loss. */
  bestValidationLoss: number;
  cancelled: boolean;
  losses: number[];
}

function featureSize(s: TrainingSession): number {
  return s.features.length / (s.targets.length / s.units);
}

/** Copies the rows `idx` of a session into tensors: x [B,h,w,c], y [B,U] (NaN → 0) and a 0/1 mask. */
export function gatherBatch(
  s: TrainingSession,
  shape: readonly [number, number, number],
  idx: readonly number[],
): { x: tf.Tensor4D; y: tf.Tensor2D; mask: tf.Tensor2D } {
  const per = featureSize(s);
  const xs = new Float32Array(idx.length * per);
  const ys = new Float32Array(idx.length * s.units);
  const ms = new Float32Array(idx.length * s.units);
  idx.forEach((i, b) => {
    xs.set(s.features.subarray(i * per, (i + 1) * per), b * per);
    for (let u = 0; u < s.units; u++) {
      const v = s.targets[i * s.units + u]!;
      if (!Number.isNaN(v)) {
        ys[b * s.units + u] = v;
        ms[b * s.units + u] = 1;
      }
    }
  });
  return {
    x: tf.tensor4d(xs, [idx.length, ...shape]),
    y: tf.tensor2d(ys, [idx.length, s.units]),
    mask: tf.tensor2d(ms, [idx.length, s.units]),
  };
}

/**
 * One optimizer step on a batch. The loss is the sum over members of each member's masked mean
 * squared error, so members learn independently (they differ only by their initialization).
 */
export function trainStep(
  ensemble: DeepEnsemble,
  optimizer: tf.Optimizer,
  session: string,
  batch: { x: tf.Tensor4D; y: tf.Tensor2D; mask: tf.Tensor2D },
  varList: tf.Variable[],
  readoutL2 = 0,
): number {
  const readouts = ensemble.readoutsOf(session);
  const count = Math.max(
    1,
    tf.tidy(() => batch.mask.sum().dataSync()[0]!),
  );
  const loss = optimizer.minimize(
    () => {
      const losses = ensemble.cores.map((core, m) => {
        // Only varList gets gradients: with readout variables alone the cores stay frozen.
        return readoutLoss(
          readouts[m]!,
          coreForward(core, batch.x, ensemble.config),
          batch.y,
          batch.mask,
          count,
          readoutL2,
        );
      });
      return tf.addN(losses) as tf.Scalar;
    },
    true,
    varList,
  );
  if (loss === null) throw new Error("trainStep: optimizer returned no loss");
  const value = loss.dataSync()[0]! / ensemble.cores.length;
  loss.dispose();
  return value;
}

/** "validation loss 0.6665, median 0.378": how every progress line and summary reports a validation. */
export function validationText(loss: number | undefined, median: number | undefined): string {
  const f = (v: number | undefined, digits: number): string =>
    v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(digits);
  return `validation loss ${f(loss, 4)}, median ${f(median, 3)}`;
}

/** Masked mean squared error of predictions [idx.length, U] against a session's targets on `idx`: sum and count. */
export function maskedSquaredError(
  predictions: Float32Array,
  s: TrainingSession,
  idx: readonly number[],
): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  idx.forEach((i, j) => {
    for (let u = 0; u < s.units; u++) {
      const t = s.targets[i * s.units + u]!;
      if (Number.isNaN(t)) continue;
      const d = predictions[j * s.units + u]! - t;
      sum += d * d;
      count++;
    }
  });
  return { sum, count };
}

/** Ensemble-mean predictions [idx.length, U] for a session's images, in batches. */
export function predictSession(
  ensemble: DeepEnsemble,
  s: TrainingSession,
  idx: readonly number[],
  batchSize = 128,
): Float32Array {
  const out = new Float32Array(idx.length * s.units);
  for (let start = 0; start < idx.length; start += batchSize) {
    const b = gatherBatch(s, ensemble.config.inputShape, idx.slice(start, start + batchSize));
    const p = ensemble.predict(s.key, b.x);
    out.set(p.dataSync(), start * s.units);
    tf.dispose([b.x, b.y, b.mask, p]);
  }
  return out;
}

/**
 * Per-unit accuracy on images `idx`: r²_ER when repeats are available (≥ 2), otherwise raw R²
 * (squared correlation) against the z-scored repeat-averaged targets. NaN for excluded units.
 */
export function scoreUnits(
  predictions: Float32Array,
  s: TrainingSession,
  idx: readonly number[],
): { scores: number[]; metric: "r2er" | "r2raw" } {
  const scores: number[] = [];
  let metric: "r2er" | "r2raw" = "r2raw";
  for (let u = 0; u < s.units; u++) {
    const pred = Float64Array.from(idx, (_, j) => predictions[j * s.units + u]!);
    const target = Float64Array.from(idx, (i) => s.targets[i * s.units + u]!);
    if (target.every((v) => Number.isNaN(v))) {
      scores.push(Number.NaN);
      continue;
    }
    const reps = s.repeats?.(u, idx);
    if (reps !== undefined && reps.length >= 2) {
      metric = "r2er";
      scores.push(r2er(pred, reps).r2er);
    } else scores.push(r2Raw(pred, target));
  }
  return { scores, metric };
}

function snapshot(vars: tf.Variable[]): tf.Tensor[] {
  return vars.map((v) => tf.keep(v.clone()));
}

function allVariables(ensemble: DeepEnsemble): tf.Variable[] {
  const vars = ensemble.cores.flatMap(coreVariables);
  for (const rs of ensemble.readouts.values()) for (const r of rs) vars.push(...readoutVariables(r));
  return vars;
}

/**
 * Trains the ensemble by cycling over sessions; each visit resets that session's readouts (by
 * default) and trains core + readouts on its training images. After each cycle the held-out
 * validation images are scored (loss and median, see `stopOn`); the best cycle's weights are kept.
 */
export async function trainEnsemble(
  ensemble: DeepEnsemble,
  sessions: TrainingSession[],
  options: TrainOptions = {},
): Promise<TrainResult> {
  const maxCycles = options.maxCycles ?? 10;
  const steps = options.stepsPerVisit ?? 50;
  const batchSize = options.batchSize ?? 32;
  const patience = options.patience ?? 3;
  const stopOn = options.stopOn ?? "loss";
  const minCycles = options.minCycles ?? 1;
  const rng = new SeededRandom(options.seed ?? 1);
  for (const s of sessions) if (!ensemble.readouts.has(s.key)) ensemble.resetReadout(s.key, s.units);
  let best = Number.NEGATIVE_INFINITY;
  let bestCycle = 0;
  let bestMedian = Number.NaN;
  let bestLoss = Number.NaN;
  let bestWeights: tf.Tensor[] | undefined;
  let waited = 0;
  const losses: number[] = [];
  let cancelled = false;
  let cycle = 0;
  const first = options.startCycle ?? 1;
  const interleaved = options.schedule === "interleaved";
  const shared = interleaved ? adamOptimizer(options.learningRate ?? 1e-3, { byName: true }) : undefined;
  const coreVars = ensemble.cores.flatMap(coreVariables);
  for (cycle = first; cycle <= maxCycles && !cancelled; cycle++) {
    if (shared !== undefined) {
      cancelled = await interleavedPass(ensemble, sessions, shared, coreVars, rng, batchSize, options, cycle, losses);
      if (cancelled) break;
    }
    for (const s of interleaved ? [] : rng.shuffle([...sessions])) {
      if (options.resetReadoutOnVisit ?? true) ensemble.resetReadout(s.key, s.units);
      const optimizer = adamOptimizer(options.learningRate ?? 1e-3);
      const vars = [...ensemble.cores.flatMap(coreVariables), ...ensemble.readoutsOf(s.key).flatMap(readoutVariables)];
      let sum = 0;
      for (let step = 0; step < steps; step++) {
        if (options.signal?.aborted) {
          cancelled = true;
          break;
        }
        const idx = Array.from(
          { length: Math.min(batchSize, s.trainIdx.length) },
          () => s.trainIdx[rng.int(s.trainIdx.length)]!,
        );
        const batch = gatherBatch(s, ensemble.config.inputShape, idx);
        sum += trainStep(ensemble, optimizer, s.key, batch, vars, options.readoutL2 ?? 0);
        tf.dispose([batch.x, batch.y, batch.mask]);
      }
      optimizer.dispose();
      const loss = sum / steps;
      losses.push(loss);
      options.onProgress?.({ cycle, maxCycles, session: s.key, loss });
      await new Promise((r) => setImmediate(r));
      if (cancelled) break;
    }
    if (cancelled) break;
    const refit = interleaved ? 0 : (options.refitSteps ?? 100);
    if (refit > 0)
      for (const s of sessions)
        await refitReadouts(ensemble, s, { steps: refit, readoutL2: options.readoutL2, seed: cycle, reset: false });
    const watched =
      options.validationSession === undefined ? sessions : sessions.filter((s) => s.key === options.validationSession);
    if (watched.length === 0)
      throw new Error(
        `trainEnsemble: validation session "${options.validationSession}" is not among ` +
          `${sessions.map((s) => s.key).join(", ")}`,
      );
    const scored = watched.map((s) => {
      const pred = predictSession(ensemble, s, s.valIdx);
      return { median: median(scoreUnits(pred, s, s.valIdx).scores), error: maskedSquaredError(pred, s, s.valIdx) };
    });
    const score = scored.reduce((a, b) => a + b.median, 0) / scored.length;
    const errCount = scored.reduce((a, b) => a + b.error.count, 0);
    const valLoss = errCount > 0 ? scored.reduce((a, b) => a + b.error.sum, 0) / errCount : Number.NaN;
    options.onProgress?.({
      cycle,
      maxCycles,
      session: "validation",
      loss: losses[losses.length - 1]!,
      validation: score,
      validationLoss: valLoss,
    });
    // Higher is better for both criteria; a NaN criterion (no scorable unit) never counts as better.
    const criterion = stopOn === "loss" ? -valLoss : score;
    const isBest = criterion > best;
    await options.onCycleEnd?.(cycle, score, isBest);
    if (isBest) {
      best = criterion;
      bestCycle = cycle;
      bestMedian = score;
      bestLoss = valLoss;
      if (bestWeights) tf.dispose(bestWeights);
      bestWeights = snapshot(allVariables(ensemble));
      waited = 0;
    } else if (++waited >= patience && cycle - first + 1 >= minCycles) {
      cycle++;
      break;
    }
  }
  shared?.dispose();
  if (bestWeights !== undefined) {
    const vars = allVariables(ensemble);
    if (vars.length === bestWeights.length) vars.forEach((v, i) => v.assign(bestWeights![i]!));
    tf.dispose(bestWeights);
  }
  return {
    cycles: cycle - first,
    bestCycle,
    bestValidation: bestMedian,
    bestValidationLoss: bestLoss,
    cancelled,
    losses,
  };
}

/**
 * One interleaved cycle: every session's training images in batches of one session each, in a shuffled
 * order, each step moving the cores and that session's readouts with the run's one optimizer. Returns
 * whether it was cancelled.
 */
async function interleavedPass(
  ensemble: DeepEnsemble,
  sessions: readonly TrainingSession[],
  optimizer: tf.Optimizer,
  coreVars: readonly tf.Variable[],
  rng: SeededRandom,
  batchSize: number,
  options: TrainOptions,
  cycle: number,
  losses: number[],
): Promise<boolean> {
  const batches: { s: TrainingSession; idx: number[] }[] = [];
  for (const s of sessions) {
    const order = rng.shuffle([...s.trainIdx]);
    for (let start = 0; start < order.length; start += batchSize)
      batches.push({ s, idx: order.slice(start, start + batchSize) });
  }
  const varsOf = new Map<string, tf.Variable[]>(
    sessions.map((s) => [s.key, [...coreVars, ...ensemble.readoutsOf(s.key).flatMap(readoutVariables)]]),
  );
  const sums = new Map<string, { sum: number; n: number }>();
  // Yield at the start of every pass, as the visiting schedule does after every visit, so a cancel (or
  // progress) from outside is seen between cycles however short a cycle is.
  await new Promise((r) => setImmediate(r));
  let lastYield = performance.now();
  for (const { s, idx } of rng.shuffle(batches)) {
    if (options.signal?.aborted) return true;
    const batch = gatherBatch(s, ensemble.config.inputShape, idx);
    const loss = trainStep(ensemble, optimizer, s.key, batch, varsOf.get(s.key)!, options.readoutL2 ?? 0);
    tf.dispose([batch.x, batch.y, batch.mask]);
    const acc = sums.get(s.key) ?? { sum: 0, n: 0 };
    sums.set(s.key, { sum: acc.sum + loss, n: acc.n + 1 });
    // Let the event loop breathe (progress, cancellation) about every 100 ms.
    if (performance.now() - lastYield > 100) {
      await new Promise((r) => setImmediate(r));
      lastYield = performance.now();
    }
  }
  for (const s of sessions) {
    const acc = sums.get(s.key);
    if (acc === undefined) continue;
    losses.push(acc.sum / acc.n);
    options.onProgress?.({ cycle, maxCycles: options.maxCycles ?? 10, session: s.key, loss: acc.sum / acc.n });
  }
  return false;
}

export interface ReadoutFitOptions extends Omit<CachedReadoutFitOptions, "validationRows"> {
  /** Start from fresh readouts (default true) rather than the session's current ones. */
  reset?: boolean;
  /** Stop early on the session's validation images (`valIdx`) instead of running all `steps`. */
  validate?: boolean;
}

/**
 * Fits a session's readouts with every core frozen, on its training images (e.g. a new session,
 * evaluation, or bringing stale readouts up to date). The cores run once over the images; the
 * steps then train only the readouts on those cached outputs, so this costs little.
 */
export async function refitReadouts(
  ensemble: DeepEnsemble,
  s: TrainingSession,
  options: ReadoutFitOptions = {},
): Promise<Readout[]> {
  return (await refitReadoutsWithReport(ensemble, s, options)).readouts;
}

/** refitReadouts, also saying how many steps were kept and the validation error there. */
export async function refitReadoutsWithReport(
  ensemble: DeepEnsemble,
  s: TrainingSession,
  options: ReadoutFitOptions = {},
): Promise<{ readouts: Readout[] } & CachedReadoutFit> {
  const readouts =
    (options.reset ?? true) || !ensemble.readouts.has(s.key)
      ? ensemble.resetReadout(s.key, s.units)
      : ensemble.readoutsOf(s.key);
  const validation = options.validate === true ? s.valIdx : [];
  const idx = [...s.trainIdx, ...validation];
  if (s.trainIdx.length === 0) return { readouts, steps: 0, validationLoss: Number.NaN };
  // Core outputs of every member over the images, and targets, computed once.
  const chunks: tf.Tensor4D[][] = ensemble.cores.map(() => []);
  const data = gatherBatch(s, ensemble.config.inputShape, idx);
  for (let start = 0; start < idx.length; start += 128) {
    const x = tf.slice(data.x, [start, 0, 0, 0], [Math.min(128, idx.length - start), -1, -1, -1]);
    ensemble.cores.forEach((core, m) => chunks[m]!.push(coreForward(core, x, ensemble.config)));
    x.dispose();
  }
  const cached = chunks.map((c) => {
    const all = c.length === 1 ? c[0]! : (tf.concat(c, 0) as tf.Tensor4D);
    if (c.length > 1) tf.dispose(c);
    return all;
  });
  data.x.dispose();
  try {
    const trainRows = Array.from({ length: s.trainIdx.length }, (_, i) => i);
    const validationRows = validation.map((_, i) => s.trainIdx.length + i);
    const fit = await fitReadoutsOnInputs(readouts, cached, data.y, data.mask, trainRows, {
      ...options,
      validationRows,
    });
    return { readouts, ...fit };
  } finally {
    tf.dispose([...cached, data.y, data.mask]);
  }
}

/** Fits a fresh readout for a session with every core frozen (e.g. a new session, or evaluation). */
export async function fitReadout(
  ensemble: DeepEnsemble,
  s: TrainingSession,
  options: Omit<ReadoutFitOptions, "reset"> = {},
): Promise<Readout[]> {
  return refitReadouts(ensemble, s, { ...options, reset: true });
}
