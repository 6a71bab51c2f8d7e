import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  findNsfwjsDir,
  packageRootOf,
  frontEndFromArtifacts,
  gaborFrontEnd,
  loadNsfwjsMobileNetV2,
  extractFeatures,
} from "../../src/models/frontend/index.js";
import { DeepEnsemble } from "../../src/models/ensemble/index.js";
import { disagreement, powerSample, selectByDisagreement, type Candidate } from "../../src/models/active/index.js";
import { SeededRandom } from "../../src/models/data/random.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

function images(n: number, size: number, seed: number): Uint8Array[] {
  const rng = new SeededRandom(seed);
  return Array.from({ length: n }, () => Uint8Array.from({ length: size * size * 3 }, () => rng.int(256)));
}

describe("front ends", () => {
  it("Gabor fallback: fixed, labelled not task-driven, pools to the declared shape", async () => {
    const fe = gaborFrontEnd({ inputSize: 28, outputSize: 7, kernelSize: 7, wavelengthsPx: [4] });
    expect(fe.taskDriven).toBe(false);
    expect(fe.name).toMatch(/not task-driven/);
    const before = tf.memory().numTensors;
    const f = await extractFeatures(fe, images(5, 28, 1), 28, { batchSize: 2 });
    expect(f.length).toBe(5 * 7 * 7 * fe.outputShape[2]);
    expect(tf.memory().numTensors).toBe(before);
    // away from the zero-padded border, a uniform image drives the zero-mean Gabors not at all
    const grey = await extractFeatures(fe, [new Uint8Array(28 * 28 * 3).fill(200)], 28);
    const c = fe.outputShape[2];
    const centre = grey.subarray((3 * 7 + 3) * c, (3 * 7 + 3) * c + 8);
    expect(Math.max(...Array.from(centre).map(Math.abs))).toBeLessThan(1e-5);
    fe.dispose();
  });

  it("cuts a converted layers model at a named middle layer, dropping the head", async () => {
    const input = tf.input({ shape: [16, 16, 3] });
    const c1 = tf.layers
      .conv2d({ filters: 4, kernelSize: 3, padding: "same", name: "c1" })
      .apply(input) as tf.SymbolicTensor;
    const mid = tf.layers
      .conv2d({ filters: 6, kernelSize: 3, strides: 2, padding: "same", name: "mid" })
      .apply(c1) as tf.SymbolicTensor;
    const head = tf.layers.dense({ units: 2, name: "head" }).apply(tf.layers.flatten().apply(mid)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: head });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(
      tf.io.withSaveHandler(async (a) => {
        artifacts = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: "JSON" } };
      }),
    );
    model.dispose();
    // A different input size would break the head's dense layer; the cut model never builds it.
    const fe = await frontEndFromArtifacts({
      artifacts: artifacts!,
      outputLayer: "mid",
      inputSize: 32,
      preprocess: "none",
      name: "tiny@mid",
      description: "test",
      taskDriven: true,
    });
    expect(fe.outputShape).toEqual([16, 16, 6]);
    await expect(
      frontEndFromArtifacts({
        artifacts: artifacts!,
        outputLayer: "nope",
        inputSize: 16,
        preprocess: "none",
        name: "tiny",
        description: "",
        taskDriven: true,
      }),
    ).rejects.toThrow(/has no layer nope/);
    fe.dispose();
  });

  it("finds an installed nsfwjs root from its resolved main entry (its exports map hides package.json)", () => {
    const root = mkdtempSync(path.join(tmpdir(), "cl-nsfw-"));
    mkdirSync(path.join(root, "dist", "cjs"), { recursive: true });
    mkdirSync(path.join(root, "dist", "models", "mobilenet_v2"), { recursive: true });
    writeFileSync(path.join(root, "package.json"), JSON.stringify({ name: "nsfwjs", version: "4.4.0" }));
    writeFileSync(path.join(root, "dist", "cjs", "package.json"), JSON.stringify({ type: "commonjs" }));
    writeFileSync(path.join(root, "dist", "models", "mobilenet_v2", "model.min.js"), "");
    expect(packageRootOf(path.join(root, "dist", "cjs", "index.js"), "nsfwjs")).toBe(root);
    expect(packageRootOf(path.join(root, "dist", "cjs", "index.js"), "other")).toBeUndefined();
  });

  it("loads the ImageNet MobileNetV2 shipped in the nsfwjs package when it is installed", async (ctx) => {
    const dir = findNsfwjsDir();
    if (dir === undefined) {
      console.log(
        "skipped: npm package nsfwjs not installed and CORTEXLOOP_NSFWJS_DIR unset; the default front end falls " +
          "back to Gabor",
      );
      ctx.skip();
    }
    const fe = await loadNsfwjsMobileNetV2({ packageDir: dir, inputSize: 112 });
    expect(fe.taskDriven).toBe(true);
    expect(fe.name).toMatch(/imagenet/);
    expect(fe.outputShape).toEqual([7, 7, 64]);
    fe.dispose();
  });
});

describe("active learning", () => {
  it("streams a bank in batches and keeps exactly the top-k by disagreement, with bounded tensors", async () => {
    const fe = gaborFrontEnd({ inputSize: 28, outputSize: 7, kernelSize: 7, wavelengthsPx: [4] });
    const ens = new DeepEnsemble({
      inputShape: [...fe.outputShape],
      members: 3,
      width: 4,
      blocks: 1,
      kernelSize: 3,
      seed: 2,
    });
    ens.resetReadout("s", 5);
    const bank = images(23, 28, 7).map((pixels, i): Candidate => ({ id: `c${i}`, pixels }));
    const before = tf.memory().numTensors;
    function* batches(): Iterable<Candidate[]> {
      for (let i = 0; i < bank.length; i += 4) yield bank.slice(i, i + 4);
    }
    const picked = await selectByDisagreement(batches(), { ensemble: ens, frontEnd: fe, imageSize: 28, k: 5 });
    expect(tf.memory().numTensors).toBe(before);
    // brute force over the whole bank at once
    const all = tf.tidy(() =>
      ens.predictMembers(
        "s",
        fe.apply(tf.tensor4d(Uint8Array.from(bank.flatMap((c) => Array.from(c.pixels))), [23, 28, 28, 3], "int32")),
      ),
    );
    const scores = disagreement(all.dataSync() as Float32Array, 3, 23, 5);
    all.dispose();
    const top = Array.from(scores, (s, i) => ({ id: `c${i}`, s }))
      .sort((a, b) => b.s - a.s)
      .slice(0, 5);
    expect(picked.map((p) => p.id)).toEqual(top.map((t) => t.id));
    const diverse = await selectByDisagreement(batches(), {
      ensemble: ens,
      frontEnd: fe,
      imageSize: 28,
      k: 3,
      coreset: { poolFactor: 3 },
    });
    expect(diverse.length).toBe(3);
    expect(diverse[0]!.id).toBe(top[0]!.id);
    // Power sampling keeps every score and draws from all of them, exactly as powerSample does on the whole bank's
    // scores.
    const drawn = await selectByDisagreement(batches(), {
      ensemble: ens,
      frontEnd: fe,
      imageSize: 28,
      k: 5,
      power: { exponent: 4, seed: 11 },
    });
    const expected = powerSample(Float64Array.from(scores), 5, 4, new SeededRandom(11));
    expect(drawn.map((p) => p.id)).toEqual(expected.map((i) => `c${i}`));
    expect(drawn.map((p) => p.score)).toEqual(expected.map((i) => scores[i]));
    expect(tf.memory().numTensors).toBe(before);
    await expect(
      selectByDisagreement(batches(), {
        ensemble: ens,
        frontEnd: fe,
        imageSize: 28,
        k: 3,
        coreset: { poolFactor: 3 },
        power: { exponent: 4, seed: 1 },
      }),
    ).rejects.toThrow(/k-centre thinning or power sampling, not both/);
    ens.dispose();
    fe.dispose();
  });
});
