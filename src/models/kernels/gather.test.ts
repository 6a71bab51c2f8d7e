import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { compareOnBoth, randomTensor, useWasm } from "./test_util.js";

describe("GatherV2 on wasm (slice copies) matches cpu", () => {
  const cases: { name: string; shape: number[]; axis: number; indices: number[] }[] = [
    { name: "rows of a 4-D tensor, with repeats", shape: [9, 3, 2, 5], axis: 0, indices: [4, 0, 8, 4, 1] },
    { name: "axis 1 of a stacked tensor", shape: [3, 7, 4, 2], axis: 1, indices: [6, 2, 2, 0] },
    { name: "last axis", shape: [4, 6], axis: 1, indices: [5, 1, 3] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      await compareOnBoth(c.name, () => {
        const x = randomTensor(c.shape, 3);
        const idx = tf.tensor1d(c.indices, "int32");
        const out = tf.tidy(() => [
          tf.gather(x, idx, c.axis),
          tf.gather(tf.cast(tf.mul(x, 100), "int32"), idx, c.axis).toFloat(),
        ]);
        tf.dispose([x, idx]);
        return out;
      });
    });
  }

  it("refuses an index out of range, saying which", async () => {
    await useWasm();
    const x = tf.zeros([3, 2]);
    const idx = tf.tensor1d([1, 3], "int32");
    expect(() => tf.gather(x, idx)).toThrow(/index value 3 is not in \[0, 2\]/);
    tf.dispose([x, idx]);
  });
});
