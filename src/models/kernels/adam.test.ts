import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { adamOptimizer } from "./adam.js";
import { expectClose, randomValues, useWasm } from "./test_util.js";

/** Three variables of awkward sizes and a loss that couples them. */
function problem(prefix: string): { vars: tf.Variable[]; loss: () => tf.Scalar } {
  const shapes = [[5], [7, 3], [16]];
  const vars = shapes.map((s, i) =>
    tf.variable(
      tf.tensor(
        randomValues(
          s.reduce((a, b) => a * b, 1),
          40 + i,
        ),
        s,
      ),
      true,
      `${prefix}_${i}`,
    ),
  );
  const x = tf.tensor2d(randomValues(4 * 7, 50), [4, 7]);
  const loss = (): tf.Scalar =>
    tf.tidy(() => {
      const h = tf.matMul(x, vars[1]!);
      return tf.add(
        tf.add(tf.sum(tf.square(tf.sub(h, 0.3))), tf.sum(tf.mul(vars[0]!, vars[0]!))),
        tf.sum(tf.sin(vars[2]!)),
      ) as tf.Scalar;
    });
  return { vars, loss };
}

describe("fused Adam on wasm", () => {
  it("takes the same steps as tf.train.adam, and keeps two moments per variable", async () => {
    await useWasm();
    const ours = problem("fused");
    const theirs = problem("reference");
    const fused = adamOptimizer(0.05);
    expect(fused.getClassName()).toBe("CortexloopFusedAdam");
    const reference = tf.train.adam(0.05);
    fused.minimize(ours.loss, false, ours.vars);
    const afterFirst = tf.memory().numTensors;
    for (let step = 0; step < 6; step++) {
      fused.minimize(ours.loss, false, ours.vars);
      expect(tf.memory().numTensors, `step ${step}: tensors leaked`).toBe(afterFirst);
    }
    for (let step = 0; step < 7; step++) reference.minimize(theirs.loss, false, theirs.vars);
    ours.vars.forEach((v, i) =>
      expectClose(v.dataSync() as Float32Array, theirs.vars[i]!.dataSync() as Float32Array, `variable ${i}`),
    );
    // The variables moved: seven steps of 0.05 are not lost in the tolerance.
    expect(Math.abs(ours.vars[0]!.dataSync()[0]! - randomValues(5, 40)[0]!)).toBeGreaterThan(0.1);
    fused.dispose();
    reference.dispose();
    tf.dispose([...ours.vars, ...theirs.vars]);
  });
});

/**
 * One step on variables 0 and 2, then two on all three. The problem's loss is a sum of one term per
 * variable, so the reference is one tf.train.adam per variable: each variable's own step count, as
 * PyTorch's Adam counts. tf.train.adam over the changing list would give variable 1 the moments of
 * variable 2 (it keys them by position) and its bias corrections by the global step.
 */
function partialSteps(optimizer: tf.Optimizer, prefix: string): void {
  const ours = problem(prefix);
  const theirs = problem(`${prefix}_reference`);
  optimizer.minimize(ours.loss, false, [ours.vars[0]!, ours.vars[2]!]);
  optimizer.minimize(ours.loss, false, ours.vars);
  const afterSecond = tf.memory().numTensors;
  optimizer.minimize(ours.loss, false, ours.vars);
  expect(tf.memory().numTensors, "tensors leaked").toBe(afterSecond);
  const perVariable = theirs.vars.map(() => tf.train.adam(0.05));
  const steps = [3, 2, 3];
  theirs.vars.forEach((v, i) => {
    for (let k = 0; k < steps[i]!; k++) perVariable[i]!.minimize(theirs.loss, false, [v]);
  });
  ours.vars.forEach((v, i) =>
    expectClose(v.dataSync() as Float32Array, theirs.vars[i]!.dataSync() as Float32Array, `variable ${i}`),
  );
  perVariable.forEach((o) => o.dispose());
  optimizer.dispose();
  tf.dispose([...ours.vars, ...theirs.vars]);
}

describe("Adam over steps that update different variables", () => {
  it("fused (wasm): moments and bias corrections per variable", async () => {
    await useWasm();
    partialSteps(adamOptimizer(0.05), "fused_partial");
  });

  it("by name (other backends): the same, where tf.train.adam would mix moments", async () => {
    await tf.setBackend("cpu");
    const named = adamOptimizer(0.05, { byName: true });
    expect(named.getClassName()).toBe("CortexloopNamedAdam");
    partialSteps(named, "named_partial");
  });
});
