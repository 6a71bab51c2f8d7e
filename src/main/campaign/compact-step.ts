// The campaign's compact-model step: after each ensemble retrain, the compact models of the recorded
// units are distilled from the new ensemble (continuing from the previous distillation's shared
// model), pruned and stored; their median student-teacher R² and filters go beside the curve.
import type { DistillSettingsInput, NdArray } from "../../models/compact/index.js";
import type { FrontEnd } from "../../models/frontend/index.js";
import type { SessionStore } from "../store/index.js";
import { distillSettings, runDistillation, type DistillSummary } from "../compact/distill-run.js";
import { buildStream, chooseReadout, chooseUnits, loadTeacher, splitStream } from "../compact/sources.js";

/** What the campaign records of a compact-model step (campaign.json, the curve's lines). */
export interface CompactPoint {
  /** Median over units of the squared correlation with the ensemble on held-out images. */
  r2Teacher: number;
  r2TeacherBeforePruning: number;
  /** Filters per layer, median over units. */
  filters: number[];
  /** Students' and ensemble's median r²_ER (or raw R²) on the held-out test images. */
  metric: "r2er" | "r2raw";
  recordedStudent: number;
  recordedTeacher: number;
  modelVersionIds: number[];
  seconds: number;
}

/** What the campaign tells the step after each retrain. */
export interface RetrainedEnsemble {
  label: string;
  afterSession: number;
  modelVersionId: number;
  /** The held-out test images (stimulus hashes): never trained on by the students either. */
  testHashes: readonly string[];
  signal?: AbortSignal;
}

export interface CompactStepOptions {
  store: SessionStore;
  frontEnd: FrontEnd;
  /** Natural images beyond what was shown (e.g. the campaign's bank), 112×112×3. */
  bank: readonly { key: string; pixels: Uint8Array }[];
  /** Settings of the first distillation; later ones continue from it with `laterSteps` steps. */
  settings?: DistillSettingsInput;
  laterSteps?: number;
  log: (line: string) => void;
}

function summaryPoint(s: DistillSummary): CompactPoint {
  return {
    r2Teacher: s.medians.r2Teacher,
    r2TeacherBeforePruning: s.medians.r2TeacherBeforePruning,
    filters: s.medians.filters,
    metric: s.metric,
    recordedStudent: s.medians.recordedStudent,
    recordedTeacher: s.medians.recordedTeacher,
    modelVersionIds: s.units.map((u) => u.modelVersionId),
    seconds: s.seconds.total,
  };
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : "NaN";
}

/** `step` only after the retrains that follow session `first` or later (`--compact-after last`: the last). */
export function compactAfterSessions(
  first: number,
  step: (e: RetrainedEnsemble) => Promise<CompactPoint | undefined>,
): (e: RetrainedEnsemble) => Promise<CompactPoint | undefined> {
  return async (e) => (e.afterSession >= first ? step(e) : undefined);
}

/** The step as the campaign calls it: one distillation per retrain, warm-started per arm. */
export function compactStep(o: CompactStepOptions): (e: RetrainedEnsemble) => Promise<CompactPoint | undefined> {
  const first = distillSettings(o.settings);
  const previous = new Map<string, NdArray[]>();
  return async (e) => {
    const teacher = loadTeacher(o.store, e.modelVersionId);
    try {
      const readout = chooseReadout(o.store, teacher);
      const units = chooseUnits(o.store, readout);
      const stream = await buildStream(o.store, { sessionIds: teacher.sessionIds, extra: o.bank, size: 112 });
      const settings = previous.has(e.label) ? { ...first, steps: o.laterSteps ?? Math.ceil(first.steps / 3) } : first;
      const split = splitStream(stream, {
        heldOutHashes: new Set(e.testHashes),
        fraction: 0.1,
        maxHeldOut: 600,
        pruneImages: settings.prune.images,
        validationImages: settings.prune.validation,
        seed: settings.seed,
      });
      o.log(
        `${e.label}: compact models of ${units.length} units from model version ${e.modelVersionId}: ` +
          `${split.train.length} training images, ${split.heldOut.length} held out, ${settings.steps} steps` +
          `${previous.has(e.label) ? " from the previous shared model" : ""}`,
      );
      const result = await runDistillation({
        store: o.store,
        teacher,
        frontEnd: o.frontEnd,
        readout,
        units,
        stream,
        split,
        settings,
        label: `${e.label} after session ${e.afterSession}`,
        origin: { campaign: e.label, afterSession: e.afterSession },
        warmStart: previous.get(e.label),
        signal: e.signal,
        emit: (m) => {
          if (m.type === "log" && /^(population step \d+0{2}\/|teacher predictions for|shared model:)/.test(m.line))
            o.log(`${e.label}: ${m.line}`);
        },
      });
      if (result.summary === undefined) return undefined;
      if (result.population !== undefined) previous.set(e.label, result.population);
      const p = summaryPoint(result.summary);
      o.log(
        `${e.label}: after session ${e.afterSession}: compact models: median R² with the ensemble ` +
          `${fmt(p.r2Teacher)} on ${result.summary.images.heldOut} held-out images (` +
          `${fmt(p.r2TeacherBeforePruning)} before pruning), filters [${p.filters.join(",")}] (median), ` +
          `${p.metric === "r2er" ? "r²_ER" : "raw R²"} ${fmt(p.recordedStudent)} against the ensemble's ` +
          `${fmt(p.recordedTeacher)}; ${p.seconds.toFixed(0)} s`,
      );
      return p;
    } finally {
      teacher.ensemble.dispose();
    }
  };
}
