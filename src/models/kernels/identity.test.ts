import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { sharedBufferConfigs } from "./identity.js";
import { randomTensor, useWasm } from "./test_util.js";

describe("Identity on wasm shares the buffer", () => {
  it("is registered, clones keep their values after the source is disposed, variables stay independent", async () => {
    await useWasm();
    for (const config of sharedBufferConfigs()) expect(tf.getKernel(config.kernelName, "wasm")).toBe(config);
    expect(
      sharedBufferConfigs()
        .map((c) => c.kernelName)
        .sort(),
    ).toEqual(["Cast", "Identity"]);
    const before = tf.memory().numTensors;
    const x = randomTensor([3, 4, 5], 41);
    const want = await x.data();
    const c = tf.clone(x);
    x.dispose();
    expect(Array.from(await c.data())).toEqual(Array.from(want));
    // A variable initialized from a clone, then assigned: the clone keeps the old values.
    const v = tf.variable(c);
    const c2 = tf.clone(v);
    const zeros = tf.zerosLike(c);
    v.assign(zeros);
    zeros.dispose();
    expect(Array.from(await c2.data())).toEqual(Array.from(want));
    expect(Math.max(...(await v.data()))).toBe(0);
    // Same-dtype cast shares; a real cast still converts.
    const same = tf.cast(c, "float32");
    const ints = tf.tidy(() => tf.cast(tf.mul(c, 10), "int32"));
    expect(Array.from(await same.data())).toEqual(Array.from(want));
    expect(Array.from(await ints.data())).toEqual(Array.from(want).map((w) => Math.trunc(Math.fround(w * 10)) + 0));
    tf.dispose([c, c2, v, same, ints]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
