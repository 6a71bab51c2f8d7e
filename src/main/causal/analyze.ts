// `cortexloop analyze causal`: per unit and kind of designed image, the measured change against its
// base (%Δr = 100 (r − r_base) / r_base) beside the model's predicted change, taken of the model's
// predictions mapped onto the unit's measured responses (predicted-scale.ts); per kind the mean ±
// s.e. over units and a sign-flip permutation test; per unit a label permutation test.
import type { SessionStore } from "../store/index.js";
import { resolveSession } from "../import/dataset.js";
import { defaultCounting, stimulusMeans } from "../review/aggregate.js";
import { loadSessionCounts, summedResponse } from "../review/session-counts.js";
import { CausalInputError } from "./errors.js";
import type { CausalKind } from "./design.js";
import { FIT_KINDS, SPIKE_SCALES, fitAffine } from "./predicted-scale.js";
import { meanSe, permutationTest, signFlipTest } from "./stats.js";

export { causalTable, writeCausalCsv } from "./report.js";
export { PREDICTED_SCALE } from "./predicted-scale.js";

/** What each tested kind is compared with. */
export const COMPARISONS: readonly { kind: CausalKind; against: "random-normal" | "base" }[] = [
  { kind: "maximizing-synthesized", against: "random-normal" },
  { kind: "maximizing-normal", against: "random-normal" },
  { kind: "adversarial-plus", against: "base" },
  { kind: "adversarial-minus", against: "base" },
  { kind: "smooth-minus", against: "base" },
  { kind: "random-smoothed", against: "base" },
];

interface ProvenanceRow {
  designId: number;
  sha: string;
  unit: string;
  kind: CausalKind;
  baseSha: string | null;
  predicted: number;
  source: string;
}

export interface UnitKindResult {
  unit: string;
  source: string;
  kind: CausalKind;
  images: number;
  measured: number;
  measuredBase: number;
  /** %Δr measured; NaN when the base response is not positive. */
  measuredChange: number;
  /**
   * %Δr of the model's predictions mapped onto the unit's measured responses (the unit's affine fit); NaN, with a
   * `note`, when the fit is degenerate or the mapped base response is not positive.
   */
  predictedChange: number;
  /** %Δr of the raw predictions, only where the model's output is already spikes (`modelScale`); NaN otherwise. */
  predictedModelChange: number;
  /** The unit's fit: how many normal images it used, and measured ≈ slope · predicted + intercept. */
  fitImages: number;
  fitSlope: number;
  fitIntercept: number;
  /** Why `predictedChange` is undefined; null when it is defined. */
  note: string | null;
  /** Label permutation test of the presentations' responses against the base's. */
  p: number;
}

export interface KindSummary {
  kind: CausalKind;
  against: string;
  units: number;
  mean: number;
  se: number;
  /** Sign-flip permutation test of the units' %Δr. */
  p: number;
  /** Mean ± s.e. of the fitted predicted %Δr over the `predictedUnits` units that have one. */
  predictedMean: number;
  predictedSe: number;
  predictedUnits: number;
  /** The same of the raw predictions' %Δr, where the model's output is spikes; NaN otherwise. */
  modelMean: number;
  modelSe: number;
}

export interface CausalAnalysis {
  sessionId: number;
  sessionName: string;
  designIds: number[];
  /** Design units the session did not record. */
  missingUnits: string[];
  /** The design model's output scale as the design stored it ("responses", "z-scored", "compact"); null if unknown. */
  modelScale: string | null;
  rows: UnitKindResult[];
  summary: KindSummary[];
}

function pct(r: number, base: number): number {
  return base > 0 && Number.isFinite(r) ? (100 * (r - base)) / base : Number.NaN;
}

/**
 * `unitMap` names, per design unit, the recorded unit it is when the names differ (a simulated rig's
 * Electrode N for the model file it simulates); otherwise units match by `electrode#sortedId`.
 */
export function analyzeCausal(
  store: SessionStore,
  sessionRef: string,
  unitMap: ReadonlyMap<string, string> = new Map(),
): CausalAnalysis {
  let sessionId: number;
  try {
    sessionId = resolveSession(store, sessionRef);
  } catch (err) {
    throw new CausalInputError("session", err instanceof Error ? err.message : String(err));
  }
  const session = store.findSession(sessionId)!;
  const data = loadSessionCounts(store, sessionId);
  const means = new Map(stimulusMeans(data, defaultCounting).map((m) => [m.sha256, m]));
  const stmt = store.db.prepare(
    "SELECT design_id AS designId, stimulus_sha256 AS sha, unit, kind, base_sha256 AS baseSha, predicted, " +
      "model_source AS source FROM causal_images WHERE stimulus_sha256 = ?",
  );
  const all = [...means.keys()].flatMap((sha) => stmt.all(sha) as ProvenanceRow[]);
  if (all.length === 0) {
    throw new CausalInputError(
      "session",
      `Session ${session.name} (id ${sessionId}) showed no images of a causal design; run a protocol from ` +
        `\`cortexloop design causal\` first.`,
    );
  }
  // The design that most of the session's images came from.
  const perDesign = new Map<number, number>();
  for (const r of all) perDesign.set(r.designId, (perDesign.get(r.designId) ?? 0) + 1);
  const designId = [...perDesign.entries()].sort((a, b) => b[1] - a[1])[0]![0];
  const rows = all.filter((r) => r.designId === designId);
  const modelScale = designScale(store, designId);
  const spikes = modelScale !== null && SPIKE_SCALES.includes(modelScale);
  const recorded = new Map(data.units.map((u, i) => [`${u.electrode}#${u.sortedId}`, i]));
  for (const [designUnit, sessionUnit] of unitMap) {
    if (!recorded.has(sessionUnit)) {
      throw new CausalInputError(
        "unit",
        `--unit-map ${designUnit}=${sessionUnit}: session ${session.name} recorded no unit ${sessionUnit} (it ` +
          `has ${[...recorded.keys()].join(", ")}).`,
      );
    }
  }
  const unitIndex = {
    get: (u: string): number | undefined => recorded.get(unitMap.get(u) ?? u),
    has: (u: string): boolean => recorded.has(unitMap.get(u) ?? u),
  };
  // In the units' natural order (e2#0 before e10#0), whatever order the images are stored in.
  const designUnits = [...new Set(rows.map((r) => r.unit))].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const missingUnits = designUnits.filter((u) => !unitIndex.has(u));
  const presentationsOf = new Map<string, number[]>();
  data.presentations.forEach((p, j) => {
    if (p.counts !== "complete") return;
    const list = presentationsOf.get(p.sha256) ?? [];
    list.push(j);
    presentationsOf.set(p.sha256, list);
  });
  const results: UnitKindResult[] = [];
  for (const unit of designUnits) {
    const i = unitIndex.get(unit);
    if (i === undefined) continue;
    const mine = rows.filter((r) => r.unit === unit);
    const measuredOf = (sha: string): number => means.get(sha)?.meanByUnit[i] ?? Number.NaN;
    const responses = (shas: readonly string[]): number[] =>
      shas.flatMap((sha) =>
        (presentationsOf.get(sha) ?? []).map((j) => summedResponse(data, i, j)).filter((v) => !Number.isNaN(v)),
      );
    const avg = (xs: number[]): number => {
      const ok = xs.filter((v) => Number.isFinite(v));
      return ok.length === 0 ? Number.NaN : ok.reduce((a, b) => a + b, 0) / ok.length;
    };
    // The unit's fit over its normal images that the session measured, each image once.
    const fitImages = new Map<string, number>();
    for (const r of mine) if (FIT_KINDS.includes(r.kind) && means.has(r.sha)) fitImages.set(r.sha, r.predicted);
    const fit = fitAffine(
      [...fitImages.values()],
      [...fitImages.keys()].map((sha) => measuredOf(sha)),
    );
    for (const c of COMPARISONS) {
      const tested = mine.filter((r) => r.kind === c.kind && means.has(r.sha));
      if (tested.length === 0) continue;
      const baseKind: CausalKind =
        c.against === "random-normal"
          ? "random-normal"
          : c.kind.startsWith("adversarial")
            ? "adversarial-base"
            : "smooth-base";
      const baseRows =
        c.against === "random-normal"
          ? mine.filter((r) => r.kind === baseKind && means.has(r.sha))
          : [...new Set(tested.map((t) => t.baseSha))].flatMap((sha) =>
              mine.filter((r) => r.kind === baseKind && r.sha === sha && means.has(r.sha)).slice(0, 1),
            );
      if (baseRows.length === 0) continue;
      const measured = avg(tested.map((t) => measuredOf(t.sha)));
      const measuredBase = avg(baseRows.map((b) => measuredOf(b.sha)));
      const predicted = avg(tested.map((t) => t.predicted));
      const predictedBase = avg(baseRows.map((b) => b.predicted));
      let note = fit.note;
      let predictedChange = Number.NaN;
      if (fit.ok) {
        const mappedBase = fit.slope * predictedBase + fit.intercept;
        if (mappedBase > 0) predictedChange = pct(fit.slope * predicted + fit.intercept, mappedBase);
        else
          note =
            `the fitted response to ${c.against === "random-normal" ? "the random normal images" : "the bases"} is ` +
            `${mappedBase.toPrecision(3)} (≤ 0): no predicted %Δr`;
      }
      results.push({
        unit,
        source: tested[0]!.source,
        kind: c.kind,
        images: tested.length,
        measured,
        measuredBase,
        measuredChange: pct(measured, measuredBase),
        predictedChange,
        predictedModelChange: spikes ? pct(predicted, predictedBase) : Number.NaN,
        fitImages: fit.images,
        fitSlope: fit.slope,
        fitIntercept: fit.intercept,
        note,
        p: permutationTest(
          responses(tested.map((t) => t.sha)),
          responses(baseRows.map((b) => b.sha)),
          2000,
          results.length + 1,
        ),
      });
    }
  }
  const summary = COMPARISONS.flatMap((c): KindSummary[] => {
    const mine = results.filter((r) => r.kind === c.kind);
    if (mine.length === 0) return [];
    const measured = mine.map((r) => r.measuredChange).filter((v) => Number.isFinite(v));
    const predicted = mine.map((r) => r.predictedChange).filter((v) => Number.isFinite(v));
    const m = meanSe(measured);
    const p = meanSe(predicted);
    const raw = meanSe(mine.map((r) => r.predictedModelChange).filter((v) => Number.isFinite(v)));
    return [
      {
        kind: c.kind,
        against: c.against === "random-normal" ? "random normal images" : "their bases",
        units: m.n,
        mean: m.mean,
        se: m.se,
        p: signFlipTest(measured),
        predictedMean: p.mean,
        predictedSe: p.se,
        predictedUnits: p.n,
        modelMean: raw.mean,
        modelSe: raw.se,
      },
    ];
  });
  return {
    sessionId,
    sessionName: session.name,
    designIds: [designId],
    missingUnits,
    modelScale,
    rows: results,
    summary,
  };
}

/** The output scale a design stored in its detail; null where it stored none or the detail does not parse. */
function designScale(store: SessionStore, designId: number): string | null {
  const row = store.db.prepare("SELECT detail_json AS detail FROM causal_designs WHERE id = ?").get(designId) as
    { detail: string } | undefined;
  try {
    const scale = (JSON.parse(row?.detail ?? "null") as { scale?: unknown } | null)?.scale;
    return typeof scale === "string" ? scale : null;
  } catch {
    return null;
  }
}
