// What `analyze causal` prints and writes: the per-kind table for a terminal (with the scale the predicted %Δr is
// on, and why a unit has none) and the CSV of every unit and kind.
import { renameSync, rmSync, writeFileSync } from "node:fs";
import type { CausalAnalysis } from "./analyze.js";
import { CausalInputError } from "./errors.js";
import { PREDICTED_SCALE, SPIKE_SCALES } from "./predicted-scale.js";

const f1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : "-");
const fp = (v: number): string => (Number.isFinite(v) ? (v < 0.001 ? "<0.001" : v.toFixed(3)) : "-");

/** Whether the raw predictions' %Δr is shown too: only where the design model's output is already spikes. */
export function showsModelChange(a: CausalAnalysis): boolean {
  return a.modelScale !== null && SPIKE_SCALES.includes(a.modelScale);
}

/**
 * A kind's predicted cell: mean ± s.e. over the units with a predicted %Δr, and how many those are where they are not
 * the units of the measured mean (a degenerate fit; a measured base ≤ 0).
 */
export function predictedCell(mean: number, se: number, units: number, measuredUnits: number): string {
  return `${f1(mean)} ± ${f1(se)}${units === measuredUnits ? "" : ` (${units} unit${units === 1 ? "" : "s"})`}`;
}

/** The per-kind table for a terminal, then what scale the predicted column is on and why a unit has none. */
export function causalTable(a: CausalAnalysis): string[] {
  const raw = showsModelChange(a);
  const header = [
    "kind",
    "against",
    "units",
    "measured %Δr (mean ± s.e.)",
    "p",
    "predicted %Δr (fit to measured)",
    ...(raw ? ["predicted %Δr (model's spikes)"] : []),
  ];
  const body = a.summary.map((s) => [
    s.kind,
    s.against,
    String(s.units),
    `${f1(s.mean)} ± ${f1(s.se)}`,
    fp(s.p),
    predictedCell(s.predictedMean, s.predictedSe, s.predictedUnits, s.units),
    ...(raw ? [`${f1(s.modelMean)} ± ${f1(s.modelSe)}`] : []),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join("  ")
      .trimEnd();
  const notes = [
    `predicted %Δr (fit to measured): each unit's predictions mapped onto its measured responses by least squares ` +
      `over its normal images (random normal, maximizing normal, bases); the model's own output scale: ` +
      `${a.modelScale ?? "unknown"}${raw ? "" : " (no %Δr of raw outputs: its offset is not spikes)"}`,
  ];
  const seen = new Set<string>();
  for (const r of a.rows) {
    if (r.note === null) continue;
    // A degenerate fit is the unit's; a base mapped to ≤ 0 is the row's.
    const key = r.note.startsWith("no fit") ? r.unit : `${r.unit} ${r.kind}`;
    const text = `${key}: ${r.note}`;
    if (!seen.has(text)) notes.push(text);
    seen.add(text);
  }
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line), ...notes];
}

/** A CSV cell: numbers as they are (empty where undefined), text quoted where it must be. */
function cell(v: string | number | null): string {
  if (v === null) return "";
  if (typeof v === "number") return Number.isFinite(v) ? String(v) : "";
  return /[",\n\r]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** The CSV's columns; `predicted_scale` names what `predicted_change_pct` is taken of. */
export const CAUSAL_CSV_HEADER =
  "unit,model,kind,images,measured,measured_base,measured_change_pct,predicted_change_pct,p,predicted_scale," +
  "fit_images,fit_slope,fit_intercept,model_scale,model_change_pct,note";

/**
 * One row per unit and kind, then one per kind (unit "mean"). `model_change_pct` (%Δr of the raw predictions) is
 * filled only where the model's output is spikes. Written whole or not at all.
 */
export function writeCausalCsv(a: CausalAnalysis, file: string): void {
  const lines = [CAUSAL_CSV_HEADER];
  const scale = a.modelScale ?? "";
  for (const r of a.rows)
    lines.push(
      [
        r.unit,
        r.source,
        r.kind,
        r.images,
        r.measured,
        r.measuredBase,
        r.measuredChange,
        r.predictedChange,
        r.p,
        PREDICTED_SCALE,
        r.fitImages,
        r.fitSlope,
        r.fitIntercept,
        scale,
        r.predictedModelChange,
        r.note,
      ]
        .map(cell)
        .join(","),
    );
  for (const s of a.summary)
    lines.push(
      [
        "mean",
        "",
        s.kind,
        s.units,
        null,
        null,
        s.mean,
        s.predictedMean,
        s.p,
        PREDICTED_SCALE,
        null,
        null,
        null,
        scale,
        s.modelMean,
        s.predictedUnits === s.units ? null : `predicted %Δr over ${s.predictedUnits} units, measured over ${s.units}`,
      ]
        .map(cell)
        .join(","),
    );
  const tmp = `${file}.tmp`;
  try {
    writeFileSync(tmp, `${lines.join("\n")}\n`);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw new CausalInputError(
      "output",
      `Could not write ${file} (${err instanceof Error ? err.message : String(err)}).`,
    );
  }
}
