import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  CompactFormatError,
  compactModelArrays,
  compactModelFromArrays,
  compactModelWeightShapes,
  compactWeightShapes,
  createCompactModel,
  loadCompactModelFromNpy,
} from "./model.js";
import { readNpy, type NdArray } from "./npy.js";
import { npyObjectArrayBytes } from "./npy-write.js";
import { pythonWithNumpy } from "./test-python.js";
import { randomValues, TOL, useWasm } from "../kernels/test_util.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const shared = process.env.CORTEXLOOP_SHARED ?? path.resolve(repoRoot, "..", "shared");
const modelsDir = path.join(shared, "data", "v4", "compact_models");
const haveModels = existsSync(modelsDir);
if (!haveModels)
  console.log(`compact.test: skipping published-model tests: ${modelsDir} not found (set CORTEXLOOP_SHARED)`);

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

describe("the published 36-array layout", () => {
  const small = [4, 5, 3, 3, 2];
  function arraysOf(): NdArray[] {
    const model = createCompactModel(small, { seed: 5 });
    const arrays = compactModelArrays(model);
    model.dispose();
    return arrays;
  }

  it("round-trips a model through its arrays and .npy bytes: same weights, same predictions", async () => {
    const model = createCompactModel(small, { seed: 5 });
    const arrays = compactModelArrays(model);
    expect(arrays.map((a) => a.shape)).toEqual(compactWeightShapes(small));
    const dir = mkdtempSync(path.join(tmpdir(), "compact-model-"));
    try {
      const file = path.join(dir, "m.npy");
      writeFileSync(file, npyObjectArrayBytes(arrays));
      const back = await loadCompactModelFromNpy(file);
      compactModelArrays(back).forEach((a, i) => expect(Array.from(a.data)).toEqual(Array.from(arrays[i]!.data)));
      const x = tf.tensor4d(
        Float32Array.from(randomValues(2 * 112 * 112 * 3, 4), (v) => (v + 1) * 127.5),
        [2, 112, 112, 3],
      );
      const [p, q] = [model, back].map((m) => (m.predict(x) as tf.Tensor).dataSync());
      expect(Array.from(q!)).toEqual(Array.from(p!));
      x.dispose();
      back.dispose();
    } finally {
      model.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a missing array, naming the first one missing", () => {
    const arrays = arraysOf().slice(0, 35);
    expect(() => compactModelFromArrays(arrays, "m.npy")).toThrow(CompactFormatError);
    expect(() => compactModelFromArrays(arrays, "m.npy")).toThrow(
      /m\.npy .*35 arrays, not 36 \(the first missing is array 35, the readout bias\)\. Nothing was loaded/,
    );
  });

  it("refuses a misshaped array, naming it and the shape it should have", () => {
    const arrays = arraysOf();
    arrays[7] = { shape: [1, 1, 4, 6], dtype: "f4", data: new Float32Array(24) };
    expect(() => compactModelFromArrays(arrays, "m.npy")).toThrow(
      /array 7 \(layer 1 pointwise kernel\) has shape \(1,1,4,6\), expected \(1,1,4,5\)/,
    );
  });

  it("refuses a weight that is not finite, and a file that is not an object array", async () => {
    const arrays = arraysOf();
    arrays[35] = { shape: [1], dtype: "f4", data: Float32Array.of(Number.NaN) };
    expect(() => compactModelFromArrays(arrays, "m.npy")).toThrow(/array 35 \(readout bias\) holds NaN/);
    const dir = mkdtempSync(path.join(tmpdir(), "compact-model-"));
    try {
      const file = path.join(dir, "not-a-model.npy");
      writeFileSync(file, "this is not numpy");
      await expect(loadCompactModelFromNpy(file)).rejects.toThrow(
        /not-a-model\.npy is not in the published 36-array layout: .*bad magic.*Nothing was loaded/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!haveModels)("loadCompactModelFromNpy (published models)", () => {
  const files = haveModels
    ? readdirSync(modelsDir)
        .filter((f) => f.endsWith(".npy"))
        .sort()
    : [];

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
    const script = [
      "import sys,json,numpy as np",
      "a=np.load(sys.argv[1],allow_pickle=True)",
      "f=lambda x: np.asarray(x,dtype=np.float64)",
      "print(json.dumps([[list(x.shape),float(f(x).sum()),float(f(x).ravel()[0])] for x in a]))",
    ].join("\n");
    const ref = JSON.parse(execFileSync(py, ["-c", script, file], { encoding: "utf8" })) as [
      number[],
      number,
      number,
    ][];
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
    const predict = (): Float32Array =>
      tf.tidy(() => (model.predict(tf.tensor4d(pixels, [2, 112, 112, 3])) as tf.Tensor).dataSync() as Float32Array);
    await tf.setBackend("cpu");
    const onCpu = predict();
    await useWasm();
    const onWasm = predict();
    for (let i = 0; i < 2; i++)
      expect(Math.abs(onWasm[i]! - onCpu[i]!)).toBeLessThanOrEqual(TOL * Math.max(1, Math.abs(onCpu[i]!)));
    model.dispose();
  });
});
