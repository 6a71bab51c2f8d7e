import * as tf from "@tensorflow/tfjs";
import { describe, it } from "vitest";
import { CONV_CASES, compareOnBoth, randomTensor } from "./test_util.js";

describe("DepthwiseConv2dNativeBackpropInput on wasm matches cpu", () => {
  for (const c of CONV_CASES) {
    it(c.name, async () => {
      await compareOnBoth(c.name, () => {
        const x = randomTensor([c.batch, c.height, c.width, c.inC], 7) as tf.Tensor4D;
        const w = randomTensor([c.k, c.k, c.inC, 1], 8) as tf.Tensor4D;
        const y = tf.depthwiseConv2d(x, w, c.stride, c.pad);
        const dy = randomTensor(y.shape, 9) as tf.Tensor4D;
        const dx = tf.engine().runKernel("DepthwiseConv2dNativeBackpropInput", { dy, filter: w }, {
          strides: [c.stride, c.stride], pad: c.pad, dilations: [1, 1], inputShape: x.shape,
        }) as tf.Tensor;
        const [gx] = tf.grads((xx: tf.Tensor) => tf.depthwiseConv2d(xx as tf.Tensor4D, w, c.stride, c.pad).mul(dy).sum())([x]);
        const out = [y, dx, gx!];
        tf.dispose([x, w, dy]);
        return out;
      });
    });
  }
});
