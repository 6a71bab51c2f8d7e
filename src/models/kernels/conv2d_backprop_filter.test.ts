import * as tf from "@tensorflow/tfjs";
import { describe, it } from "vitest";
import { CONV_CASES, compareOnBoth, WASM_PATHS, randomTensor } from "./test_util.js";

describe("Conv2DBackpropFilter on wasm matches cpu", () => {
  for (const path of WASM_PATHS)
    for (const c of CONV_CASES) {
      it(`${c.name} (${path} path)`, async () => {
        await compareOnBoth(
          c.name,
          () => {
            const x = randomTensor([c.batch, c.height, c.width, c.inC], 1) as tf.Tensor4D;
            const w = randomTensor([c.k, c.k, c.inC, c.outC], 2) as tf.Tensor4D;
            const y = tf.conv2d(x, w, c.stride, c.pad);
            const dy = randomTensor(y.shape, 3) as tf.Tensor4D;
            const dw = tf.engine().runKernel(
              "Conv2DBackpropFilter",
              { x, dy },
              {
                strides: [c.stride, c.stride],
                pad: c.pad,
                dataFormat: "NHWC",
                filterShape: w.shape,
              },
            ) as tf.Tensor;
            // The same gradient through autodiff (what training uses), with fused bias + relu.
            const grads = tf.grads((xx: tf.Tensor, ww: tf.Tensor) =>
              tf.fused
                .conv2d({
                  x: xx as tf.Tensor4D,
                  filter: ww as tf.Tensor4D,
                  strides: c.stride,
                  pad: c.pad,
                  activation: "relu",
                })
                .mul(dy)
                .sum(),
            )([x, w]);
            const out = [y, dw, ...grads];
            tf.dispose([x, w, dy]);
            return out;
          },
          path,
        );
      });
    }
});
