import * as tf from "@tensorflow/tfjs";
import { describe, it } from "vitest";
import { CONV_CASES, compareOnBoth, randomTensor } from "./test_util.js";

describe("Conv2DBackpropInput on wasm (XNNPACK replacement) matches cpu", () => {
  for (const c of CONV_CASES) {
    it(c.name, async () => {
      await compareOnBoth(c.name, () => {
        const x = randomTensor([c.batch, c.height, c.width, c.inC], 4) as tf.Tensor4D;
        const w = randomTensor([c.k, c.k, c.inC, c.outC], 5) as tf.Tensor4D;
        const y = tf.conv2d(x, w, c.stride, c.pad);
        const dy = randomTensor(y.shape, 6) as tf.Tensor4D;
        const dx = tf.engine().runKernel(
          "Conv2DBackpropInput",
          { dy, filter: w },
          {
            strides: [c.stride, c.stride],
            pad: c.pad,
            dataFormat: "NHWC",
            inputShape: x.shape,
          },
        ) as tf.Tensor;
        const out = [y, dx];
        tf.dispose([x, w, dy]);
        return out;
      });
    });
  }
});
