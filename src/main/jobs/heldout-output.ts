// What a held-out evaluation leaves behind for an analyst: per-unit scores, the folds, every
// prediction, and a summary, as plain CSV and JSON that any tool reads.
import { mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { CrossValidatedModel } from "../../models/ensemble/index.js";
import type { HeldOutReport } from "./heldout.js";

function num(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? "" : String(v);
}

function csvText(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Writes units.csv, folds.csv, predictions.csv and report.json into `dir` (each to a temporary name, then renamed). */
export function writeHeldOutOutput(report: HeldOutReport, dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const models = Object.keys(report.predictions) as CrossValidatedModel[];
  const repeats = report.units.some((u) => u.r2er !== undefined);
  const files: [string, string][] = [];
  const unitHeader = [
    "unit",
    "usable",
    ...models.map((m) => `r2raw_${m}`),
    ...(repeats ? [...models.map((m) => `r2er_${m}`), "split_half_reliability"] : []),
  ];
  const unitRows = report.units.map((u) =>
    [
      csvText(u.unit),
      u.usable ? "1" : "0",
      ...models.map((m) => num(u.r2raw[m])),
      ...(repeats ? [...models.map((m) => num(u.r2er?.[m])), num(u.reliability)] : []),
    ].join(","),
  );
  files.push(["units.csv", [unitHeader.join(","), ...unitRows].join("\n") + "\n"]);
  const foldOf = new Array<number>(report.imageKeys.length).fill(-1);
  report.folds.forEach((f, k) => f.forEach((i) => (foldOf[i] = k)));
  files.push([
    "folds.csv",
    ["image_index,stimulus_sha256,fold", ...report.imageKeys.map((key, i) => `${i},${key},${foldOf[i]}`)].join("\n") +
      "\n",
  ]);
  const n = report.imageKeys.length;
  const units = report.unitNames.length;
  const lines = [["image_index", "stimulus_sha256", "unit", "response", ...models].join(",")];
  for (let i = 0; i < n; i++) {
    for (let u = 0; u < units; u++) {
      lines.push(
        [
          i,
          report.imageKeys[i],
          csvText(report.unitNames[u]!),
          num(report.responses[u * n + i]),
          ...models.map((m) => num(report.predictions[m]![i * units + u])),
        ].join(","),
      );
    }
  }
  files.push(["predictions.csv", lines.join("\n") + "\n"]);
  const summary = {
    heldout: report.heldout,
    pretrain: report.pretrain,
    frontEnd: report.frontEnd,
    taskDriven: report.taskDriven,
    backend: report.backend,
    trainingBackend: report.trainingBackend,
    folds: report.folds.length,
    medians: report.medians,
    tests: report.tests,
    training: report.training,
    seconds: report.seconds,
    files: { units: "units.csv", folds: "folds.csv", predictions: "predictions.csv" },
  };
  files.push([
    "report.json",
    `${JSON.stringify(summary, (_, v: unknown) => (typeof v === "number" && !Number.isFinite(v) ? null : v), 2)}\n`,
  ]);
  const written: string[] = [];
  for (const [name, text] of files) {
    const file = path.join(dir, name);
    const tmp = `${file}.tmp`;
    try {
      writeFileSync(tmp, text);
      renameSync(tmp, file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw new Error(
        `Could not write ${file} (${err instanceof Error ? err.message : String(err)}); ` +
          `${written.length ? `${written.join(", ")} were written` : "nothing was written"}.`,
      );
    }
    written.push(file);
  }
  return written;
}

function f3(v: number | undefined): string {
  return v === undefined || Number.isNaN(v) ? "-" : v.toFixed(3);
}

function p3(p: number): string {
  return p < 0.001 ? p.toExponential(1) : p.toFixed(3);
}

/** The lines a person reads: medians per model and the paired tests. */
export function heldOutSummaryLines(report: HeldOutReport): string[] {
  const models = Object.keys(report.predictions) as CrossValidatedModel[];
  const usable = report.units.filter((u) => u.usable).length;
  const out = [
    `held-out session ${report.heldout.name}: ${report.heldout.images} images, ${usable}/${report.units.length} ` +
      `usable units, ${report.folds.length}-fold cross-validation`,
    `pretrained on ${report.pretrain.length} session(s): ${report.pretrain.map((s) => s.name).join(", ")}; front ` +
      `end ${report.frontEnd}`,
    `median raw R²: ${models.map((m) => `${m} ${f3(report.medians.r2raw[m])}`).join(", ")}`,
  ];
  if (report.medians.r2er !== undefined) {
    out.push(
      `median r²_ER: ${models.map((m) => `${m} ${f3(report.medians.r2er![m])}`).join(", ")}; median split-half ` +
        `reliability ${f3(report.medians.reliability)}`,
    );
  }
  for (const t of report.tests) {
    const p = t.paired;
    out.push(
      `${t.model} − ${t.versus} (${t.metric === "r2raw" ? "raw R²" : "r²_ER"}), unit by unit: ` +
        `${p.mean >= 0 ? "+" : ""}${f3(p.mean)} ± ${f3(p.se)}, ${t.model} ahead on ${p.above} of ${p.n}, ` +
        `signed-rank p ${p3(p.signedRankP)}`,
    );
  }
  return out;
}
