import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { importRecordedSession } from "../../src/main/import/recorded.js";
import { evaluateSessions } from "../../src/main/jobs/evaluate.js";
import { selectFromBank } from "../../src/main/jobs/select.js";
import { SessionStore } from "../../src/main/store/index.js";
import { encodePng } from "../../src/stimulus/index.js";
import { encodeNumericNpy } from "../../src/models/data/npy-numeric.js";
import { loadEnsemble } from "../../src/models/ensemble/index.js";
import { SeededRandom } from "../../src/models/data/random.js";

describe("evaluate (end to end on a synthetic imported session)", () => {
  it("trains, scores held-out images for ensemble and ridge, and stores a loadable model version", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "cl-eval-"));
    const rng = new SeededRandom(11);
    const n = 40;
    const units = 3;
    const values = new Array<number>(units * n).fill(0);
    for (let k = 1; k <= n; k++) {
      const rgb = [rng.int(256), rng.int(256), rng.int(256)];
      const px = new Uint8Array(16 * 16 * 3);
      for (let p = 0; p < 256; p++) for (let c = 0; c < 3; c++) px[p * 3 + c] = p % 16 < 8 ? rgb[c]! : 255 - rgb[c]!;
      writeFileSync(
        path.join(dir, `image${String(k).padStart(4, "0")}.png`),
        await encodePng({ width: 16, height: 16, pixels0to255: px }),
      );
      for (let u = 0; u < units; u++) values[u * n + (k - 1)] = rgb[u]! / 255 + 0.05 * rng.next();
    }
    const resp = path.join(dir, "r.npy");
    writeFileSync(resp, encodeNumericNpy([units, n], values));
    const store = SessionStore.open(path.join(dir, "lab.db"));
    await importRecordedSession(store, { imagesPath: dir, responsesPath: resp, sessionName: "synthetic" });
    const lines: string[] = [];
    const report = await evaluateSessions(store, {
      sessions: ["synthetic"],
      frontEnd: { kind: "gabor", inputSize: 32 },
      imageSize: 32,
      members: 2,
      width: 4,
      blocks: 1,
      maxCycles: 1,
      readoutSteps: 5,
      backend: "cpu",
      save: true,
      log: (l) => lines.push(l),
    });
    expect(report.taskDriven).toBe(false);
    expect(report.sessions[0]!.metric).toBe("r2raw");
    expect(report.sessions[0]!.testImages).toBe(8);
    // the ridge baseline reads colour off the Gabor/colour channels easily
    expect(report.sessions[0]!.ridgeMedian).toBeGreaterThan(0.5);
    expect(Number.isFinite(report.sessions[0]!.ensembleMedian)).toBe(true);
    const version = store.getModelVersion(report.modelVersionId!);
    expect(version?.kind).toBe("deep-ensemble");
    const loaded = loadEnsemble(version!.checkpoint!, `model version ${report.modelVersionId}`);
    expect(loaded.frontEnd).toMatch(/gabor/);
    loaded.ensemble.dispose();
    expect(lines.join("\n")).toMatch(/session synthetic: 40 images, 3 units/);
    expect(tf.getBackend()).toBe("cpu");
    // active learning with the stored version: top 3 of the bank, written as PNGs + selection.json
    const out = path.join(dir, "picked");
    const picked = await selectFromBank(store, {
      modelVersionId: report.modelVersionId!,
      bank: dir,
      k: 3,
      gaudySigmaPx: 1,
      outDir: out,
    });
    expect(picked.length).toBe(3);
    expect(picked[0]!.score).toBeGreaterThanOrEqual(picked[2]!.score);
    const selection = JSON.parse(readFileSync(path.join(out, "selection.json"), "utf8")) as {
      selected: { file: string }[];
    };
    expect(selection.selected.map((s) => s.file)).toEqual(["image0001.png", "image0002.png", "image0003.png"]);
    // Power sampling: seeded draws, the rule recorded beside the picks; the same seed draws the same images.
    const drawn = await selectFromBank(store, {
      modelVersionId: report.modelVersionId!,
      bank: dir,
      k: 3,
      power: 2,
      seed: 5,
      outDir: path.join(dir, "drawn"),
    });
    const again = await selectFromBank(store, {
      modelVersionId: report.modelVersionId!,
      bank: dir,
      k: 3,
      power: 2,
      seed: 5,
      outDir: path.join(dir, "drawn-again"),
    });
    expect(drawn.map((p) => p.id)).toEqual(again.map((p) => p.id));
    expect(new Set(drawn.map((p) => p.id)).size).toBe(3);
    expect(
      (JSON.parse(readFileSync(path.join(dir, "drawn", "selection.json"), "utf8")) as { rule: unknown }).rule,
    ).toEqual({ power: 2, seed: 5 });
    await expect(
      selectFromBank(store, {
        modelVersionId: report.modelVersionId!,
        bank: dir,
        k: 3,
        power: 2,
        coresetPoolFactor: 3,
        outDir: path.join(dir, "both"),
      }),
    ).rejects.toThrow(/Choose --coreset or --power, not both; nothing was scored/);
    await expect(
      selectFromBank(store, {
        modelVersionId: report.modelVersionId!,
        bank: dir,
        k: 3,
        power: -2,
        outDir: path.join(dir, "negative"),
      }),
    ).rejects.toThrow(/--power must be a number ≥ 0, got -2; nothing was scored/);
    expect(existsSync(path.join(dir, "both"))).toBe(false);
    store.close();
  });
});
