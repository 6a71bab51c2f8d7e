// `cortexloop analyze causal`: per unit and kind of designed image, the measured change against its
// base (%Δr = 100 (r − r_base) / r_base) beside the model's predicted change; per kind the mean ±
// s.e. over units and a sign-flip permutation test; per unit a label permutation test.
import { renameSync, rmSync, writeFileSync } from "node:fs";
import type { SessionStore } from "../store/index.js";
import { resolveSession } from "../import/dataset.js";
import { defaultCounting, stimulusMeans } from "../review/aggregate.js";
import { loadSessionCounts, summedResponse } from "../review/session-counts.js";
import { CausalInputError } from "./errors.js";
import type { CausalKind } from "./design.js";
import { meanSe, permutationTest, signFlipTest } from "./stats.js";

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
  predictedChange: number;
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
  predictedMean: number;
  predictedSe: number;
}

export interface CausalAnalysis {
  sessionId: number;
  sessionName: string;
  designIds: number[];
  /** Design units the session did not record. */
  missingUnits: string[];
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
  const designUnits = [...new Set(rows.map((r) => r.unit))];
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
      results.push({
        unit,
        source: tested[0]!.source,
        kind: c.kind,
        images: tested.length,
        measured,
        measuredBase,
        measuredChange: pct(measured, measuredBase),
        predictedChange: pct(avg(tested.map((t) => t.predicted)), avg(baseRows.map((b) => b.predicted))),
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
      },
    ];
  });
  return { sessionId, sessionName: session.name, designIds: [designId], missingUnits, rows: results, summary };
}

const f1 = (v: number): string => (Number.isFinite(v) ? v.toFixed(1) : "-");
const fp = (v: number): string => (Number.isFinite(v) ? (v < 0.001 ? "<0.001" : v.toFixed(3)) : "-");

/** The per-kind table for a terminal. */
export function causalTable(a: CausalAnalysis): string[] {
  const header = ["kind", "against", "units", "measured %Δr (mean ± s.e.)", "p", "predicted %Δr"];
  const body = a.summary.map((s) => [
    s.kind,
    s.against,
    String(s.units),
    `${f1(s.mean)} ± ${f1(s.se)}`,
    fp(s.p),
    `${f1(s.predictedMean)} ± ${f1(s.predictedSe)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)];
}

/** One row per unit and kind, then one per kind (unit "mean"). Written whole or not at all. */
export function writeCausalCsv(a: CausalAnalysis, file: string): void {
  const lines = ["unit,model,kind,images,measured,measured_base,measured_change_pct,predicted_change_pct,p"];
  for (const r of a.rows)
    lines.push(
      [r.unit, r.source, r.kind, r.images, r.measured, r.measuredBase, r.measuredChange, r.predictedChange, r.p].join(
        ",",
      ),
    );
  for (const s of a.summary) lines.push(["mean", "", s.kind, s.units, "", "", s.mean, s.predictedMean, s.p].join(","));
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
