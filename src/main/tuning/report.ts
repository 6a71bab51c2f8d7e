// The predicted tuning curves as a person reads them (terminal) and as a program does (CSV).
import type { DesignUnit } from "../causal/model-units.js";
import type { ConditionPrediction, SweepCurves, TuningDesign } from "./design.js";

function cell(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function num(x: number): string {
  return Math.abs(x) >= 1000 ? x.toPrecision(4) : x.toFixed(2);
}

function peakOf(conditions: readonly ConditionPrediction[], u: number): ConditionPrediction {
  return conditions.reduce((a, b) => (b.predicted[u]! > a.predicted[u]! ? b : a));
}

/** Curve points "x value" in the order given. */
function points(conditions: readonly ConditionPrediction[], u: number, x: (c: ConditionPrediction) => string): string {
  return conditions.map((c) => `${x(c)}: ${num(c.predicted[u]!)}`).join(" | ");
}

function sweepLines(s: SweepCurves, u: number): string[] {
  const peak = peakOf(s.conditions, u);
  const p = peak.params;
  if (s.sweep === "orientation-frequency") {
    const atFrequency = s.conditions.filter((c) => c.params.cyclesPerImage === p.cyclesPerImage);
    const atOrientation = s.conditions.filter((c) => c.params.orientationDeg === p.orientationDeg);
    return [
      `  gratings: peak at ${p.orientationDeg}°, ${p.cyclesPerImage} cycles/image: ${num(peak.predicted[u]!)} ` +
        `(mean of ${peak.images} phases)`,
      `  orientation (deg) at ${p.cyclesPerImage} cycles/image: ` +
        points(atFrequency, u, (c) => String(c.params.orientationDeg)),
      `  spatial frequency (cycles/image) at ${p.orientationDeg}°: ` +
        points(atOrientation, u, (c) => String(c.params.cyclesPerImage)),
    ];
  }
  if (s.sweep === "dot-size")
    return [
      `  dot size (radius, fraction of the image side): ${points(s.conditions, u, (c) => String(c.params.radius))}`,
    ];
  if (s.sweep === "dot-number")
    return [
      `  number of dots (mean of ${s.conditions[0]!.images} layouts): ` +
        points(s.conditions, u, (c) => String(c.params.dots)),
    ];
  const xs = [...new Set(s.conditions.map((c) => c.params.x!))];
  const ys = [...new Set(s.conditions.map((c) => c.params.y!))];
  const at = new Map(s.conditions.map((c) => [`${c.params.x};${c.params.y}`, c]));
  return [
    `  dot location (${xs.length}×${ys.length} grid, rows top to bottom; peak at x ${p.x}, y ${p.y}: ` +
      `${num(peak.predicted[u]!)}):`,
    ...ys.map((y) => `    ${xs.map((x) => num(at.get(`${x};${y}`)?.predicted[u] ?? Number.NaN).padStart(8)).join("")}`),
  ];
}

/** Per unit: which model predicts it, and each sweep's curve (gratings: slices through the peak). */
export function tuningTable(units: readonly DesignUnit[], design: TuningDesign): string[] {
  return units.flatMap((unit, u) => [
    `${unit.name} (${unit.source === "compact" ? "its compact model" : "the ensemble's prediction"}, model version ` +
      `${unit.modelVersionId})`,
    ...design.sweeps.flatMap((s) => sweepLines(s, u)),
  ]);
}

const PARAM_COLUMNS = ["orientationDeg", "cyclesPerImage", "radius", "x", "y", "dots"] as const;

/** One row per unit × condition: its parameters, the images averaged and the predicted response. */
export function tuningCsv(units: readonly DesignUnit[], design: TuningDesign): string {
  const lines = [
    "unit,model,model_version,sweep,orientation_deg,cycles_per_image,dot_radius,dot_x,dot_y,dots,images,predicted",
  ];
  units.forEach((unit, u) => {
    for (const s of design.sweeps)
      for (const c of s.conditions)
        lines.push(
          [
            cell(unit.name),
            unit.source,
            unit.modelVersionId,
            s.sweep,
            ...PARAM_COLUMNS.map((k) => (c.params[k] === undefined ? "" : String(c.params[k]))),
            c.images,
            c.predicted[u]!,
          ].join(","),
        );
  });
  return `${lines.join("\n")}\n`;
}
