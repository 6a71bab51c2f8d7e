/** Names, colours and number formats the causal panel's table, charts and gallery share. */
import type { CausalKind } from "../../main/api/contract.js";

/** The kinds in the paper's order: tested kinds first, then the images they are compared with. */
export const causalKindOrder: readonly CausalKind[] = [
  "maximizing-synthesized",
  "maximizing-normal",
  "adversarial-plus",
  "adversarial-minus",
  "smooth-minus",
  "random-smoothed",
  "adversarial-base",
  "smooth-base",
  "random-normal",
];

const labels: Record<CausalKind, string> = {
  "maximizing-synthesized": "maximizing synthesized",
  "maximizing-normal": "maximizing normal",
  "adversarial-plus": "adversarial +",
  "adversarial-minus": "adversarial −",
  "smooth-minus": "smooth −",
  "random-smoothed": "random smoothing",
  "adversarial-base": "adversarial base",
  "smooth-base": "smoothing base",
  "random-normal": "random normal",
};

const colors: Record<CausalKind, string> = {
  "maximizing-synthesized": "#b5520b",
  "maximizing-normal": "#d99a2b",
  "adversarial-plus": "#1f7a4d",
  "adversarial-minus": "#7a3fb0",
  "smooth-minus": "#2563a8",
  "random-smoothed": "#8a94a0",
  "adversarial-base": "#4d5560",
  "smooth-base": "#4d5560",
  "random-normal": "#4d5560",
};

export function kindLabel(kind: CausalKind): string {
  return labels[kind] ?? kind;
}

export function kindColor(kind: CausalKind): string {
  return colors[kind] ?? "#4d5560";
}

/** `mean ± s.e.` with one decimal, as `cortexloop analyze causal` prints it; — where undefined. */
export function formatChange(mean: number | null, se: number | null): string {
  if (mean === null) return "—";
  return se === null ? mean.toFixed(1) : `${mean.toFixed(1)} ± ${se.toFixed(1)}`;
}

/** A kind's predicted %Δr, as `analyze causal` prints it: over how many units, where not the measured one's. */
export function formatPredicted(mean: number | null, se: number | null, units: number, measuredUnits: number): string {
  return `${formatChange(mean, se)}${units === measuredUnits ? "" : ` (${units} unit${units === 1 ? "" : "s"})`}`;
}

/** A unit's fit of measured on predicted responses: `0.333 × predicted + 2.33 (7 images)`; — where there is none. */
export function formatFit(slope: number | null, intercept: number | null, images: number): string {
  if (slope === null || intercept === null) return "—";
  const sign = intercept < 0 ? "−" : "+";
  return `${slope.toPrecision(3)} × predicted ${sign} ${Math.abs(intercept).toPrecision(3)} (${images} images)`;
}

export function formatP(p: number | null): string {
  if (p === null) return "—";
  return p < 0.001 ? "<0.001" : p.toFixed(3);
}

/** A range in whole steps of 1, 2 or 5 × 10^k that holds `min`..`max` (and 0), and its ticks (at most 11). */
export function niceRange(min: number, max: number): { lo: number; hi: number; ticks: number[] } {
  const a = Math.min(0, min);
  const b = Math.max(0, max);
  const raw = Math.max(b - a, 1) / 8;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw)!;
  // A step of room beyond a point that would sit on the frame.
  const lo = Math.floor(a / step) * step - (a < 0 && a % step === 0 ? step : 0);
  const hi = Math.ceil(b / step) * step + (b > 0 && b % step === 0 ? step : 0);
  const ticks = Array.from({ length: Math.round((hi - lo) / step) + 1 }, (_, i) =>
    Number((lo + i * step).toPrecision(12)),
  );
  return { lo, hi, ticks };
}
