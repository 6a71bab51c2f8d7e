// Distillation job: compact models of a session's units from a stored deep ensemble, in a worker
// thread like `train`. Checkpoints (the teacher's targets with the shared model's weights, then each
// unit's stored model) are job events, so a cancelled or crashed job resumes where it stopped.
import { selectBackend, isBackendName } from "../../models/backend.js";
import type { DistillSettingsInput } from "../../models/compact/index.js";
import { loadFrontEnd } from "../../models/frontend/index.js";
import type { SessionStore } from "../store/index.js";
import { distillSettings, runDistillation, type DistillMessage, type UnitSummary } from "../compact/distill-run.js";
import { buildStream, chooseReadout, chooseUnits, loadTeacher, splitStream } from "../compact/sources.js";

/** Everything a distillation job needs; JSON, stored as the job's params. */
export interface DistillParams {
  /** The teacher: a deep-ensemble model version. */
  teacher: number;
  /** Whose readout (session name or id); default the teacher's newest session. */
  session?: string;
  /** Units (`electrode#sortedId` or electrode); default every unit not flagged at import. */
  units?: string[];
  maxUnits?: number;
  /** More natural images for the stream (zips or folders). */
  bank?: string | string[];
  bankMax?: number;
  /** Gaudy versions of the natural images (default true). */
  gaudy?: boolean;
  /** Share of the stream's natural images held out (default 0.1, at most maxHeldOut images). */
  heldOutFraction?: number;
  maxHeldOut?: number;
  /** Stimulus hashes held out as well (e.g. an evaluation's test images). */
  heldOutHashes?: string[];
  settings?: DistillSettingsInput;
  checkpointEvery?: number;
  backend?: string;
}

interface CheckpointDetail {
  phase: "population" | "unit";
  modelVersionId: number;
  step?: number;
  unit?: UnitSummary;
}

/** The job's last population checkpoint and the units it already stored. */
export function distillProgress(
  store: SessionStore,
  jobId: number,
): { checkpointId?: number; unitsDone: Map<string, UnitSummary> } {
  let checkpointId: number | undefined;
  const unitsDone = new Map<string, UnitSummary>();
  for (const e of store.jobEvents(jobId)) {
    if (e.state !== "checkpoint" || e.detail === null) continue;
    const d = JSON.parse(e.detail) as CheckpointDetail;
    if (d.phase === "population") checkpointId = d.modelVersionId;
    else if (d.unit !== undefined) unitsDone.set(d.unit.unit, d.unit);
  }
  return { checkpointId, unitsDone };
}

/**
 * Runs (or resumes) job `jobId` in this thread. Bad input (no such version, not an ensemble, a unit
 * that is not recorded) fails before anything is stored.
 */
export async function runDistillJob(
  store: SessionStore,
  jobId: number,
  io: { signal?: AbortSignal; emit: (m: DistillMessage) => void },
): Promise<DistillMessage> {
  const job = store.getJob(jobId);
  if (job === undefined) throw new Error(`runDistillJob: no job ${jobId} in ${store.file}`);
  const params = job.params as unknown as DistillParams;
  const log = (line: string): void => io.emit({ type: "log", line });
  let teacher: ReturnType<typeof loadTeacher> | undefined;
  let frontEnd: Awaited<ReturnType<typeof loadFrontEnd>> | undefined;
  try {
    store.appendJobEvent(jobId, "running", 0);
    const settings = distillSettings(params.settings);
    await selectBackend({
      prefer: params.backend !== undefined && isBackendName(params.backend) ? params.backend : undefined,
      log,
    });
    teacher = loadTeacher(store, params.teacher);
    const readout = chooseReadout(store, teacher, params.session);
    const units = chooseUnits(store, readout, params.units, params.maxUnits);
    frontEnd = await loadFrontEnd({
      ...(teacher.frontEndSpec ?? { kind: "default", inputSize: teacher.imageSize }),
      log,
    });
    if (frontEnd.name !== teacher.frontEndName)
      throw new Error(
        `Model version ${params.teacher} was trained on front end ${teacher.frontEndName} but ${frontEnd.name} ` +
          `loaded here; nothing was distilled. Install what it used (see src/models/frontend/README.md).`,
      );
    log(
      `distilling ${units.length} unit(s) of session ${units[0]!.sessionName} from model version ${params.teacher} ` +
        `(readout ${readout.key}; front end ${frontEnd.name})`,
    );
    const stream = await buildStream(store, {
      sessionIds: teacher.sessionIds,
      bank: params.bank === undefined ? undefined : [params.bank].flat(),
      bankMax: params.bankMax,
      gaudy: params.gaudy,
      size: 112,
      log,
    });
    const split = splitStream(stream, {
      heldOutHashes: new Set([...teacher.testHashes, ...(params.heldOutHashes ?? [])]),
      fraction: params.heldOutFraction ?? 0.1,
      maxHeldOut: params.maxHeldOut ?? 600,
      pruneImages: settings.prune.images,
      validationImages: settings.prune.validation,
      seed: settings.seed,
    });
    log(
      `images: ${split.train.length} to train on, ${split.heldOut.length} held out, ` +
        `${split.prune.length} for pruning, ${split.validation.length} to check the pruning`,
    );
    const resume = distillProgress(store, jobId);
    let progressAt = 0;
    const result = await runDistillation({
      store,
      teacher,
      frontEnd,
      readout,
      units,
      stream,
      split,
      settings,
      label: `distill job ${jobId}`,
      origin: { jobId },
      checkpointEvery: params.checkpointEvery,
      resume: { checkpointId: resume.checkpointId, unitsDone: resume.unitsDone },
      signal: io.signal,
      emit: (m) => {
        if (m.type === "checkpoint") {
          store.appendJobEvent(
            jobId,
            "checkpoint",
            undefined,
            JSON.stringify({
              phase: m.phase,
              modelVersionId: m.modelVersionId,
              step: m.step,
              unit: m.unit,
            } satisfies CheckpointDetail),
          );
        } else if (m.type === "progress") {
          // Teacher 10%, population 70%, units 20% of the job.
          const base = m.phase === "teacher" ? 0 : m.phase === "population" ? 0.1 : 0.8;
          const span = m.phase === "teacher" ? 0.1 : m.phase === "population" ? 0.7 : 0.2;
          const at = base + (span * m.done) / Math.max(1, m.total);
          if (at - progressAt >= 0.01 || m.done === m.total) {
            progressAt = at;
            store.appendJobEvent(jobId, "progress", at, JSON.stringify(m));
          }
        }
        io.emit(m);
      },
    });
    if (result.cancelled) {
      const message =
        `cancelled; resume with \`cortexloop distill --resume ${jobId}\` (` +
        `${
          result.lastCheckpoint === undefined
            ? "no checkpoint yet: it starts over"
            : `from checkpoint model ` + `version ${result.lastCheckpoint}`
        }; units already stored are kept)`;
      store.appendJobEvent(jobId, "cancelled", undefined, message);
      const m: DistillMessage = { type: "cancelled", lastCheckpoint: result.lastCheckpoint, message };
      io.emit(m);
      return m;
    }
    const summary = result.summary!;
    store.appendJobEvent(
      jobId,
      "done",
      1,
      JSON.stringify({ modelVersionIds: summary.units.map((u) => u.modelVersionId), medians: summary.medians }),
    );
    const m: DistillMessage = { type: "done", summary };
    io.emit(m);
    return m;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    store.appendJobEvent(jobId, "failed", undefined, message);
    const m: DistillMessage = { type: "failed", message };
    io.emit(m);
    return m;
  } finally {
    teacher?.ensemble.dispose();
    frontEnd?.dispose();
  }
}
