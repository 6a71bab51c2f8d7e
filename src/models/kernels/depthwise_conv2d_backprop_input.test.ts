import * as tf from "@tensorflow/tfjs";
import { describe, it } from "vitest";
import { CONV_CASES, compareOnBoth, WASM_PATHS, type Pad, randomTensor } from "./test_util.js";

describe("DepthwiseConv2dNativeBackpropInput on wasm matches cpu", () => {
  // The stride-2 phase path (5x5 'same', even sizes): non-square, several channels, explicit pads equal to 'same'.
  const phaseCases = [
    {
      name: "phase path 5x5 stride 2 16x10",
      batch: 2,
      height: 16,
      width: 10,
      inC: 6,
      outC: 6,
      k: 5,
      stride: 2,
      pad: "same" as const,
    },
    {
      name: "phase path 5x5 stride 2 explicit [1,2] pads",
      batch: 3,
      height: 8,
      width: 12,
      inC: 5,
      outC: 5,
      k: 5,
      stride: 2,
      pad: [
        [0, 0],
        [1, 2],
        [1, 2],
        [0, 0],
      ] as Pad,
    },
  ];
  for (const path of WASM_PATHS)
    for (const c of [...CONV_CASES, ...phaseCases]) {
      it(`${c.name} (${path} path)`, async () => {
        await compareOnBoth(
          c.name,
          () => {
            const x = randomTensor([c.batch, c.height, c.width, c.inC], 7) as tf.Tensor4D;
            const w = randomTensor([c.k, c.k, c.inC, 1], 8) as tf.Tensor4D;
            const y = tf.depthwiseConv2d(x, w, c.stride, c.pad);
            const dy = randomTensor(y.shape, 9) as tf.Tensor4D;
            const dx = tf.engine().runKernel(
              "DepthwiseConv2dNativeBackpropInput",
              { dy, filter: w },
              {
                strides: [c.stride, c.stride],
                pad: c.pad,
                dilations: [1, 1],
                inputShape: x.shape,
              },
            ) as tf.Tensor;
            const [gx] = tf.grads((xx: tf.Tensor) =>
              tf
                .depthwiseConv2d(xx as tf.Tensor4D, w, c.stride, c.pad)
                .mul(dy)
                .sum(),
            )([x]);
            const out = [y, dx, gx!];
            tf.dispose([x, w, dy]);
            return out;
          },
          path,
        );
      });
    }
});
