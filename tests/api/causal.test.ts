// The review's causal channel on a real SQLite store: a designed and recorded causal-test session answers its images
// with their stored provenance and the recorded unit's mean response, and the causal analysis as `cortexloop analyze
// causal` computes it; a session without causal images, an unknown session and a bad unit map are clear replies.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dispatch } from "../../src/main/api/handlers.js";
import type { ApiReply, CausalReview, SessionDetail } from "../../src/main/api/contract.js";
import { analyzeCausal } from "../../src/main/causal/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import { writeCausalSession, type CausalSessionFixture } from "../helpers/causal-session.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-causal-api-");
let fx: CausalSessionFixture;
let store: SessionStore;

interface Provenance {
  sha: string;
  unit: string;
  kind: string;
  base: string | null;
  predicted: number;
  source: string;
  mv: number;
}

async function ask(request: { session: number | string; unitMap?: Record<string, string> }) {
  return (await dispatch(store, "causal", request)) as ApiReply<CausalReview>;
}

async function available(request: { session: number; unitMap?: Record<string, string> }) {
  const reply = await ask(request);
  if (!reply.ok) throw new Error(`expected an answer, got ${reply.code}: ${reply.message}`);
  if (!reply.value.available) throw new Error(`expected a causal review, got: ${reply.value.message}`);
  return reply.value;
}

const nullIfNaN = (v: number): number | null => (Number.isFinite(v) ? v : null);

beforeAll(async () => {
  fx = await writeCausalSession(tmp.dir);
  store = SessionStore.open(fx.db, { readonly: true });
}, 120_000);

afterAll(() => {
  store?.close();
  tmp.cleanup();
});

describe("causal channel", () => {
  it("answers every designed image the session showed with its provenance and measured response", async () => {
    const r = await available({ session: fx.causalSessionId });
    expect(r.designId).toBe(fx.designId);
    expect(r.modelVersionId).toBe(fx.modelVersionId);
    expect(r.scale).toBe("responses");
    expect(r.missingUnits).toEqual([]);
    const prov = store.db
      .prepare(
        "SELECT stimulus_sha256 AS sha, unit, kind, base_sha256 AS base, predicted, model_source AS source, " +
          "model_version_id AS mv FROM causal_images WHERE design_id = ?",
      )
      .all(fx.designId) as Provenance[];
    // Per unit: 3 random normal images; one maximizing synthesized and one maximizing normal; an adversarial pair
    // with its base; smooth− and the random-smoothing control with their base.
    const kinds = (unit: string): string[] =>
      prov
        .filter((p) => p.unit === unit)
        .map((p) => p.kind)
        .sort();
    for (const unit of fx.units)
      expect(kinds(unit)).toEqual(
        [
          ...["random-normal", "random-normal", "random-normal", "maximizing-synthesized", "maximizing-normal"],
          ...["adversarial-base", "adversarial-plus", "adversarial-minus"],
          ...["smooth-base", "smooth-minus", "random-smoothed"],
        ].sort(),
      );
    expect(r.images).toHaveLength(prov.length);
    const key = (p: { sha: string; unit: string; kind: string }): string => `${p.sha}|${p.unit}|${p.kind}`;
    const byKey = new Map(prov.map((p) => [key(p), p]));
    for (const im of r.images) {
      const p = byKey.get(key({ sha: im.sha256, unit: im.unit, kind: im.kind }));
      expect(p, `${im.unit} ${im.kind}`).toBeDefined();
      expect(im.baseSha256).toBe(p!.base);
      expect(im.predicted).toBeCloseTo(p!.predicted, 9);
      expect(im.source).toBe("ensemble");
      expect(im.modelVersionId).toBe(fx.modelVersionId);
      expect(im.recordedUnit).toBe(im.unit);
      // Two presentations, prediction + shift ∓ 0.5: mean prediction + shift, s.e.m. 0.5.
      expect(im.presentations).toBe(2);
      expect(im.measured!).toBeCloseTo(p!.predicted + fx.shift, 6);
      expect(im.measuredSem!).toBeCloseTo(0.5, 6);
      // Maximizing synthesized images name the maximizing normal image they started from.
      if (/plus|minus|smoothed|synthesized/.test(im.kind)) {
        const baseKind = im.kind.startsWith("adversarial")
          ? "adversarial-base"
          : im.kind === "maximizing-synthesized"
            ? "maximizing-normal"
            : "smooth-base";
        const bases = r.images.filter((b) => b.sha256 === im.baseSha256 && b.unit === im.unit).map((b) => b.kind);
        expect(bases).toContain(baseKind);
      } else expect(im.baseSha256).toBeNull();
    }
    expect(r.counting.counted).toBe(2 * new Set(prov.map((p) => p.sha)).size);
    // Kept: asked again, the same reply without recomputing; another unit map is another reply.
    expect(await available({ session: fx.causalSessionId })).toBe(r);
    expect(await available({ session: fx.causalSessionId, unitMap: { "e0#0": "e1#0" } })).not.toBe(r);
  });

  it("gives the causal analysis of `analyze causal`, with its %Δr from the recorded responses", async () => {
    const r = await available({ session: fx.causalSessionId });
    const a = analyzeCausal(store, String(fx.causalSessionId));
    expect(r.summary.map((s) => s.kind)).toEqual([
      "maximizing-synthesized",
      "maximizing-normal",
      "adversarial-plus",
      "adversarial-minus",
      "smooth-minus",
      "random-smoothed",
    ]);
    expect(r.summary).toEqual(
      a.summary.map((s) => ({
        kind: s.kind,
        against: s.against,
        units: s.units,
        mean: nullIfNaN(s.mean),
        se: nullIfNaN(s.se),
        p: nullIfNaN(s.p),
        predictedMean: nullIfNaN(s.predictedMean),
        predictedSe: nullIfNaN(s.predictedSe),
        predictedUnits: s.predictedUnits,
        modelMean: nullIfNaN(s.modelMean),
        modelSe: nullIfNaN(s.modelSe),
      })),
    );
    expect(r.rows).toHaveLength(2 * 6);
    // Independently of the analysis: an adversarial image's %Δr is its measured mean against its base's.
    for (const row of r.rows.filter((x) => x.kind === "adversarial-plus" || x.kind === "adversarial-minus")) {
      const tested = r.images.filter((i) => i.unit === row.unit && i.kind === row.kind);
      const base = r.images.find(
        (i) => i.unit === row.unit && i.sha256 === tested[0]!.baseSha256 && i.kind === "adversarial-base",
      )!;
      const m = tested[0]!.measured!;
      expect(row.measuredChange!).toBeCloseTo((100 * (m - base.measured!)) / base.measured!, 6);
      // The responses are the predictions plus a shift: mapped onto them, the predictions give the measured %Δr; the
      // raw predictions (spikes: the design's scale is "responses") give theirs.
      expect(row.predictedChange!).toBeCloseTo(row.measuredChange!, 6);
      expect(row.predictedModelChange!).toBeCloseTo(
        (100 * (tested[0]!.predicted - base.predicted)) / base.predicted,
        3,
      );
      expect([row.fitSlope, row.note]).toEqual([expect.closeTo(1, 6), null]);
      expect(row.fitIntercept!).toBeCloseTo(fx.shift, 6);
    }
    // Each unit's model puts adversarial+ above its base and adversarial− below; so do the recorded responses.
    const mean = (kind: string): number => r.summary.find((s) => s.kind === kind)!.mean!;
    expect(mean("adversarial-plus")).toBeGreaterThan(0);
    expect(mean("adversarial-minus")).toBeLessThan(0);
  });

  it("measures a design unit on the unit the map names; refuses a map to a unit not recorded", async () => {
    const r = await available({ session: fx.causalSessionId, unitMap: { "e0#0": "e1#0" } });
    const mapped = r.images.filter((i) => i.unit === "e0#0");
    expect(mapped.length).toBeGreaterThan(0);
    for (const im of mapped) expect(im.recordedUnit).toBe("e1#0");
    const bad = await ask({ session: fx.causalSessionId, unitMap: { "e0#0": "e9#0" } });
    expect(bad).toMatchObject({ ok: false, code: "bad-request" });
    if (!bad.ok) {
      expect(bad.message).toMatch(/recorded no unit e9#0/);
      expect(bad.message).not.toMatch(/Nothing was written/);
    }
  });

  it("measures a session whose units are named otherwise through the unit map", async () => {
    const plain = await available({ session: fx.renamedSessionId });
    expect(plain.missingUnits).toEqual(["e0#0", "e1#0"]);
    expect(plain.recordedUnits).toEqual(["Electrode 1#0", "Electrode 2#0"]);
    expect(plain.summary).toEqual([]);
    for (const im of plain.images) expect([im.recordedUnit, im.measured, im.presentations]).toEqual([null, null, 0]);
    const unitMap = { "e0#0": "Electrode 1#0", "e1#0": "Electrode 2#0" };
    const mapped = await available({ session: fx.renamedSessionId, unitMap });
    const same = await available({ session: fx.causalSessionId });
    expect(mapped.missingUnits).toEqual([]);
    expect(mapped.summary).toEqual(same.summary);
    expect(mapped.rows).toEqual(same.rows);
    expect(mapped.images.map((i) => [i.unit, i.recordedUnit, i.measured])).toEqual(
      same.images.map((i) => [i.unit, unitMap[i.unit as keyof typeof unitMap], i.measured]),
    );
  });

  it("says a session has no causal images, and the session header counts them", async () => {
    const reply = await ask({ session: fx.plainSessionId });
    expect(reply.ok).toBe(true);
    if (reply.ok) {
      expect(reply.value.available).toBe(false);
      if (!reply.value.available)
        expect(reply.value.message).toMatch(/plain showed no designed images of a causal test/);
    }
    const plain = (await dispatch(store, "getSession", { session: fx.plainSessionId })) as ApiReply<SessionDetail>;
    const causal = (await dispatch(store, "getSession", { session: fx.causalSessionId })) as ApiReply<SessionDetail>;
    expect(plain.ok && plain.value.causalImages).toBe(0);
    // The plain session showed the design's bank images too (random normal, maximizing normal, bases): not a test.
    const shown = new Set(store.presentations(fx.plainSessionId).map((p) => p.stimulusSha256));
    const rows = store.db.prepare("SELECT stimulus_sha256 AS sha, kind FROM causal_images").all() as {
      sha: string;
      kind: string;
    }[];
    expect(rows.filter((r) => r.kind === "random-normal" && shown.has(r.sha)).length).toBeGreaterThan(0);
    const designed = new Set(rows.filter((r) => !/normal|base/.test(r.kind)).map((r) => r.sha));
    expect(causal.ok && causal.value.causalImages).toBe(designed.size);
  });

  it("refuses an unknown session and a malformed request", async () => {
    expect(await ask({ session: 999 })).toMatchObject({ ok: false, code: "not-found" });
    expect(await dispatch(store, "causal", { session: fx.causalSessionId, unitMap: { "e0#0": "" } })).toMatchObject({
      ok: false,
      code: "bad-request",
    });
  });
});
