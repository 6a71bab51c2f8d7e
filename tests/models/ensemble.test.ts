import * as tf from "@tensorflow/tfjs";
import { beforeAll, describe, expect, it } from "vitest";
import {
  channelStats,
  CheckpointError,
  DeepEnsemble,
  gatherBatch,
  loadEnsemble,
  predictSession,
  refitReadouts,
  saveEnsemble,
  trainEnsemble,
  trainStep,
  type EnsembleConfig,
  type TrainingSession,
} from "../../src/models/ensemble/index.js";
import { coreVariables, readoutVariables } from "../../src/models/ensemble/weights.js";
import { ridgeFit, cholesky, choleskySolve } from "../../src/models/ensemble/ridge.js";
import { SeededRandom, splitIndices } from "../../src/models/data/random.js";
import { scoreUnits } from "../../src/models/ensemble/train.js";
import { r2er } from "../../src/models/metrics/r2er.js";

beforeAll(async () => {
  await tf.setBackend("cpu");
});

const config: EnsembleConfig = { inputShape: [4, 4, 3], members: 3, width: 8, blocks: 1, kernelSize: 3, seed: 5 };

function synthetic(key: string, n: number, units: number, seed: number): TrainingSession {
  const rng = new SeededRandom(seed);
  const per = 4 * 4 * 3;
  const features = Float32Array.from({ length: n * per }, () => rng.next());
  const w = Float32Array.from({ length: per * units }, () => rng.next() - 0.5);
  const targets = new Float32Array(n * units);
  for (let i = 0; i < n; i++)
    for (let u = 0; u < units; u++) {
      let s = 0;
      for (let j = 0; j < per; j++) s += features[i * per + j]! * w[j * units + u]!;
      targets[i * units + u] = s;
    }
  // z-score per unit, and one excluded unit (NaN) to exercise the mask
  for (let u = 0; u < units; u++) {
    const col = Array.from({ length: n }, (_, i) => targets[i * units + u]!);
    const m = col.reduce((a, b) => a + b, 0) / n;
    const sd = Math.sqrt(col.reduce((a, b) => a + (b - m) ** 2, 0) / (n - 1));
    for (let i = 0; i < n; i++)
      targets[i * units + u] = u === units - 1 ? Number.NaN : (targets[i * units + u]! - m) / sd;
  }
  const { train, test } = splitIndices(n, 0.25, seed);
  return { key, features, targets, units, trainIdx: train, valIdx: test };
}

/**
 * Mean squared error of the ensemble's predictions on images idx, over units with a target (by hand, not the code under
 * test).
 */
function maskedMse(ens: DeepEnsemble, s: TrainingSession, idx: number[]): number {
  const pred = predictSession(ens, s, idx);
  let sum = 0;
  let n = 0;
  idx.forEach((i, r) => {
    for (let u = 0; u < s.units; u++) {
      const t = s.targets[i * s.units + u]!;
      if (Number.isNaN(t)) continue;
      sum += (pred[r * s.units + u]! - t) ** 2;
      n++;
    }
  });
  return sum / n;
}

describe("deep ensemble", () => {
  it("does not grow tf.memory().numTensors across a training step", () => {
    const ens = new DeepEnsemble(config);
    const s = synthetic("a", 32, 3, 1);
    ens.resetReadout("a", 3);
    const opt = tf.train.adam(1e-2);
    const vars = [...ens.cores.flatMap(coreVariables), ...ens.readoutsOf("a").flatMap(readoutVariables)];
    const step = (): void => {
      const b = gatherBatch(s, config.inputShape, s.trainIdx.slice(0, 8));
      trainStep(ens, opt, "a", b, vars);
      tf.dispose([b.x, b.y, b.mask]);
    };
    step(); // the first step creates Adam's moment variables
    const before = tf.memory().numTensors;
    step();
    step();
    expect(tf.memory().numTensors).toBe(before);
    opt.dispose();
    ens.dispose();
  });

  it("reduces the loss on a tiny synthetic problem, cycling over two sessions", async () => {
    const ens = new DeepEnsemble(config);
    const sessions = [synthetic("a", 96, 3, 2), synthetic("b", 96, 2, 3)];
    const start = tf.memory().numTensors;
    // refitSteps 20: the refit has its own test below; 100 refit steps a cycle made this test take 30-60 s on the cpu
    // backend.
    const result = await trainEnsemble(ens, sessions, {
      maxCycles: 3,
      stepsPerVisit: 30,
      batchSize: 16,
      learningRate: 1e-2,
      resetReadoutOnVisit: false,
      patience: 10,
      refitSteps: 20,
    });
    expect(result.losses.length).toBe(6);
    expect(result.losses[result.losses.length - 1]!).toBeLessThan(result.losses[0]! * 0.7);
    expect(result.bestValidation).toBeGreaterThan(0.2);
    // only the readouts created for the two sessions remain beyond the start
    const readoutTensors = 2 * config.members * 3;
    expect(tf.memory().numTensors).toBe(start + readoutTensors);
    ens.dispose();
  });

  it("interleaved schedule: one pass over every session's images a cycle, one optimizer, readouts kept", async () => {
    const ens = new DeepEnsemble(config);
    const sessions = [synthetic("a", 96, 3, 2), synthetic("b", 64, 2, 3)];
    const start = tf.memory().numTensors;
    const steps = new Map<string, number>();
    const result = await trainEnsemble(ens, sessions, {
      schedule: "interleaved",
      maxCycles: 8,
      batchSize: 8,
      learningRate: 1e-2,
      patience: 10,
      // Ignored by the interleaved schedule: readouts are never reset or refitted, visits do not exist.
      stepsPerVisit: 1000,
      resetReadoutOnVisit: true,
      refitSteps: 1000,
      onProgress: (p) => {
        if (p.validationLoss === undefined) steps.set(p.session, (steps.get(p.session) ?? 0) + 1);
      },
    });
    expect(result.cycles).toBe(8);
    // One loss per session and cycle, each the mean over that session's batches of the cycle.
    expect(result.losses.length).toBe(16);
    expect([...steps.entries()].sort()).toEqual([
      ["a", 8],
      ["b", 8],
    ]);
    const lossA = result.losses.filter((_, i) => i % 2 === 0);
    expect(lossA[lossA.length - 1]!).toBeLessThan(lossA[0]! * 0.7);
    expect(result.bestValidation).toBeGreaterThan(0.2);
    // The optimizer's moments are gone; only the two sessions' readouts remain.
    expect(tf.memory().numTensors).toBe(start + 2 * config.members * 3);
    ens.dispose();
  });

  it("interleaved schedule stops on cancellation between batches", async () => {
    const ens = new DeepEnsemble(config);
    const controller = new AbortController();
    controller.abort();
    const result = await trainEnsemble(ens, [synthetic("a", 64, 3, 5)], {
      schedule: "interleaved",
      maxCycles: 3,
      batchSize: 16,
      signal: controller.signal,
    });
    expect(result.cancelled).toBe(true);
    expect(result.losses.length).toBe(0);
    ens.dispose();
  });

  it("keeps the cycle with the lowest validation loss (stopOn loss) and never stops before minCycles", async () => {
    const ens = new DeepEnsemble(config);
    const sessions = [synthetic("a", 64, 3, 6)];
    const reported: { cycle: number; loss: number; median: number }[] = [];
    // A learning rate high enough that the validation loss goes up and down between cycles.
    const result = await trainEnsemble(ens, sessions, {
      maxCycles: 6,
      stepsPerVisit: 5,
      batchSize: 16,
      learningRate: 5e-2,
      patience: 1,
      minCycles: 5,
      refitSteps: 0,
      stopOn: "loss",
      onProgress: (p) => {
        if (p.validationLoss !== undefined)
          reported.push({ cycle: p.cycle, loss: p.validationLoss, median: p.validation! });
      },
    });
    // patience 1 alone would stop at the first cycle that is not better; minCycles 5 keeps it going.
    expect(result.cycles).toBeGreaterThanOrEqual(5);
    expect(reported.length).toBe(result.cycles);
    const best = reported.reduce((a, b) => (b.loss < a.loss ? b : a));
    expect(result.bestCycle).toBe(best.cycle);
    expect(result.bestValidationLoss).toBeCloseTo(best.loss, 6);
    expect(result.bestValidation).toBeCloseTo(best.median, 6);
    // The restored weights are the best cycle's: the validation loss now is the best one.
    expect(maskedMse(ens, sessions[0]!, sessions[0]!.valIdx)).toBeCloseTo(best.loss, 5);
    ens.dispose();
  });

  it("saves and loads a checkpoint that predicts the same; a corrupt one is refused and leaks nothing", async () => {
    const ens = new DeepEnsemble(config);
    const s = synthetic("a", 16, 3, 4);
    ens.resetReadout("a", 3);
    const bytes = await saveEnsemble(ens, "test-front-end", { note: 1 });
    const loaded = loadEnsemble(bytes);
    expect(loaded.frontEnd).toBe("test-front-end");
    expect(Array.from(predictSession(loaded.ensemble, s, [0, 1, 2]))).toEqual(
      Array.from(predictSession(ens, s, [0, 1, 2])),
    );
    const before = tf.memory().numTensors;
    expect(() => loadEnsemble(bytes.subarray(0, bytes.length - 4), "v7")).toThrow(CheckpointError);
    expect(() => loadEnsemble(bytes.subarray(0, bytes.length - 4), "v7")).toThrow(
      /Checkpoint v7 cannot be loaded: its data holds/,
    );
    const garbage = bytes.slice();
    garbage[3] = 0;
    expect(() => loadEnsemble(garbage)).toThrow(/does not start with/);
    const nan = bytes.slice();
    new DataView(nan.buffer).setFloat32(nan.length - 4, Number.NaN, true);
    expect(() => loadEnsemble(nan)).toThrow(/is NaN/);
    expect(tf.memory().numTensors).toBe(before);
    loaded.ensemble.dispose();
    ens.dispose();
  });
});

describe("readout refitting with frozen cores", () => {
  const mse = (ens: DeepEnsemble, s: TrainingSession): number => maskedMse(ens, s, s.trainIdx);

  it("brings a stale readout up to date without touching the cores, and leaks no tensors", async () => {
    const ens = new DeepEnsemble(config);
    const s = synthetic("a", 80, 3, 21);
    ens.resetReadout(s.key, s.units);
    const coresBefore = ens.cores.flatMap(coreVariables).map((v) => Array.from(v.dataSync()));
    const before = mse(ens, s);
    const tensors = tf.memory().numTensors;
    await refitReadouts(ens, s, { steps: 150, reset: false, seed: 4 });
    expect(tf.memory().numTensors).toBe(tensors);
    const after = mse(ens, s);
    expect(after).toBeLessThan(before * 0.7);
    ens.cores.flatMap(coreVariables).forEach((v, i) => expect(Array.from(v.dataSync())).toEqual(coresBefore[i]));
    ens.dispose();
  });

  it("a readout L2 penalty shrinks the readout weights", async () => {
    const norms: number[] = [];
    for (const readoutL2 of [0, 1]) {
      const ens = new DeepEnsemble(config);
      const s = synthetic("a", 80, 3, 21);
      const rs = await refitReadouts(ens, s, { steps: 100, seed: 4, readoutL2 });
      norms.push(rs.reduce((sum, r) => sum + tf.tidy(() => tf.sum(tf.square(r.mix)).dataSync()[0]!), 0));
      ens.dispose();
    }
    expect(norms[1]!).toBeLessThan(norms[0]! * 0.5);
  });
});

describe("scoreUnits", () => {
  it("uses r²_ER when repeats are available, raw R² otherwise, NaN for excluded units", () => {
    const s = synthetic("a", 6, 2, 8);
    const idx = [0, 1, 2, 3];
    const pred = Float32Array.from([1, 0, 2, 0, 3, 0, 4, 0]);
    const raw = scoreUnits(pred, s, idx);
    expect(raw.metric).toBe("r2raw");
    expect(raw.scores[1]).toBeNaN(); // the synthetic session's last unit is excluded
    const reps = [Float64Array.from([1, 2, 4, 3]), Float64Array.from([3, 2, 6, 5])];
    const withRepeats = scoreUnits(pred, { ...s, repeats: () => reps }, idx);
    expect(withRepeats.metric).toBe("r2er");
    expect(withRepeats.scores[0]).toBeCloseTo(r2er([1, 2, 3, 4], reps).r2er, 6);
  });
});

describe("feature standardization", () => {
  it("channelStats gives per-channel mean and 1/std over the chosen images; it travels in the checkpoint", async () => {
    // 2 images of 1x2 pixels x 2 channels: channel 0 values 1,3,5,7 (image 1 only: 5,7)
    const f = Float32Array.from([1, 10, 3, 10, 5, 20, 7, 20]);
    const all = channelStats(f, 2, [0, 1], 4);
    expect(all.mean).toEqual([4, 15]);
    expect(all.scale[0]).toBeCloseTo(1 / Math.sqrt(5), 12);
    expect(all.scale[1]).toBeCloseTo(1 / 5, 12);
    expect(channelStats(f, 2, [1], 4).mean).toEqual([6, 20]);
    const ens = new DeepEnsemble({ ...config, inputMean: [0.5, 0.5, 0.5], inputScale: [2, 2, 2] });
    ens.resetReadout("a", 3);
    const s = synthetic("a", 8, 3, 4);
    const loaded = loadEnsemble(await saveEnsemble(ens, "fe"));
    expect(loaded.ensemble.config.inputScale).toEqual([2, 2, 2]);
    expect(Array.from(predictSession(loaded.ensemble, s, [0, 1]))).toEqual(Array.from(predictSession(ens, s, [0, 1])));
    loaded.ensemble.dispose();
    ens.dispose();
  });
});

describe("ridge baseline", () => {
  it("solves with Cholesky", () => {
    const a = Float64Array.from([4, 2, 2, 3]);
    cholesky(a, 2);
    const b = Float64Array.from([2, 1]); // A x = b → x = [0.5, 0]
    choleskySolve(a, 2, b, 1);
    expect(b[0]).toBeCloseTo(0.5, 12);
    expect(b[1]).toBeCloseTo(0, 12);
  });
  it("recovers a linear map on held-out rows", () => {
    const s = synthetic("r", 120, 2, 9);
    const model = ridgeFit(s.features, 120, s.targets, 2, s.trainIdx, { lambdaScales: [1e-4, 1e-3, 1e-2, 1] });
    const pred = model.predict(s.features, s.valIdx);
    let sse = 0;
    let sst = 0;
    s.valIdx.forEach((i, r) => {
      sse += (pred[r * 2]! - s.targets[i * 2]!) ** 2;
      sst += s.targets[i * 2]! ** 2;
    });
    expect(sse / sst).toBeLessThan(0.05);
  });
});
