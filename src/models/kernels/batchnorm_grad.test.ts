import * as tf from "@tensorflow/tfjs";
import { describe, it } from "vitest";
import { batchNormGradConfig, ORIGINAL_BATCHNORM_GRAD } from "./batchnorm_grad.js";
import { expectClose, onBoth, randomTensor } from "./test_util.js";

const KEYS = ["x", "mean", "variance", "scale", "offset"];

describe("FusedBatchNorm gradient (broadcasting)", () => {
  it("matches tfjs's original gradient on cpu and wasm, and wasm matches cpu", async () => {
    const { cpu, wasm } = await onBoth(() => {
      const x = randomTensor([3, 5, 4, 6], 21);
      const dy = randomTensor([3, 5, 4, 6], 22);
      const mean = tf.tidy(() => randomTensor([6], 23).mul(0.1));
      const variance = tf.tidy(() => randomTensor([6], 24).abs().add(0.5));
      const scale = randomTensor([6], 25);
      const saved = [x, mean, variance, scale];
      const attrs = { varianceEpsilon: 1e-3 };
      // Outside the engine's backprop the gradFuncs' intermediates need a tidy of their own.
      const out = tf.tidy(() => {
        const ours = batchNormGradConfig.gradFunc(dy, saved, attrs);
        const theirs = ORIGINAL_BATCHNORM_GRAD!.gradFunc(dy, saved, attrs);
        return KEYS.flatMap((k) => [ours[k]!(), theirs[k]!()]);
      });
      tf.dispose([x, dy, mean, variance, scale]);
      return out;
    });
    for (const [name, values] of [
      ["cpu", cpu],
      ["wasm", wasm],
    ] as const) {
      KEYS.forEach((k, i) => expectClose(values[2 * i]!, values[2 * i + 1]!, `${name} d${k} ours vs tfjs`));
    }
    wasm.forEach((v, i) => expectClose(v, cpu[i]!, `output ${i} wasm vs cpu`));
  });
});
