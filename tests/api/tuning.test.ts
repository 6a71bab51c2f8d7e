// The review's tuning channel on a real SQLite store: a recorded `design tuning` sweep answers, beside each measured
// curve, the predicted curve from the predictions stored with the design (per unit, averaged over the same images as
// the measured point, with the model that predicted it); a session of generated gratings without a design answers
// its measured curves as before, with no prediction.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ApiReply, Tuning, TuningCurve } from "../../src/main/api/contract.js";
import { dispatch } from "../../src/main/api/handlers.js";
import { SessionStore } from "../../src/main/store/index.js";
import { encodePng, generateImages } from "../../src/stimulus/index.js";
import { tempDir } from "../helpers/tmp.js";
import { writeTuningSession, type TuningSessionFixture } from "../helpers/tuning-session.js";

const tmp = tempDir("cortexloop-tuning-api-");
const db = join(tmp.dir, "tuning-lab.db");
let fx: TuningSessionFixture;
let plainSessionId: number;
let store: SessionStore;

async function tuning(session: number): Promise<Tuning> {
  const reply = (await dispatch(store, "tuning", { session })) as ApiReply<Tuning>;
  if (!reply.ok) throw new Error(`expected an answer, got ${reply.code}: ${reply.message}`);
  return reply.value;
}

const axis = (t: Tuning, parameter: string): TuningCurve => {
  const c = t.curves.find((c) => c.axis.parameter === parameter);
  if (c === undefined) throw new Error(`no ${parameter} curve; curves: ${t.curves.map((c) => c.axis.parameter)}`);
  return c;
};

beforeAll(async () => {
  const writer = SessionStore.open(db);
  try {
    fx = await writeTuningSession(writer, tmp.dir);
    // Generated gratings, their parameters known from their origin, in a session no tuning design made.
    const images = generateImages("gratings", 12, 32, 21);
    const stimuli = [];
    for (const [i, im] of images.entries())
      stimuli.push({ png: await encodePng(im), width: 32, height: 32, origin: `gratings:21:${i}` });
    plainSessionId = writer.importRecordedSession({
      name: "generated-gratings",
      provenanceText: "test: generated gratings without a design",
      countWindow: { startMs: 50, endMs: 150, bins: 1 },
      durationMs: 100,
      stimuli,
      units: [{ electrode: "e0", sortedId: 0, flags: [] }],
      repeats: 1,
      averaged: false,
      values: Float64Array.from(images, (_, i) => i),
    }).session.id;
  } finally {
    writer.close();
  }
  store = SessionStore.open(db, { readonly: true });
}, 120_000);

afterAll(() => {
  store?.close();
  tmp.cleanup();
});

describe("tuning channel", () => {
  it("answers the predicted curve of each designed unit beside its measured one, on the same points", async () => {
    const t = await tuning(fx.sessionId);
    expect(t.units.map((u) => `${u.electrode}#${u.sortedId}`)).toEqual(fx.units);
    const rows = store.db
      .prepare("SELECT params_json AS p, predicted_json AS q FROM tuning_images WHERE design_id = ?")
      .all(fx.designId) as { p: string; q: string }[];
    const images = rows.map((r) => ({
      params: JSON.parse(r.p) as { orientationDeg: number; cyclesPerImage: number },
      predicted: JSON.parse(r.q) as Record<string, number>,
    }));
    const mean = (xs: number[]): number => xs.reduce((a, v) => a + v, 0) / xs.length;
    for (const [parameter, values] of [
      ["orientationDeg", [0, 45, 90, 135]],
      ["cyclesPerImage", [2, 4]],
    ] as const) {
      const c = axis(t, parameter);
      expect(c.x).toEqual(values);
      expect(c.predicted).toBeDefined();
      for (const [u, unit] of fx.units.slice(0, 2).entries()) {
        // The mean of the stored predictions over the point's images (the other axis' values and both phases).
        const expected = values.map((v) =>
          mean(images.filter((im) => im.params[parameter] === v).map((im) => im.predicted[unit]!)),
        );
        c.predicted!.meanByUnit[u]!.forEach((p, b) => expect(p).toBeCloseTo(expected[b]!, 9));
        expect(c.predicted!.imagesByUnit[u]).toEqual(values.map(() => 16 / values.length));
        // Recorded as 2 + 3 × prediction ∓ 0.5: the measured point is the same images' mean.
        c.meanByUnit[u]!.forEach((m, b) => expect(m).toBeCloseTo(2 + 3 * expected[b]!, 6));
      }
      expect(c.predicted!.modelsByUnit).toEqual([
        [{ source: "ensemble", modelVersionId: fx.ensembleId, scale: "z-scored" }],
        [{ source: "compact", modelVersionId: fx.compactId, scale: "compact" }],
        [],
      ]);
      // e2#0, which the design did not name: measured, not predicted.
      expect(c.predicted!.meanByUnit[2]).toEqual(values.map(() => null));
      expect(c.meanByUnit[2]).toEqual(values.map(() => 5));
    }
    // The 0° energy filter prefers 0° gratings, the 90° one 90°.
    const o = axis(t, "orientationDeg").predicted!.meanByUnit;
    expect(o[0]!.indexOf(Math.max(...o[0]!.map(Number)))).toBe(0);
    expect(o[1]!.indexOf(Math.max(...o[1]!.map(Number)))).toBe(2);
  });

  it("answers a session without a tuning design as before: measured curves, no prediction", async () => {
    const t = await tuning(plainSessionId);
    expect(t.curves.map((c) => c.axis.parameter)).toEqual(["orientationDeg", "cyclesPerImage", "contrast"]);
    for (const c of t.curves) {
      expect(c.predicted).toBeUndefined();
      expect(c.nByUnit[0]!.reduce((a, n) => a + n, 0)).toBe(12);
    }
  });
});
