// The predicted %Δr of `analyze causal` is taken on the measured scale: each unit's stored predictions are mapped onto
// its measured responses by an affine fit over its normal images. Checked on a real SQLite file with a hand-made
// design (no model is run): a unit whose model output is 3 · rate − 7 of its true rate must predict the true %Δr, and
// units whose fit is degenerate get a note instead of a number.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { analyzeCausal, causalTable, writeCausalCsv, type CausalAnalysis } from "../../src/main/causal/analyze.js";
import type { CausalKind } from "../../src/main/causal/design.js";
import { fitAffine, MIN_FIT_IMAGES } from "../../src/main/causal/predicted-scale.js";
import { CAUSAL_CSV_HEADER } from "../../src/main/causal/report.js";
import { insertCausalDesign } from "../../src/main/causal/store-design.js";
import { SessionStore } from "../../src/main/store/index.js";
import { encodePng, generateImages } from "../../src/stimulus/index.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-causal-scale-");
afterAll(() => tmp.cleanup());

describe("fitAffine", () => {
  it("recovers an exact affine map and ignores pairs without both values", () => {
    const rate = [2, 4, 6, 8, 12];
    const fit = fitAffine(
      [...rate.map((r) => 3 * r - 7), 99],
      [...rate, Number.NaN], // the last image was not measured
    );
    expect(fit.ok).toBe(true);
    expect(fit.images).toBe(5);
    // measured = (predicted + 7) / 3
    expect(fit.slope).toBeCloseTo(1 / 3, 12);
    expect(fit.intercept).toBeCloseTo(7 / 3, 12);
    expect(fit.note).toBeNull();
  });

  it("says why when it cannot fit: too few images, predictions alike, responses alike, a falling slope", () => {
    const few = fitAffine([1, 2, Number.NaN], [3, 4, 5]);
    expect(few).toMatchObject({ ok: false, images: 2 });
    expect(few.note).toMatch(new RegExp(`2 normal images .*the fit needs ${MIN_FIT_IMAGES}`));
    expect(fitAffine([], []).note).toMatch(/0 normal images/);
    expect(fitAffine([1.5, 1.5, 1.5, 1.5], [2, 4, 6, 8]).note).toMatch(/the model predicts the same for all 4/);
    expect(fitAffine([1, 2, 3, 4], [5, 5, 5, 5]).note).toMatch(/responded the same to all 4 normal images/);
    const falling = fitAffine([1, 2, 3, 4], [8, 6, 4, 2]);
    expect(falling).toMatchObject({ ok: false, images: 4, slope: -2 });
    expect(falling.note).toMatch(/measured response falls as the prediction rises \(slope -2\.00\)/);
  });
});

/** Per unit: each image's kind, true rate and (for adversarial and smoothed images) its base's index. */
const plan: { kind: CausalKind; rate: number; base?: number }[] = [
  { kind: "random-normal", rate: 2 },
  { kind: "random-normal", rate: 4 },
  { kind: "random-normal", rate: 6 },
  { kind: "random-normal", rate: 8 },
  { kind: "maximizing-normal", rate: 12 },
  { kind: "maximizing-synthesized", rate: 20 },
  { kind: "adversarial-base", rate: 6 },
  { kind: "adversarial-plus", rate: 9, base: 6 },
  { kind: "adversarial-minus", rate: 3, base: 6 },
  { kind: "smooth-base", rate: 10 },
  { kind: "smooth-minus", rate: 5, base: 9 },
  { kind: "random-smoothed", rate: 9.5, base: 9 },
];

/** Units and their model's output for an image of the plan (`k`: its index) at true rate `rate`. */
const models: Record<string, (rate: number, k: number) => number> = {
  // An exact affine function of the true rate; some outputs are negative, so raw %Δr would be undefined or huge.
  "affine#0": (rate) => 3 * rate - 7,
  // The same output for every normal image: nothing to fit.
  "flat#0": (rate, k) => (k < 5 || k === 6 || k === 9 ? 1.5 : rate),
  // Ranks the images against the neuron.
  "anti#0": (rate) => 40 - 2 * rate,
  // Its own rate but −20 for its smoothing base, to which it responds at 1 (not 10): the fit is fine (slope 0.27) but
  // maps the base to −0.63, so smooth− and random smoothing have no predicted %Δr.
  "dark#0": (rate, k) => (k === 9 ? -20 : rate),
};

/** A unit's true rate for image `k` of the plan. */
const rateOf = (unit: string, k: number): number => (unit === "dark#0" && k === 9 ? 1 : plan[k]!.rate);

async function causalStore(scale: string): Promise<{ db: string; sessionId: number }> {
  const db = join(tmp.dir, `${scale}.db`);
  const store = SessionStore.open(db);
  try {
    const units = Object.keys(models);
    const pictures = generateImages("noise", units.length * plan.length, 8, 3);
    const pngs = await Promise.all(pictures.map((p) => encodePng(p)));
    const shas = pngs.map((png) => createHash("sha256").update(png).digest("hex"));
    expect(new Set(shas).size).toBe(pngs.length);
    // Each unit has its own images; it responds at its true rate to them and 1 to the others' images.
    const imageOf = (u: number, k: number): number => u * plan.length + k;
    const values = new Float64Array(units.length * pngs.length).fill(1);
    units.forEach((name, u) => plan.forEach((_, k) => (values[u * pngs.length + imageOf(u, k)] = rateOf(name, k))));
    const recorded = store.importRecordedSession({
      name: "causal-scale",
      provenanceText: "test: each unit responds at its true rate",
      countWindow: { startMs: 50, endMs: 150, bins: 1 },
      durationMs: 100,
      stimuli: pngs.map((png) => ({ png, width: 8, height: 8 })),
      units: units.map((u) => ({ electrode: u.split("#")[0]!, sortedId: 0, flags: [] })),
      repeats: 1,
      averaged: true,
      values,
    });
    for (const sha of shas) expect(store.hasStimulus(sha)).toBe(true);
    const modelVersionId = store.putModelVersion({ name: "stand-in", kind: "deep-ensemble", sessionIds: [] });
    insertCausalDesign(
      store,
      { modelVersionId, protocolText: "test", detail: { scale } },
      units.flatMap((name, u) =>
        plan.map((p, k) => ({
          sha256: shas[imageOf(u, k)]!,
          unit: { name, source: "compact" as const, modelVersionId },
          kind: p.kind,
          baseSha256: p.base === undefined ? null : shas[imageOf(u, p.base)]!,
          predicted: models[name]!(rateOf(name, k), k),
        })),
      ),
    );
    return { db, sessionId: recorded.session.id };
  } finally {
    store.close();
  }
}

/** The true %Δr of a tested kind: its rate against the random normal images' mean rate, or against its base's. */
function trueChange(kind: CausalKind): number {
  const i = plan.findIndex((p) => p.kind === kind);
  const p = plan[i]!;
  const base =
    p.base === undefined
      ? plan.filter((q) => q.kind === "random-normal").reduce((a, q) => a + q.rate, 0) / 4
      : plan[p.base]!.rate;
  return (100 * (p.rate - base)) / base;
}

function analyze(db: string, sessionId: number): CausalAnalysis {
  const store = SessionStore.open(db, { readonly: true });
  try {
    return analyzeCausal(store, String(sessionId));
  } finally {
    store.close();
  }
}

describe("analyze causal: predicted %Δr on the measured scale", () => {
  it("predicts the true %Δr from a model whose output is 3 · rate − 7; degenerate fits get a note", async () => {
    const { db, sessionId } = await causalStore("compact");
    const a = analyze(db, sessionId);
    expect(a.modelScale).toBe("compact");
    const kinds = a.summary.map((s) => s.kind);
    expect(kinds).toHaveLength(6);
    for (const kind of kinds) {
      const row = a.rows.find((r) => r.unit === "affine#0" && r.kind === kind)!;
      expect(row.measuredChange).toBeCloseTo(trueChange(kind), 9);
      expect(row.predictedChange, kind).toBeCloseTo(trueChange(kind), 9);
      // Raw outputs are no spikes: no %Δr of them.
      expect(row.predictedModelChange).toBeNaN();
      expect(row.note).toBeNull();
      // Normal images only: 4 random normal, 1 maximizing normal, 2 bases.
      expect(row.fitImages).toBe(7);
      expect(row.fitSlope).toBeCloseTo(1 / 3, 9);
    }
    // On raw outputs the maximizing image would have read 562% against a true 300%.
    expect(trueChange("maximizing-synthesized")).toBeCloseTo(300, 9);
    for (const kind of kinds) {
      const flat = a.rows.find((r) => r.unit === "flat#0" && r.kind === kind)!;
      expect(flat.predictedChange).toBeNaN();
      expect(flat.note).toMatch(/no fit onto the measured scale: the model predicts the same for all 7 normal images/);
      const anti = a.rows.find((r) => r.unit === "anti#0" && r.kind === kind)!;
      expect(anti.predictedChange).toBeNaN();
      expect(anti.note).toMatch(/measured response falls as the prediction rises \(slope -0\.500\)/);
      // The measured side does not depend on the model.
      expect(anti.measuredChange).toBeCloseTo(trueChange(kind), 9);
      const dark = a.rows.find((r) => r.unit === "dark#0" && r.kind === kind)!;
      expect(dark.fitSlope).toBeCloseTo(0.2749, 4);
      const smoothed = kind === "smooth-minus" || kind === "random-smoothed";
      if (smoothed) {
        expect(dark.predictedChange).toBeNaN();
        expect(dark.note).toMatch(/^the fitted response to the bases is -0\.634 \(≤ 0\): no predicted %Δr$/);
      } else expect([Number.isFinite(dark.predictedChange), dark.note]).toEqual([true, null]);
      const s = a.summary.find((x) => x.kind === kind)!;
      expect([s.units, s.predictedUnits]).toEqual([4, smoothed ? 1 : 2]);
      const predicted = [a.rows.find((r) => r.unit === "affine#0" && r.kind === kind)!, dark]
        .map((r) => r.predictedChange)
        .filter((v) => Number.isFinite(v));
      expect(s.predictedMean).toBeCloseTo(predicted.reduce((x, y) => x + y, 0) / predicted.length, 9);
      expect(s.modelMean).toBeNaN();
    }
    const table = causalTable(a);
    expect(table[0]).toMatch(/^kind\s+against\s+units\s+measured %Δr \(mean ± s\.e\.\)\s+p\s+predicted %Δr \(fit to/);
    expect(table[0]).not.toMatch(/model's spikes/);
    expect(table.find((l) => l.startsWith("smooth-minus"))).toMatch(/ ± - \(1 unit\)$/);
    expect(table.find((l) => l.startsWith("maximizing-synthesized"))).toMatch(/\d ± \d+\.\d \(2 units\)$/);
    expect(table.some((l) => /model's own output scale: compact \(no %Δr of raw outputs/.test(l))).toBe(true);
    expect(table.filter((l) => l.startsWith("flat#0: no fit"))).toHaveLength(1);
    expect(table.filter((l) => l.startsWith("anti#0: no fit"))).toHaveLength(1);
    expect(table.filter((l) => l.startsWith("dark#0 smooth-minus: the fitted response to the bases"))).toHaveLength(1);
    expect(table.filter((l) => l.startsWith("dark#0 random-smoothed: the fitted response"))).toHaveLength(1);
    expect(table.filter((l) => l.startsWith("dark#0"))).toHaveLength(2);
    const csv = join(tmp.dir, "compact.csv");
    writeCausalCsv(a, csv);
    const lines = readFileSync(csv, "utf8").trim().split("\n");
    expect(lines[0]).toBe(CAUSAL_CSV_HEADER);
    const header = lines[0]!.split(",");
    const col = (name: string): number => header.indexOf(name);
    const row = lines.find((l) => l.startsWith("affine#0,compact,adversarial-minus,"))!.split(",");
    expect(Number(row[col("predicted_change_pct")])).toBeCloseTo(-50, 9);
    expect(row[col("predicted_scale")]).toBe("measured-affine-fit");
    expect(row[col("model_scale")]).toBe("compact");
    expect(row[col("model_change_pct")]).toBe("");
    expect(row[col("fit_images")]).toBe("7");
    const flat = lines.find((l) => l.startsWith("flat#0,compact,adversarial-minus,"))!;
    expect(flat).not.toMatch(/NaN/);
    expect(flat.split(",")[col("predicted_change_pct")]).toBe("");
    expect(flat.split(",")[col("note")]).toBe(
      "no fit onto the measured scale: the model predicts the same for all 7 normal images",
    );
    expect(lines.find((l) => l.startsWith("mean,,maximizing-synthesized,4,"))).toMatch(
      /,"predicted %Δr over 2 units, measured over 4"$/,
    );
  });

  it("keeps the %Δr of raw predictions beside the fitted one where the model's output is spikes", async () => {
    const { db, sessionId } = await causalStore("responses");
    const a = analyze(db, sessionId);
    const row = a.rows.find((r) => r.unit === "affine#0" && r.kind === "adversarial-minus")!;
    expect(row.predictedChange).toBeCloseTo(-50, 9);
    // Raw outputs 2 against 11.
    expect(row.predictedModelChange).toBeCloseTo((100 * (2 - 11)) / 11, 9);
    const table = causalTable(a);
    expect(table[0]).toMatch(/predicted %Δr \(model's spikes\)$/);
    expect(table.some((l) => /model's own output scale: responses$/.test(l))).toBe(true);
    // Over all four units, whatever their fit: affine 2 against 11, flat 3 against 1.5, anti 34 against 28, dark 3
    // against 6.
    const s = a.summary.find((x) => x.kind === "adversarial-minus")!;
    expect(s.modelMean).toBeCloseTo(((100 * -9) / 11 + 100 + (100 * 6) / 28 - 50) / 4, 9);
  });
});
