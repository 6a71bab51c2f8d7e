// One distillation, start to end or from a checkpoint: teacher targets over the stream (once), the
// shared population model, then per unit: prune, retrain, score, store as a model version. Used by
// the distill job (worker thread) and by the campaign (in process).
import { performance } from "node:perf_hooks";
import {
  BatchSampler,
  DistillCancelled,
  defaultDistillSettings,
  distillUnit,
  frontEndFeatures,
  npyObjectArrayBytes,
  parseNpy,
  PopulationCompactModel,
  predictPopulation,
  recalibratePopulation,
  targetScaling,
  teacherTargets,
  TeacherCancelled,
  trainPopulation,
  zscore,
  zscoreFeatures,
  type DistillSettings,
  type DistillSettingsInput,
  type NdArray,
} from "../../models/compact/index.js";
import type { FrontEnd } from "../../models/frontend/index.js";
import { median, r2Raw } from "../../models/metrics/index.js";
import type { SessionStore } from "../store/index.js";
import {
  recordedResponses,
  scoreRecorded,
  type MemoryStream,
  type ReadoutChoice,
  type StreamSplit,
  type Teacher,
} from "./sources.js";
import { putCompactVersion, type CompactUnit } from "./versions.js";

export const CHECKPOINT_KIND = "compact-distill-checkpoint";

export type DistillMessage =
  | { type: "log"; line: string }
  | { type: "progress"; phase: "teacher" | "population" | "units"; done: number; total: number; loss?: number }
  | { type: "checkpoint"; phase: "population" | "unit"; modelVersionId: number; step?: number; unit?: UnitSummary }
  | { type: "unit"; result: UnitSummary }
  | { type: "done"; summary: DistillSummary }
  | { type: "cancelled"; lastCheckpoint?: number; message: string }
  | { type: "failed"; message: string };

export interface UnitSummary {
  unit: string;
  column: number;
  modelVersionId: number;
  r2Teacher: number;
  r2TeacherBeforePruning: number;
  /** R² with the teacher on the held-out natural images alone (without their gaudy versions). */
  r2TeacherNatural?: number;
  filters: number[];
  filtersBeforePruning: number[];
  parameters: number;
  varianceKept: number;
  /** Prunings tried (more than one where the first cost more than the tolerance on validation images). */
  pruneAttempts?: number;
  /** Student and teacher against the recorded responses on the held-out images that have them. */
  recorded: { metric: "r2er" | "r2raw"; student: number; teacher: number; images: number };
  seconds: { prune: number; retrain: number; evaluate: number };
}

export interface DistillSummary {
  teacher: number;
  readout: string;
  units: UnitSummary[];
  images: { stream: number; train: number; heldOut: number; prune: number; validation: number };
  medians: {
    r2Teacher: number;
    r2TeacherBeforePruning: number;
    r2TeacherNatural: number;
    recordedStudent: number;
    recordedTeacher: number;
    filters: number[];
    filtersBeforePruning: number[];
  };
  metric: "r2er" | "r2raw";
  seconds: { teacher: number; population: number; units: number; total: number };
  settings: DistillSettings;
}

/** Where a resumed run starts: a population checkpoint and the units already stored. */
export interface DistillResume {
  checkpointId?: number;
  unitsDone?: Map<string, UnitSummary>;
}

export interface DistillRun {
  store: SessionStore;
  teacher: Teacher;
  frontEnd: FrontEnd;
  readout: ReadoutChoice;
  units: CompactUnit[];
  stream: MemoryStream;
  split: StreamSplit;
  settings: DistillSettings;
  /** Name prefix of stored versions (e.g. the job or the campaign). */
  label: string;
  /** Recorded in each stored version's config. */
  origin: Record<string, unknown>;
  checkpointEvery?: number;
  resume?: DistillResume;
  /** Log the shared model's held-out R² every this many steps (default 200). */
  reportEvery?: number;
  /** A previous run's shared model (same units and filters) to continue from instead of random weights. */
  warmStart?: NdArray[];
  signal?: AbortSignal;
  emit: (m: DistillMessage) => void;
}

/** Settings with the defaults filled in (and checked). */
export function distillSettings(partial: DistillSettingsInput = {}): DistillSettings {
  const s: DistillSettings = {
    ...defaultDistillSettings,
    ...partial,
    smoothness: { ...defaultDistillSettings.smoothness, ...partial.smoothness },
    prune: { ...defaultDistillSettings.prune, ...partial.prune },
    retrain: { ...defaultDistillSettings.retrain, ...partial.retrain },
  };
  if (!Number.isInteger(s.steps) || s.steps < 0)
    throw new Error(`distill: steps must be a whole number ≥ 0, got ${s.steps}`);
  if (!(s.prune.keepVariance > 0 && s.prune.keepVariance <= 1))
    throw new Error(`distill: --keep-variance must be in (0, 1], got ${s.prune.keepVariance}`);
  if (!(s.prune.tolerance >= 0)) throw new Error(`distill: --prune-tolerance must be ≥ 0, got ${s.prune.tolerance}`);
  if (!Number.isInteger(s.prune.retries) || s.prune.retries < 0)
    throw new Error(`distill: prune retries must be a whole number ≥ 0, got ${s.prune.retries}`);
  if (!Number.isInteger(s.naturalWeight) || s.naturalWeight < 1)
    throw new Error(`distill: --natural-weight must be a whole number ≥ 1, got ${s.naturalWeight}`);
  if (s.sharedLayers < 1 || s.sharedLayers > 4)
    throw new Error(`distill: --shared-layers must be 1 to 4, got ${s.sharedLayers}`);
  return s;
}

function checkpointBytes(
  targets: Float32Array,
  disagreement: Float64Array,
  population: PopulationCompactModel,
): Uint8Array {
  const arrays: NdArray[] = [
    { shape: [targets.length], dtype: "f4", data: targets },
    { shape: [disagreement.length], dtype: "f8", data: disagreement },
    ...population.allArrays(),
  ];
  return npyObjectArrayBytes(arrays);
}

/** Runs (or continues) a distillation; stores a model version per unit; returns the summary. */
export async function runDistillation(
  run: DistillRun,
): Promise<{ summary?: DistillSummary; cancelled: boolean; lastCheckpoint?: number; population?: NdArray[] }> {
  const { store, teacher, stream, split, settings, units, emit } = run;
  const log = (line: string): void => emit({ type: "log", line });
  const t0 = performance.now();
  const nUnits = units.length;
  // The feature hint needs the front end's grid to divide the shared layers' output.
  const [fh, fw, fc] = run.frontEnd.outputShape;
  const trunkSide =
    settings.sharedLayers === 1 ? stream.size : settings.sharedLayers === 2 ? stream.size / 2 : stream.size / 4;
  const hint =
    settings.hint > 0 && trunkSide % fh === 0 && trunkSide % fw === 0
      ? { shape: [fh, fw, fc] as [number, number, number] }
      : undefined;
  if (settings.hint > 0 && hint === undefined)
    log(
      `no feature hint: the front end's ${fh}x${fw} grid does not divide the shared layers' ${trunkSide}x` +
        `${trunkSide} output`,
    );
  const population = new PopulationCompactModel({
    units: nUnits,
    sharedLayers: settings.sharedLayers,
    filters: settings.filters,
    inputSize: stream.size,
    seed: settings.seed,
    hint,
  });
  let lastCheckpoint = run.resume?.checkpointId;
  try {
    if (run.warmStart !== undefined && run.resume?.checkpointId === undefined) {
      try {
        population.assignAll(run.warmStart);
        log("shared model: continuing from the previous distillation's weights");
      } catch (err) {
        log(
          `shared model: starting from random weights (the previous one does not fit: ` +
            `${err instanceof Error ? err.message : String(err)})`,
        );
      }
    }
    // 1. Teacher targets: computed once, or read back with the population's weights.
    let targets: Float32Array;
    let score: Float64Array;
    let features: Float32Array | undefined;
    let step = 0;
    let recalibrated = false;
    if (run.resume?.checkpointId !== undefined) {
      const v = store.getModelVersion(run.resume.checkpointId);
      if (v === undefined || v.checkpoint === null)
        throw new Error(
          `distill: checkpoint model version ${run.resume.checkpointId} is gone; start the distillation again.`,
        );
      const arrays = parseNpy(new Uint8Array(v.checkpoint), `checkpoint ${v.id}`) as NdArray[];
      targets = arrays[0]!.data as Float32Array;
      score = arrays[1]!.data as Float64Array;
      if (targets.length !== stream.count * nUnits)
        throw new Error(
          `distill: checkpoint ${v.id} holds targets for ${targets.length / nUnits} images, the stream has ` +
            `${stream.count}; the images changed since. Start the distillation again.`,
        );
      population.assignAll(arrays.slice(2));
      step = Number(v.config.step);
      recalibrated = v.config.recalibrated === true;
      log(
        `resuming from checkpoint ${v.id}: population step ${step}/${settings.steps}` +
          `${recalibrated ? " (done)" : ""}, ${run.resume.unitsDone?.size ?? 0} unit(s) already stored`,
      );
    } else {
      const tt = performance.now();
      let lastTenth = -1;
      const got = await teacherTargets(stream, {
        ensemble: teacher.ensemble,
        readout: run.readout.key,
        units: units.map((u) => u.column),
        frontEnd: run.frontEnd,
        keepFeatures: hint !== undefined,
        signal: run.signal,
        onProgress: (done, total) => {
          emit({ type: "progress", phase: "teacher", done, total });
          const tenth = Math.floor((done / total) * 10);
          if (tenth !== lastTenth) {
            lastTenth = tenth;
            log(`teacher predictions: ${done}/${total} images`);
          }
        },
      });
      targets = got.targets;
      score = got.disagreement;
      features = got.features;
      log(
        `teacher predictions for ${nUnits} units on ${stream.count} images in ` +
          `${((performance.now() - tt) / 1000).toFixed(1)} s`,
      );
    }
    const teacherSeconds = (performance.now() - t0) / 1000;
    const save = async (atStep: number, done: boolean): Promise<void> => {
      lastCheckpoint = store.putModelVersion({
        name: `${run.label}: distillation checkpoint, step ${atStep}`,
        kind: CHECKPOINT_KIND,
        parentId: teacher.modelVersionId,
        config: {
          ...run.origin,
          step: atStep,
          recalibrated: done,
          units: units.map((u) => u.name),
          streamCount: stream.count,
          settings,
        },
        checkpoint: checkpointBytes(targets, score, population),
        sessionIds: run.readout.sessionIds,
      });
      emit({ type: "checkpoint", phase: "population", modelVersionId: lastCheckpoint, step: atStep });
    };
    if (run.resume?.checkpointId === undefined) await save(0, settings.steps === 0);

    // 2. The shared population model on z-scored targets; the most informative images twice as often.
    const scaling = targetScaling(targets, nUnits, split.train);
    const z = zscore(targets, nUnits, scaling);
    const tp = performance.now();
    if (!recalibrated) {
      // A resumed run needs the hint's features only if training steps remain.
      if (hint !== undefined && features === undefined && step < settings.steps) {
        const tf0 = performance.now();
        features = await frontEndFeatures(stream, run.frontEnd);
        log(
          `front-end features for the hint recomputed in ${((performance.now() - tf0) / 1000).toFixed(1)} s (not ` +
            `checkpointed)`,
        );
      }
      const hintTargets = features === undefined ? undefined : zscoreFeatures(features, fh * fw * fc, fc, split.train);
      features = undefined;
      const watch = split.heldOut.slice(0, 256);
      const weights = trainingWeights(split.train, score, stream.kinds, settings.naturalWeight);
      const sampler = new BatchSampler(split.train, weights, settings.seed);
      let window = 0;
      let windowLoss = 0;
      const result = await trainPopulation(population, stream, settings, {
        sampler,
        targets: z,
        features: hintTargets,
        startStep: step,
        signal: run.signal,
        checkpointEvery: run.checkpointEvery ?? 50,
        onCheckpoint: (s) => save(s, false),
        onStep: (s, loss) => {
          if (s % (run.reportEvery ?? 200) === 0 && s < settings.steps)
            log(
              `population step ${s}/${settings.steps}: held-out R² with the teacher, median over units ` +
                `${fmt(heldOutMedian(population, stream, watch, targets, nUnits))} (${watch.length} images, moving ` +
                `batchnorm statistics)`,
            );
          window++;
          windowLoss += loss;
          if (s % 10 === 0 || s === settings.steps) {
            emit({ type: "progress", phase: "population", done: s, total: settings.steps, loss: windowLoss / window });
            if (s % 50 === 0 || s === settings.steps)
              log(`population step ${s}/${settings.steps}: loss ${(windowLoss / window).toFixed(4)}`);
            window = 0;
            windowLoss = 0;
          }
        },
      });
      if (result.cancelled) return { cancelled: true, lastCheckpoint };
      recalibratePopulation(
        population,
        stream,
        split.train.slice(0, settings.recalibrateBatches * settings.batchSize),
        settings.batchSize,
      );
      await save(settings.steps, true);
    }
    const populationSeconds = (performance.now() - tp) / 1000;

    // 3. Per unit: prune, retrain its own layers, score, store.
    const tu = performance.now();
    const heldZ = predictPopulation(population, stream, split.heldOut);
    const recorded = recordedResponses(
      store,
      run.readout.sessionIds,
      units.map((u) => u.name),
    );
    const heldKeys = split.heldOut.map((i) => stream.keys[i]!);
    const natural = split.heldOut.flatMap((i, j) => (stream.kinds[i] === "gaudy" ? [] : [j]));
    const done = run.resume?.unitsDone ?? new Map<string, UnitSummary>();
    const results: UnitSummary[] = [];
    for (const [k, unit] of units.entries()) {
      const prior = done.get(unit.name);
      if (prior !== undefined) {
        results.push(prior);
        continue;
      }
      if (run.signal?.aborted) return { cancelled: true, lastCheckpoint };
      let r;
      try {
        r = await distillUnit(population, stream, {
          unit: k,
          targets,
          units: nUnits,
          scaling,
          trainIdx: split.train,
          heldOutIdx: split.heldOut,
          pruneIdx: split.prune,
          validationIdx: split.validation,
          settings,
          populationHeldOut: Float32Array.from(split.heldOut, (_, j) => heldZ[j * nUnits + k]!),
          signal: run.signal,
        });
      } catch (err) {
        if (err instanceof DistillCancelled) return { cancelled: true, lastCheckpoint };
        throw err;
      }
      const responses = recorded.byUnit.get(unit.name);
      const student = scoreRecorded(r.heldOutPredictions, heldKeys, responses);
      const teacherScore = scoreRecorded(
        Float32Array.from(split.heldOut, (i) => targets[i * nUnits + k]!),
        heldKeys,
        responses,
      );
      const summaryWithoutId = {
        unit: unit.name,
        column: unit.column,
        r2Teacher: r.r2Teacher,
        r2TeacherBeforePruning: r.r2TeacherBeforePruning,
        r2TeacherNatural: r2Raw(
          natural.map((j) => r.heldOutPredictions[j]!),
          natural.map((j) => targets[split.heldOut[j]! * nUnits + k]!),
        ),
        filters: r.filters,
        filtersBeforePruning: r.filtersBeforePruning,
        parameters: r.parameters,
        varianceKept: r.pruning.varianceKept,
        pruneAttempts: r.validation.attempts.length,
        recorded: {
          metric: student.metric,
          student: student.value,
          teacher: teacherScore.value,
          images: student.images,
        },
        seconds: r.seconds,
      };
      const modelVersionId = putCompactVersion(store, {
        name: `${run.label}: compact ${unit.sessionName} ${unit.name}`,
        arrays: r.arrays,
        teacherId: teacher.modelVersionId,
        unit,
        sessionIds: run.readout.sessionIds,
        config: {
          ...run.origin,
          readout: run.readout.key,
          settings,
          keptFilters: r.pruning.kept,
          heldOutImages: split.heldOut.length,
          trainImages: split.train.length,
        },
        metrics: {
          r2Teacher: r.r2Teacher,
          r2TeacherBeforePruning: r.r2TeacherBeforePruning,
          filtersBeforePruning: r.filtersBeforePruning,
          varianceKept: r.pruning.varianceKept,
          pruneCheck: r.validation,
          heldOutImages: split.heldOut.length,
          recorded: summaryWithoutId.recorded,
        },
      });
      const summary: UnitSummary = { ...summaryWithoutId, modelVersionId };
      results.push(summary);
      emit({ type: "unit", result: summary });
      emit({ type: "checkpoint", phase: "unit", modelVersionId, unit: summary });
      emit({ type: "progress", phase: "units", done: k + 1, total: nUnits });
      log(
        `unit ${unit.name}: student-teacher R² ${fmt(r.r2TeacherBeforePruning)} → ${fmt(r.r2Teacher)} after ` +
          `pruning [${r.filtersBeforePruning.join(",")}] → [${r.filters.join(",")}] (${r.parameters} parameters` +
          `${r.validation.attempts.length > 1 ? `, pruned ${r.validation.attempts.length} times` : ""}); ` +
          `${student.metric} ${fmt(student.value)} (teacher ${fmt(teacherScore.value)}, ${student.images} images); ` +
          `model version ${modelVersionId}`,
      );
    }
    const unitsSeconds = (performance.now() - tu) / 1000;
    const col = (f: (u: UnitSummary) => number): number => median(results.map(f).filter((v) => Number.isFinite(v)));
    const summary: DistillSummary = {
      teacher: teacher.modelVersionId,
      readout: run.readout.key,
      units: results,
      images: {
        stream: stream.count,
        train: split.train.length,
        heldOut: split.heldOut.length,
        prune: split.prune.length,
        validation: split.validation.length,
      },
      medians: {
        r2Teacher: col((u) => u.r2Teacher),
        r2TeacherBeforePruning: col((u) => u.r2TeacherBeforePruning),
        r2TeacherNatural: col((u) => u.r2TeacherNatural ?? Number.NaN),
        recordedStudent: col((u) => u.recorded.student),
        recordedTeacher: col((u) => u.recorded.teacher),
        filters: [0, 1, 2, 3, 4].map((l) => col((u) => u.filters[l]!)),
        filtersBeforePruning: [0, 1, 2, 3, 4].map((l) => col((u) => u.filtersBeforePruning[l]!)),
      },
      metric: results.some((u) => u.recorded.metric === "r2er") ? "r2er" : "r2raw",
      seconds: {
        teacher: teacherSeconds,
        population: populationSeconds,
        units: unitsSeconds,
        total: (performance.now() - t0) / 1000,
      },
      settings,
    };
    return { summary, cancelled: false, lastCheckpoint, population: population.allArrays() };
  } catch (err) {
    if (err instanceof TeacherCancelled) return { cancelled: true, lastCheckpoint };
    throw err;
  } finally {
    population.dispose();
  }
}

/** Median over units of the population model's squared correlation with the teacher on images `idx`. */
function heldOutMedian(
  population: PopulationCompactModel,
  stream: MemoryStream,
  idx: readonly number[],
  targets: Float32Array,
  units: number,
): number {
  const p = predictPopulation(population, stream, idx);
  return median(
    Array.from({ length: units }, (_, u) =>
      r2Raw(
        Float64Array.from(idx, (_, k) => p[k * units + u]!),
        Float64Array.from(idx, (i) => targets[i * units + u]!),
      ),
    ),
  );
}

/**
 * How often the shared model draws each training image in an epoch: the most informative tenth (the
 * ensemble's members disagree most) twice, and natural images (not "gaudy") `naturalWeight` times as
 * often again.
 */
export function trainingWeights(
  train: readonly number[],
  disagreement: Float64Array,
  kinds: readonly string[],
  naturalWeight: number,
): number[] {
  const scores = train.map((i) => disagreement[i] ?? 0);
  const sorted = [...scores].sort((a, b) => b - a);
  const cut = sorted[Math.max(0, Math.floor(sorted.length / 10) - 1)] ?? Number.POSITIVE_INFINITY;
  return scores.map((s, k) => (s >= cut && s > 0 ? 2 : 1) * (kinds[train[k]!] === "gaudy" ? 1 : naturalWeight));
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(3) : "NaN";
}
