// Commands for compact models: distill them from an ensemble (a worker-thread job), import and export
// the published .npy layout, list them.
import { readFileSync, writeFileSync } from "node:fs";
import type { Command } from "commander";
import { SessionStore } from "./store/index.js";
import { startDistillJob } from "./jobs/start-distill.js";
import type { DistillParams } from "./jobs/distill.js";
import type { DistillMessage, DistillSummary } from "./compact/distill-run.js";
import { exportCompactModels, importCompactModels } from "./compact/interchange.js";
import { listCompactVersions, unitOf } from "./compact/versions.js";
import { resolveSession } from "./import/dataset.js";
import { defaultDistillSettings } from "../models/compact/index.js";
import { defaultDb } from "./paths.js";
import { collect } from "./cli-options.js";

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toFixed(3) : "NaN";
}

function numberList(value: string): number[] {
  const out = value.split(",").map((s) => Number(s.trim()));
  if (out.some((v) => !Number.isInteger(v) || v < 1))
    throw new Error(`expected positive whole numbers separated by commas, got "${value}"`);
  return out;
}

/** The summary a distillation prints: per unit, then the medians. */
export function formatDistillSummary(s: DistillSummary): string {
  const metric = s.metric === "r2er" ? "r²_ER" : "raw R²";
  const lines = [
    `unit           R² (student vs teacher)  before pruning  filters             ${metric} student  ${metric} ` +
      `ensemble  model version`,
    ...s.units.map(
      (u) =>
        `${u.unit.padEnd(14)} ${fmt(u.r2Teacher).padStart(23)}  ${fmt(u.r2TeacherBeforePruning).padStart(14)}  ` +
        `${`[${u.filters.join(",")}]`.padEnd(18)}  ${fmt(u.recorded.student).padStart(14)}  ` +
        `${fmt(u.recorded.teacher).padStart(15)}  ${u.modelVersionId}`,
    ),
    `median         ${fmt(s.medians.r2Teacher).padStart(23)}  ` +
      `${fmt(s.medians.r2TeacherBeforePruning).padStart(14)}  ${`[${s.medians.filters.join(",")}]`.padEnd(18)}  ` +
      `${fmt(s.medians.recordedStudent).padStart(14)}  ${fmt(s.medians.recordedTeacher).padStart(15)}`,
    `R² with the ensemble on the held-out natural images alone (no gaudy versions), median: ` +
      `${fmt(s.medians.r2TeacherNatural)}`,
    `images: ${s.images.train} trained on, ${s.images.heldOut} held out (R²), ${s.images.prune} for pruning; ` +
      `filters before pruning [${s.medians.filtersBeforePruning.join(",")}] (median); ${s.settings.sharedLayers} ` +
      `layers shared while training`,
    `time: teacher ${s.seconds.teacher.toFixed(1)} s, shared model ${s.seconds.population.toFixed(1)} s, units ` +
      `${s.seconds.units.toFixed(1)} s, total ${s.seconds.total.toFixed(1)} s`,
  ];
  return lines.join("\n");
}

export function distillProgressLine(m: DistillMessage): string | undefined {
  if (m.type === "log") return m.line;
  if (m.type === "checkpoint" && m.phase === "population")
    return `checkpoint: model version ${m.modelVersionId} (step ${m.step})`;
  return undefined;
}

export function registerCompactCommands(program: Command): void {
  program
    .command("distill")
    .description(
      "distill compact models of a session's units from a deep ensemble (worker-thread job; Ctrl-C cancels, " +
        "--resume continues), prune them, store them as model versions",
    )
    .option("--model <id>", "teacher: a deep-ensemble model version", (v) => Number(v))
    .option("--resume <jobId>", "continue a cancelled or crashed distill job", (v) => Number(v))
    .option("--session <name|id>", "whose readout's units (default: the teacher's newest session)")
    .option(
      "--units <names>",
      "units, electrode#sortedId or electrode (repeat or comma-separate; default: every unit not flagged)",
      collect,
      [],
    )
    .option("--max-units <n>", "at most this many units (the first ones)", (v) => Number(v))
    .option(
      "--bank <zip|dir>",
      "more natural images for the stream, with their gaudy versions (repeat or comma-separate)",
      collect,
      [],
    )
    .option("--bank-max <n>", "at most this many bank images", (v) => Number(v))
    .option("--no-gaudy", "no gaudy versions of the natural images")
    .option(
      "--held-out-fraction <f>",
      "share of the natural images held out for student-teacher R²",
      (v) => Number(v),
      0.1,
    )
    .option(
      "--hold-out <file>",
      "a text or JSON file of stimulus hashes to hold out too (e.g. an evaluation's test images)",
    )
    .option("--steps <n>", "optimizer steps of the shared model", (v) => Number(v), defaultDistillSettings.steps)
    .option("--batch <n>", "images per step", (v) => Number(v), defaultDistillSettings.batchSize)
    .option("--lr <rate>", "Adam learning rate", (v) => Number(v), defaultDistillSettings.learningRate)
    .option(
      "--filters <k0,k1,k2,k3,k4>",
      "filters per layer before pruning",
      numberList,
      defaultDistillSettings.filters,
    )
    .option(
      "--shared-layers <n>",
      "layers shared by all units while training (Extended Data Fig. 3d)",
      (v) => Number(v),
      defaultDistillSettings.sharedLayers,
    )
    .option(
      "--hint <weight>",
      "weight of the feature hint (the shared layers also learn the teacher front end's features); 0 turns it off",
      (v) => Number(v),
      defaultDistillSettings.hint,
    )
    .option(
      "--natural-weight <k>",
      "natural images are drawn k times as often as gaudy ones while the shared model trains",
      (v) => Number(v),
      defaultDistillSettings.naturalWeight,
    )
    .option(
      "--keep-variance <f>",
      "pruning keeps this fraction of the output variance on held-out images",
      (v) => Number(v),
      defaultDistillSettings.prune.keepVariance,
    )
    .option(
      "--prune-tolerance <r2>",
      "prune again, less hard, where pruning costs more than this R² with the ensemble on validation images",
      (v) => Number(v),
      defaultDistillSettings.prune.tolerance,
    )
    .option(
      "--min-filters <n>",
      "pruning keeps at least this many filters per layer",
      (v) => Number(v),
      defaultDistillSettings.prune.minFilters,
    )
    .option(
      "--retrain-steps <n>",
      "steps retraining each unit's own layers after pruning",
      (v) => Number(v),
      defaultDistillSettings.retrain.steps,
    )
    .option("--seed <n>", "seed", (v) => Number(v), 1)
    .option("--backend <name>", "tfjs-node-gpu | tfjs-node | wasm | cpu")
    .option("--json <file>", "also write the summary as JSON")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action(
      async (flags: {
        model?: number;
        resume?: number;
        session?: string;
        units: string[];
        maxUnits?: number;
        bank: string[];
        bankMax?: number;
        gaudy: boolean;
        heldOutFraction: number;
        holdOut?: string;
        steps: number;
        batch: number;
        lr: number;
        filters: number[];
        sharedLayers: number;
        hint: number;
        keepVariance: number;
        pruneTolerance: number;
        naturalWeight: number;
        minFilters: number;
        retrainSteps: number;
        seed: number;
        backend?: string;
        json?: string;
        db: string;
      }) => {
        const store = SessionStore.open(flags.db);
        try {
          if (flags.resume === undefined && flags.model === undefined)
            throw new Error(
              "Name the teacher (--model <ensemble version>) or a job to resume (--resume <jobId>); nothing was " +
                "started.",
            );
          const heldOutHashes = flags.holdOut === undefined ? undefined : readHashes(flags.holdOut);
          const params: DistillParams | { resumeJobId: number } =
            flags.resume !== undefined
              ? { resumeJobId: flags.resume }
              : {
                  teacher: flags.model!,
                  session: flags.session,
                  units: flags.units.length > 0 ? flags.units : undefined,
                  maxUnits: flags.maxUnits,
                  bank: flags.bank.length > 0 ? flags.bank : undefined,
                  bankMax: flags.bankMax,
                  gaudy: flags.gaudy,
                  heldOutFraction: flags.heldOutFraction,
                  heldOutHashes,
                  backend: flags.backend,
                  settings: {
                    steps: flags.steps,
                    batchSize: flags.batch,
                    learningRate: flags.lr,
                    filters: flags.filters,
                    sharedLayers: flags.sharedLayers,
                    hint: flags.hint,
                    naturalWeight: flags.naturalWeight,
                    prune: {
                      keepVariance: flags.keepVariance,
                      tolerance: flags.pruneTolerance,
                      minFilters: flags.minFilters,
                    },
                    retrain: { steps: flags.retrainSteps },
                    seed: flags.seed,
                  },
                };
          const handle = startDistillJob(store, params, (m) => {
            const line = distillProgressLine(m);
            if (line !== undefined) say(line);
          });
          say(`job ${handle.jobId} started`);
          const onSignal = (): void => {
            say(
              `\ncancelling job ${handle.jobId}; it keeps its last checkpoint and the units it stored (resume with ` +
                `--resume ${handle.jobId}).`,
            );
            handle.cancel();
          };
          process.on("SIGINT", onSignal);
          const final = await handle.done;
          process.off("SIGINT", onSignal);
          if (final.type === "done") {
            console.log(formatDistillSummary(final.summary));
            if (flags.json !== undefined) {
              writeFileSync(flags.json, `${JSON.stringify(final.summary, null, 2)}\n`);
              say(`wrote ${flags.json}`);
            }
          } else if (final.type === "cancelled") say(`job ${handle.jobId} ${final.message}`);
          else {
            say(`job ${handle.jobId} failed: ${final.type === "failed" ? final.message : final.type}`);
            process.exitCode = 1;
          }
        } finally {
          store.close();
        }
      },
    );

  const compact = program
    .command("compact")
    .description("compact models: import and export the published .npy layout, list them");

  compact
    .command("import")
    .description(
      "store published compact models (a folder of .npy files, or one) as model versions (teacherless); one bad " +
        "file stores none",
    )
    .argument("<dir|file>", "e.g. ../shared/data/v4/compact_models")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action((source: string, flags: { db: string }) => {
      const store = SessionStore.open(flags.db);
      try {
        const imported = importCompactModels(store, source, say);
        const ids = imported.map((m) => m.modelVersionId);
        say(
          `stored as model versions ${ids.length > 4 ? `${ids[0]}–${ids[ids.length - 1]}` : ids.join(", ")} in ` +
            `${flags.db}`,
        );
      } finally {
        store.close();
      }
    });

  compact
    .command("export")
    .description("write compact models in exactly the published 36-array .npy layout")
    .argument("[version|unit]", "a compact model version id, or a unit (electrode#sortedId): its newest compact model")
    .requiredOption("-o, --out <dir>", "folder for compact_model_<session>_neuron<i>.npy files")
    .option("--teacher <id>", "every compact model distilled from this ensemble version", (v) => Number(v))
    .option("--session <name|id>", "with a unit: only that session's models")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action((ref: string | undefined, flags: { out: string; teacher?: number; session?: string; db: string }) => {
      const store = SessionStore.open(flags.db);
      try {
        const sel =
          flags.teacher !== undefined
            ? { teacherId: flags.teacher }
            : ref !== undefined && /^\d+$/.test(ref)
              ? { modelVersionId: Number(ref) }
              : {
                  unit: ref,
                  sessionId: flags.session === undefined ? undefined : resolveSession(store, flags.session),
                };
        if (sel.teacherId === undefined && ref === undefined)
          throw new Error("Name a compact model version, a unit, or --teacher <id>; nothing was exported.");
        const written = exportCompactModels(store, sel, flags.out, say);
        for (const w of written) console.log(`${w.file}\tmodel version ${w.modelVersionId}`);
      } finally {
        store.close();
      }
    });

  compact
    .command("list")
    .description("list stored compact models: unit, teacher, filters, student-teacher R²")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action((flags: { db: string }) => {
      const store = SessionStore.open(flags.db);
      try {
        const rows = listCompactVersions(store);
        if (rows.length === 0) console.log(`no compact models in ${flags.db}`);
        else
          console.table(
            rows.map((r) => {
              const u = unitOf(r);
              return {
                id: r.id,
                unit: u === undefined ? String(r.config.file ?? "") : `${u.sessionName} ${u.name}`,
                teacher: r.parentId ?? "-",
                filters: `[${(r.metrics.filters as number[] | undefined)?.join(",") ?? ""}]`,
                parameters: r.metrics.parameters,
                "R² vs teacher": typeof r.metrics.r2Teacher === "number" ? fmt(r.metrics.r2Teacher) : "-",
              };
            }),
          );
      } finally {
        store.close();
      }
    });
}

/** Stimulus hashes from a JSON list or a text file (one per line). */
function readHashes(file: string): string[] {
  const text = readFileSync(file, "utf8");
  try {
    const value = JSON.parse(text) as unknown;
    if (Array.isArray(value) && value.every((h) => typeof h === "string")) return value;
  } catch {
    // not JSON: one hash a line
  }
  return text.split(/\s+/).filter((h) => /^[0-9a-f]{64}$/.test(h));
}
