// Held-out-session evaluation and predict, end to end on small synthetic imported sessions (Gabor
// front end, cpu backend): folds, scores, output files checked by an independent NumPy script, and
// the refusals of bad input.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { importRecordedSession } from "../../src/main/import/recorded.js";
import { evaluateHeldOut, HeldOutError } from "../../src/main/jobs/heldout.js";
import { writeHeldOutOutput } from "../../src/main/jobs/heldout-output.js";
import { evaluateSessions } from "../../src/main/jobs/evaluate.js";
import { predictImages, PredictError } from "../../src/main/jobs/predict.js";
import { SessionStore } from "../../src/main/store/index.js";
import { parseNumericNpy } from "../../src/models/data/npy-numeric.js";
import { kFolds, stableSeed } from "../../src/models/data/random.js";
import { r2Raw } from "../../src/models/metrics/r2-raw.js";
import { pythonWithNumpy } from "../../src/models/compact/test-python.js";
import { stripesSession } from "../helpers/stripes-session.js";
import { tempDir } from "../helpers/tmp.js";

const tiny = {
  frontEnd: { kind: "gabor", inputSize: 32 },
  imageSize: 32,
  members: 2,
  width: 4,
  blocks: 1,
  maxCycles: 2,
  readoutSteps: 40,
  backend: "cpu",
  featureCache: true,
} as const;

describe("folds and splits", () => {
  it("k folds cover every index once, and a seed from an identity does not depend on list position", () => {
    const folds = kFolds(23, 5, 9);
    expect(folds.map((f) => f.length).sort()).toEqual([4, 4, 5, 5, 5]);
    expect(folds.flat().sort((a, b) => a - b)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(kFolds(23, 5, 9)).toEqual(folds);
    expect(stableSeed("190925", 1)).toBe(stableSeed("190925", 1));
    expect(stableSeed("190925", 1)).not.toBe(stableSeed("190927", 1));
    expect(stableSeed("190925", 1)).not.toBe(stableSeed("190925", 2));
    expect(() => kFolds(3, 5, 1)).toThrow(/cannot fill 5 folds/);
  });
});

describe("evaluate --heldout and predict (synthetic sessions)", () => {
  it(
    "pretrains on the other sessions, predicts every held-out image once, writes files a NumPy script agrees " +
      "with, and refuses bad input",
    async () => {
      const tmp = tempDir("cl-heldout-");
      const dir = tmp.dir;
      const store = SessionStore.open(path.join(dir, "lab.db"));
      try {
        const a = await stripesSession(dir, "a", 30, 3, 1);
        const b = await stripesSession(dir, "b", 30, 2, 2);
        const c = await stripesSession(dir, "c", 40, 4, 3);
        for (const [name, s] of [
          ["a", a],
          ["b", b],
          ["c", c],
        ] as const)
          await importRecordedSession(store, { imagesPath: s.images, responsesPath: s.responses, sessionName: name });
        const lines: string[] = [];
        const report = await evaluateHeldOut(store, { ...tiny, heldout: "c", folds: 4, log: (l) => lines.push(l) });
        expect(report.pretrain.map((p) => p.name).sort()).toEqual(["a", "b"]);
        expect(report.folds.flat().sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i));
        for (const m of ["ensemble", "skip", "ridge", "factorized"] as const) {
          expect(report.predictions[m]!.every(Number.isFinite)).toBe(true);
          expect(report.units.every((u) => Number.isFinite(u.r2raw[m]))).toBe(true);
        }
        // Colour is linear in the Gabor front end's colour channels: ridge reads it off.
        expect(report.medians.r2raw.ridge).toBeGreaterThan(0.5);
        // The skip readout may weigh the front end's features alone, so it reads colour off as ridge does.
        expect(report.medians.r2raw.skip).toBeGreaterThan(0.5);
        expect(report.tests.map((t) => `${t.model}-${t.versus}`)).toEqual([
          "ensemble-ridge",
          "ensemble-factorized",
          "skip-ridge",
          "skip-factorized",
        ]);
        expect(lines.join("\n")).toMatch(/pretraining 2 members on 2 session\(s\)/);
        // The feature cache beside the database is used the second time.
        expect(existsSync(path.join(dir, "lab.db.features"))).toBe(true);
        const again = await evaluateHeldOut(store, {
          ...tiny,
          heldout: "c",
          pretrain: ["a"],
          folds: 4,
          models: ["ridge"],
          log: (l) => lines.push(l),
        });
        expect(lines.filter((l) => /from the feature cache/.test(l)).length).toBe(2);
        // The same session and seed give the same folds whatever else is listed.
        expect(again.folds).toEqual(report.folds);
        expect(again.predictions.ridge).toEqual(report.predictions.ridge);

        const out = path.join(dir, "out");
        writeHeldOutOutput(report, out);
        for (const f of ["units.csv", "folds.csv", "predictions.csv", "report.json"])
          expect(existsSync(path.join(out, f))).toBe(true);
        const py = pythonWithNumpy();
        if (py === undefined)
          console.log("heldout.test: NumPy cross-check skipped: no python3 with numpy (apt-get install python3-numpy)");
        else {
          // An independent script: squared correlation per unit from predictions.csv, against units.csv.
          const script = `
import csv, sys, numpy as np
rows = list(csv.DictReader(open(sys.argv[1])))
units = list(csv.DictReader(open(sys.argv[2])))
worst = 0.0
for u in units:
    for m in ("ensemble", "skip", "ridge", "factorized"):
        r = [x for x in rows if x["unit"] == u["unit"]]
        y = np.array([float(x["response"]) for x in r]); p = np.array([float(x[m]) for x in r])
        c = np.corrcoef(p, y)[0, 1]
        worst = max(worst, abs(c * c - float(u["r2raw_" + m])))
print(worst)`;
          const worst = Number(
            execFileSync(py, ["-c", script, path.join(out, "predictions.csv"), path.join(out, "units.csv")])
              .toString()
              .trim(),
          );
          expect(worst).toBeLessThan(1e-6);
        }

        // Bad input: each a clear error, nothing stored.
        const versions = store.listModelVersions().length;
        await expect(evaluateHeldOut(store, { ...tiny, heldout: "nope" })).rejects.toThrow(
          /--heldout nope: No session "nope"/,
        );
        await expect(evaluateHeldOut(store, { ...tiny, heldout: "c", pretrain: ["a", "c"] })).rejects.toThrow(
          /both held out and in --pretrain/,
        );
        await expect(evaluateHeldOut(store, { ...tiny, heldout: "c", folds: 25 })).rejects.toThrow(
          /40 images, too few for 25 folds/,
        );
        await expect(evaluateHeldOut(store, { ...tiny, heldout: "c", folds: 1 })).rejects.toThrow(HeldOutError);
        expect(store.listModelVersions().length).toBe(versions);

        // predict: a stored ensemble's predictions of session a's units, as CSV and as .npy (units × images).
        const trained = await evaluateSessions(store, {
          ...tiny,
          sessions: ["a", "b"],
          readoutSteps: 20,
          save: true,
          testFraction: 0.2,
        });
        const id = trained.modelVersionId!;
        const csvFile = path.join(dir, "preds.csv");
        const npyFile = path.join(dir, "preds.npy");
        await expect(predictImages(store, { modelVersionId: id, images: a.images, out: csvFile })).rejects.toThrow(
          /readouts for 2 sessions \(a, b\); say whose units/,
        );
        const viaCsv = await predictImages(store, { modelVersionId: id, images: a.images, session: "a", out: csvFile });
        await predictImages(store, { modelVersionId: id, images: a.images, session: "a", out: npyFile });
        expect(viaCsv.scale).toBe("responses");
        expect(viaCsv.images.length).toBe(30);
        expect(readFileSync(csvFile, "utf8").split("\n")[0]).toBe("image,Electrode 0,Electrode 1,Electrode 2");
        const npy = parseNumericNpy(readFileSync(npyFile), npyFile);
        expect(npy.shape).toEqual([3, 30]);
        for (let u = 0; u < 3; u++)
          for (let i = 0; i < 30; i++) expect(npy.data[u * 30 + i]!).toBeCloseTo(viaCsv.predictions[i * 3 + u]!, 5);
        if (py !== undefined) {
          const ours = Array.from({ length: 3 }, (_, u) =>
            r2Raw(
              Float64Array.from({ length: 30 }, (_, i) => viaCsv.predictions[i * 3 + u]!),
              a.values.slice(u * 30, (u + 1) * 30),
            ),
          );
          const script =
            "import sys, numpy as np\np = np.load(sys.argv[1]); y = np.load(sys.argv[2])\nprint(' " +
            "'.join(str(np.corrcoef(p[u], y[u])[0, 1] ** 2) for u in range(p.shape[0])))";
          const theirs = execFileSync(py, ["-c", script, npyFile, a.responses])
            .toString()
            .trim()
            .split(" ")
            .map(Number);
          theirs.forEach((v, u) => expect(Math.abs(v - ours[u]!)).toBeLessThan(1e-6));
        }
        // Wrong image size, a model version that is not an ensemble: clear errors, no file written.
        const big = await stripesSession(dir, "big", 3, 1, 4, 40);
        const bad = path.join(dir, "bad.csv");
        await expect(
          predictImages(store, { modelVersionId: id, images: big.images, session: "a", out: bad }),
        ).rejects.toThrow(/is 40×40; model version \d+ takes 32×32/);
        const other = store.putModelVersion({ name: "a compact model", kind: "compact-model", config: {} });
        await expect(predictImages(store, { modelVersionId: other, images: a.images, out: bad })).rejects.toThrow(
          /is a compact-model, not a deep ensemble/,
        );
        await expect(
          predictImages(store, { modelVersionId: id, images: a.images, session: "a", out: path.join(dir, "x.txt") }),
        ).rejects.toThrow(PredictError);
        expect(existsSync(bad)).toBe(false);
      } finally {
        store.close();
        tmp.cleanup();
      }
    },
    300_000,
  );
});
