import { execFileSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { compactModelWeightShapes, compactWeightShapes, createCompactModel, loadCompactModelFromNpy } from "./model.js";
import { readNpy } from "./npy.js";
import { randomValues, TOL, useWasm } from "../kernels/test_util.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const shared = process.env.CORTEXLOOP_SHARED ?? path.resolve(repoRoot, "..", "shared");
const modelsDir = path.join(shared, "data", "v4", "compact_models");
const haveModels = existsSync(modelsDir);
if (!haveModels) console.log(`compact.test: skipping published-model tests: ${modelsDir} not found (set CORTEXLOOP_SHARED)`);

function pythonWithNumpy(): string | undefined {
  for (const py of ["python3", "/usr/bin/python3"]) {
    try {
      execFileSync(py, ["-c", "import numpy"], { stdio: "ignore" });
      return py;
    } catch {
      // try the next interpreter
    }
  }
  return undefined;
}

beforeAll(async () => {
  await useWasm();
});

describe("createCompactModel", () => {
  it("has the published layout for [100]*5", () => {
    const model = createCompactModel([100, 100, 100, 100, 100]);
    expect(model.outputs[0]!.shape).toEqual([null, 1]);
    expect(compactModelWeightShapes(model)).toEqual(compactWeightShapes([100, 100, 100, 100, 100]));
    model.dispose();
  });
});

describe.skipIf(!haveModels)("loadCompactModelFromNpy (published models)", () => {
  const files = haveModels ? readdirSync(modelsDir).filter((f) => f.endsWith(".npy")).sort() : [];

  it("loads every published model with the README's shapes", async () => {
    expect(files.length).toBeGreaterThan(100);
    for (const f of files) {
      const model = await loadCompactModelFromNpy(path.join(modelsDir, f));
      expect(model.getWeights().length).toBe(36);
      model.dispose();
    }
  });

  it("reads the same numbers as NumPy", async (ctx) => {
    const py = pythonWithNumpy();
    if (py === undefined) {
      console.log("compact.test: numpy cross-check skipped: no python3 with numpy");
      ctx.skip();
      return;
    }
    const file = path.join(modelsDir, files[0]!);
    const script = "import sys,json,numpy as np\na=np.load(sys.argv[1],allow_pickle=True)\nprint(json.dumps([[list(x.shape),float(np.asarray(x,dtype=np.float64).sum()),float(np.asarray(x,dtype=np.float64).ravel()[0])] for x in a]))";
    const ref = JSON.parse(execFileSync(py, ["-c", script, file], { encoding: "utf8" })) as [number[], number, number][];
    const arrays = await readNpy(file);
    expect(Array.isArray(arrays)).toBe(true);
    if (!Array.isArray(arrays)) return;
    arrays.forEach((a, i) => {
      const [shape, sum, first] = ref[i]!;
      expect(a.shape).toEqual(shape);
      let s = 0;
      for (const v of a.data) s += v;
      expect(Math.abs(s - sum)).toBeLessThanOrEqual(1e-3 * Math.max(1, Math.abs(sum)));
      expect(a.data[0]).toBeCloseTo(first, 6);
    });
  });

  it("predicts the same on wasm and cpu", async () => {
    const model = await loadCompactModelFromNpy(path.join(modelsDir, files[0]!));
    const pixels = Float32Array.from(randomValues(2 * 112 * 112 * 3, 99), (v) => (v + 1) * 127.5);
    const predict = (): Float32Array => tf.tidy(() => (model.predict(tf.tensor4d(pixels, [2, 112, 112, 3])) as tf.Tensor).dataSync() as Float32Array);
    await tf.setBackend("cpu");
    const onCpu = predict();
    await useWasm();
    const onWasm = predict();
    for (let i = 0; i < 2; i++) expect(Math.abs(onWasm[i]! - onCpu[i]!)).toBeLessThanOrEqual(TOL * Math.max(1, Math.abs(onCpu[i]!)));
    model.dispose();
  });
});
