import * as tf from "@tensorflow/tfjs";
import { describe, it } from "vitest";
import { CONV_CASES, compareOnBoth, WASM_PATHS, randomTensor } from "./test_util.js";

describe("DepthwiseConv2dNativeBackpropFilter on wasm matches cpu", () => {
  for (const path of WASM_PATHS)
    for (const c of CONV_CASES) {
      it(`${c.name} (${path} path)`, async () => {
        await compareOnBoth(
          c.name,
          () => {
            const x = randomTensor([c.batch, c.height, c.width, c.inC], 10) as tf.Tensor4D;
            const w = randomTensor([c.k, c.k, c.inC, 1], 11) as tf.Tensor4D;
            const y = tf.depthwiseConv2d(x, w, c.stride, c.pad);
            const dy = randomTensor(y.shape, 12) as tf.Tensor4D;
            const dw = tf.engine().runKernel(
              "DepthwiseConv2dNativeBackpropFilter",
              { x, dy },
              {
                strides: [c.stride, c.stride],
                pad: c.pad,
                dilations: [1, 1],
                filterShape: w.shape,
              },
            ) as tf.Tensor;
            // Separable conv as tf.layers builds it: depthwise then pointwise, both gradients.
            const pw = randomTensor([1, 1, c.inC, c.outC], 13) as tf.Tensor4D;
            if (typeof c.pad !== "string") {
              const out = [y, dw];
              tf.dispose([x, w, dy, pw]);
              return out;
            }
            const sp = c.pad;
            const ys = tf.separableConv2d(x, w, pw, c.stride, sp);
            const dys = randomTensor(ys.shape, 14);
            const grads = tf.grads((xx: tf.Tensor, ww: tf.Tensor, pp: tf.Tensor) =>
              tf
                .separableConv2d(xx as tf.Tensor4D, ww as tf.Tensor4D, pp as tf.Tensor4D, c.stride, sp)
                .mul(dys)
                .sum(),
            )([x, w, pw]);
            const out = [y, dw, ys, ...grads];
            tf.dispose([x, w, dy, pw, dys]);
            return out;
          },
          path,
        );
      });
    }
});
