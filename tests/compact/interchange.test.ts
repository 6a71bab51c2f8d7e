import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  compactModelFromArrays,
  FastCompactModel,
  npyObjectArrayBytes,
  parseNpy,
  type NdArray,
} from "../../src/models/compact/index.js";
import { selectBackend } from "../../src/models/backend.js";
import { pythonWithNumpy } from "../../src/models/compact/test-python.js";
import { SessionStore } from "../../src/main/store/index.js";
import { startDistillJob } from "../../src/main/jobs/start-distill.js";
import { exportCompactModels, importCompactModels } from "../../src/main/compact/interchange.js";
import { compactVersion, listCompactVersions } from "../../src/main/compact/versions.js";
import { generateImages } from "../../src/stimulus/index.js";
import { repoRoot, tempDir } from "../helpers/tmp.js";
import { compactFixture, tinySettings, type CompactFixture } from "./fixture.js";

const shared = process.env.CORTEXLOOP_SHARED ?? resolve(repoRoot, "..", "shared");
const publishedDir = join(shared, "data", "v4", "compact_models");
const havePublished = existsSync(publishedDir);
if (!havePublished)
  console.log(
    `interchange.test: published-model round trip skipped: ${publishedDir} not found (set CORTEXLOOP_SHARED)`,
  );

const tmp = tempDir("cl-compact-io-");
let fx: CompactFixture;
let distilledId: number;

beforeAll(async () => {
  await selectBackend({ prefer: "wasm", log: () => undefined });
  fx = await compactFixture(tmp.dir);
  const store = SessionStore.open(fx.db);
  try {
    const final = await startDistillJob(store, { teacher: fx.teacherId, units: ["e1#0"], settings: tinySettings }).done;
    if (final.type !== "done")
      throw new Error(`fixture distillation ${final.type}: ${final.type === "failed" ? final.message : ""}`);
    distilledId = final.summary.units[0]!.modelVersionId;
  } finally {
    store.close();
  }
}, 300_000);
afterAll(() => tmp.cleanup());

/** The project's predictions (inference form) for images [n,112,112,3] 0..255. */
function projectPredict(arrays: NdArray[], pixels: Uint8Array, n: number): Float32Array {
  const model = compactModelFromArrays(arrays, "test");
  const fast = FastCompactModel.fromModel(model);
  model.dispose();
  const out = tf.tidy(
    () => fast.predict(tf.tensor4d(Float32Array.from(pixels), [n, 112, 112, 3])).dataSync() as Float32Array,
  );
  fast.dispose();
  return out;
}

// An independent reader: NumPy only (np.load and array arithmetic), nothing of the project.
const numpyForward = `
import sys, json, numpy as np
from numpy.lib.stride_tricks import sliding_window_view
a = np.load(sys.argv[1], allow_pickle=True)
x_all = np.fromfile(sys.argv[2], dtype=np.uint8).reshape(-1, 112, 112, 3).astype(np.float64) - np.array([116.222,
109.270, 100.381])
def windows(x, stride):
    n = x.shape[1]
    if stride == 1:
        p = (2, 2)
    else:
        out = -(-n // stride); total = max((out - 1) * stride + 5 - n, 0); p = (total // 2, total - total // 2)
    w = sliding_window_view(np.pad(x, ((0, 0), p, p, (0, 0))), (5, 5), axis=(1, 2))
    return w[:, ::stride, ::stride]
def bn_relu(z, g, b, m, v):
    return np.maximum((z - m) / np.sqrt(v + 1e-3) * g + b, 0)
out = []
for s in range(0, x_all.shape[0], 10):
    x = x_all[s:s + 10]
    x = bn_relu(np.einsum('nhwcij,ijck->nhwk', windows(x, 1), a[0].astype(np.float64)) + a[1], *a[2:6])
    for layer, stride in zip(range(1, 5), [2, 2, 1, 1]):
        i = 6 + 7 * (layer - 1)
        d = np.einsum('nhwcij,ijc->nhwc', windows(x, stride), a[i][:, :, :, 0].astype(np.float64))
        x = bn_relu(d @ a[i + 1][0, 0].astype(np.float64) + a[i + 2], *a[i + 3:i + 7])
    out.extend((x.reshape(x.shape[0], -1) @ a[34].astype(np.float64) + a[35]).ravel().tolist())
print(json.dumps(out))
`;

describe("compact export / import (the published 36-array layout)", () => {
  it(
    "an exported distilled model, read by an independent NumPy reader, predicts what the project predicts on 100 " +
      "images (1e-4 relative)",
    (ctx) => {
      const py = pythonWithNumpy();
      if (py === undefined) {
        console.log("interchange.test: NumPy reader skipped: no python3 with numpy (apt-get install python3-numpy)");
        ctx.skip();
        return;
      }
      const store = SessionStore.open(fx.db);
      try {
        const out = join(tmp.dir, "export-distilled");
        const [written] = exportCompactModels(store, { modelVersionId: distilledId }, out);
        expect(written!.file).toMatch(/compact_model_S1_neuron1\.npy$/);
        const images = [
          ...generateImages("noise", 40, 112, 7),
          ...generateImages("gratings", 30, 112, 8),
          ...generateImages("dots", 30, 112, 9),
        ];
        const pixels = new Uint8Array(100 * 112 * 112 * 3);
        images.forEach((im, i) => pixels.set(im.pixels0to255, i * im.pixels0to255.length));
        const raw = join(tmp.dir, "images.u8");
        writeFileSync(raw, pixels);
        const theirs = JSON.parse(
          execFileSync(py, ["-c", numpyForward, written!.file, raw], { encoding: "utf8", maxBuffer: 1 << 24 }),
        ) as number[];
        const ours = projectPredict(compactVersion(store, distilledId).arrays, pixels, 100);
        expect(theirs).toHaveLength(100);
        const scale = Math.max(...theirs.map(Math.abs));
        const spread = Math.max(...theirs) - Math.min(...theirs);
        // Not vacuous: the model's outputs vary across the images.
        expect(spread).toBeGreaterThan(1e-3 * scale);
        const worst = Math.max(...theirs.map((v, i) => Math.abs(v - ours[i]!)));
        expect(worst / scale).toBeLessThanOrEqual(1e-4);
      } finally {
        store.close();
      }
    },
    120_000,
  );

  it.skipIf(!havePublished)(
    "published models: import → export → import gives the same bytes and the same predictions",
    () => {
      const store = SessionStore.open(fx.db);
      try {
        const files = readdirSync(publishedDir)
          .filter((f) => f.endsWith(".npy"))
          .sort()
          .slice(0, 3);
        const src = join(tmp.dir, "published-three");
        mkdirSync(src, { recursive: true });
        for (const f of files) writeFileSync(join(src, f), readFileSync(join(publishedDir, f)));
        const first = importCompactModels(store, src);
        expect(first.map((m) => m.file.split("/").pop())).toEqual(files);
        const out = join(tmp.dir, "published-out");
        const written = exportCompactModels(store, { modelVersionId: first[0]!.modelVersionId }, out);
        expect(written[0]!.file.split("/").pop()).toBe(files[0]);
        const second = importCompactModels(store, written[0]!.file);
        const a = compactVersion(store, first[0]!.modelVersionId);
        const b = compactVersion(store, second[0]!.modelVersionId);
        expect(Buffer.from(b.bytes).equals(Buffer.from(a.bytes))).toBe(true);
        const pixels = new Uint8Array(4 * 112 * 112 * 3).map((_, i) => (i * 37) % 256);
        expect(Array.from(projectPredict(b.arrays, pixels, 4))).toEqual(
          Array.from(projectPredict(a.arrays, pixels, 4)),
        );
        // And the export is what the published file holds, array for array.
        const original = parseNpy(new Uint8Array(readFileSync(join(publishedDir, files[0]!)))) as NdArray[];
        (parseNpy(new Uint8Array(readFileSync(written[0]!.file))) as NdArray[]).forEach((arr, i) => {
          expect(arr.shape).toEqual(original[i]!.shape);
          expect(Array.from(arr.data)).toEqual(Array.from(original[i]!.data));
        });
      } finally {
        store.close();
      }
    },
  );

  it(
    "refuses a folder with a model missing an array or with a misshaped one: names the file and the array, stores " +
      "none",
    () => {
      const store = SessionStore.open(fx.db);
      try {
        const good = compactVersion(store, distilledId).arrays;
        const dir = join(tmp.dir, "bad-import");
        mkdirSync(dir, { recursive: true });
        writeFileSync(join(dir, "compact_model_x_neuron0.npy"), npyObjectArrayBytes(good));
        writeFileSync(join(dir, "compact_model_x_neuron1.npy"), npyObjectArrayBytes(good.slice(0, 35)));
        const before = listCompactVersions(store).length;
        expect(() => importCompactModels(store, dir)).toThrow(
          new RegExp(
            "compact_model_x_neuron1\\.npy is not in the published 36-array layout: it holds 35 arrays, " +
              "not 36 \\(the first missing is array 35, the readout bias\\).*None of the 2 files was imported",
          ),
        );
        const misshaped = [...good];
        misshaped[34] = { shape: [10, 1], dtype: "f4", data: new Float32Array(10) };
        writeFileSync(join(dir, "compact_model_x_neuron1.npy"), npyObjectArrayBytes(misshaped));
        expect(() => importCompactModels(store, dir)).toThrow(
          /array 34 \(readout kernel\) has shape \(10,1\), expected/,
        );
        expect(listCompactVersions(store).length).toBe(before);
      } finally {
        store.close();
      }
    },
  );

  it("an export to a folder that cannot be written is a clear error, and the stored model is unchanged", () => {
    const store = SessionStore.open(fx.db);
    try {
      const before = compactVersion(store, distilledId).bytes;
      const blocker = join(tmp.dir, "a-file");
      writeFileSync(blocker, "not a folder");
      expect(() => exportCompactModels(store, { modelVersionId: distilledId }, join(blocker, "out"))).toThrow(
        /Cannot create .*a-file\/out .*nothing was exported and the stored models are unchanged/,
      );
      expect(() => exportCompactModels(store, { modelVersionId: fx.teacherId }, join(tmp.dir, "x"))).toThrow(
        /is a deep-ensemble, not a compact model/,
      );
      expect(Buffer.from(compactVersion(store, distilledId).bytes).equals(Buffer.from(before))).toBe(true);
    } finally {
      store.close();
    }
  });
});
