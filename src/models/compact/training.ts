// Training-mode forward pass of a compact model (createCompactModel's layout) built for a fast
// backward pass: the same function and the same variable updates as `model.apply(x, { training: true })`
// (batch statistics, moving averages updated), but
//  - the image is closed over, not an input: no gradient w.r.t. the pixels is ever computed
//    (tfjs's fused conv computes the layer-0 input gradient even when nothing needs it);
//  - batchnorm + ReLU is one custom-gradient op with the closed-form backward (a handful of
//    per-channel broadcasts on [N*H*W, C] instead of tfjs's moments/batchNorm gradient chain);
//  - the conv biases feed batchnorm, which subtracts the batch mean: their gradient is exactly 0.
import * as tf from "@tensorflow/tfjs";
import { BATCHNORM_EPSILON, CHANNEL_MEANS, COMPACT_STRIDES } from "./model.js";

/** tf.layers.batchNormalization's default. */
const BN_MOMENTUM = 0.99;

type LayerWeights = { read(): tf.Tensor; write(v: tf.Tensor): void };

function weightsOf(model: tf.LayersModel, name: string): LayerWeights[] {
  return model.getLayer(name).weights as unknown as LayerWeights[];
}

/** x * scale + shift per channel (then the activation), as a fused 1x1 depthwise conv. */
function scaleShift(
  x: tf.Tensor4D,
  scale: tf.Tensor1D,
  shift?: tf.Tensor1D,
  activation: "linear" | "relu" = "linear",
): tf.Tensor4D {
  const c = x.shape[3];
  return tf.fused.depthwiseConv2d({
    x,
    filter: tf.reshape(scale, [1, 1, c, 1]) as tf.Tensor4D,
    strides: 1,
    pad: "valid",
    bias: shift,
    activation,
  });
}

/** Per-channel sum over the leading axes of an NHWC tensor, as [C]. */
function channelSum(x: tf.Tensor4D): tf.Tensor1D {
  return tf.sum(x, [0, 1, 2]) as tf.Tensor1D;
}

/**
 * relu(batchnorm(z + bias)) with batch statistics; updates the moving mean and variance as
 * tf.layers does. Gradients for z, gamma and beta; bias gets zeros (BN removes any constant shift).
 */
export function batchNormReluTraining(
  z: tf.Tensor4D,
  bias: tf.Tensor1D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  moving?: { mean: LayerWeights; variance: LayerWeights },
  epsilon = BATCHNORM_EPSILON,
): tf.Tensor4D {
  const [n, h, w, c] = z.shape;
  const m = n * h * w;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [zIn, _bias, gammaIn, betaIn, save] = args as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    const z4 = zIn as tf.Tensor4D;
    const mu = tf.mean(z4, [0, 1, 2]) as tf.Tensor1D;
    const d = tf.sub(tf.reshape(z4, [m, c]), mu) as tf.Tensor2D;
    const variance = tf.mean(tf.reshape(tf.square(d), [n, h, w, c]), [0, 1, 2]) as tf.Tensor1D;
    const r = tf.rsqrt(tf.add(variance, epsilon)) as tf.Tensor1D;
    const a = tf.mul(gammaIn, r) as tf.Tensor1D;
    // relu(z * a + (beta - mu * a)) as one fused 1x1 depthwise conv (one multithreaded pass).
    const y = tf.reshape(scaleShift(z4, a, tf.sub(betaIn, tf.mul(mu, a)) as tf.Tensor1D, "relu"), [
      m,
      c,
    ]) as tf.Tensor2D;
    if (moving !== undefined) {
      const decay = 1 - BN_MOMENTUM;
      const update = (v: LayerWeights, value: tf.Tensor): void => {
        const old = v.read();
        v.write(tf.sub(old, tf.mul(tf.sub(old, value), decay)));
      };
      update(moving.mean, tf.add(mu, _bias));
      update(moving.variance, variance);
    }
    save([d, y, r, a]);
    return {
      value: tf.reshape(y, [n, h, w, c]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sd, sy, sr, sa] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
        const g = tf.mul(tf.reshape(dy, [m, c]), tf.step(sy)) as tf.Tensor2D;
        const sumG = channelSum(tf.reshape(g, [n, h, w, c]) as tf.Tensor4D);
        const sumGd = channelSum(tf.reshape(tf.mul(g, sd), [n, h, w, c]) as tf.Tensor4D);
        // dz = a * (g - mean(g) - xhat * mean(g * xhat)), xhat = d * r: g * a + d * k + e.
        const k = tf.mul(sa, tf.mul(tf.square(sr), tf.div(sumGd, -m)));
        const e = tf.mul(sa, tf.div(sumG, -m));
        const dz = tf.add(
          scaleShift(tf.reshape(g, [n, h, w, c]) as tf.Tensor4D, sa),
          scaleShift(tf.reshape(sd, [n, h, w, c]) as tf.Tensor4D, k as tf.Tensor1D, e as tf.Tensor1D),
        );
        return [tf.reshape(dz, [n, h, w, c]), tf.zerosLike(_bias), tf.mul(sumGd, sr), sumG];
      },
    };
  });
  return op(z, bias, gamma, beta) as tf.Tensor4D;
}

/**
 * Stride-1 'same' conv of a constant input (closed over): the gradient is for the filter only.
 */
export function convOfConstant(x: tf.Tensor4D, filter: tf.Tensor4D): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [f, save] = args as [tf.Tensor, tf.GradSaveFunc];
    // Saved (kept past the forward's scope; a clone shares the buffer): the only thing the gradient reads.
    save([x]);
    return {
      value: tf.conv2d(x, f as tf.Tensor4D, 1, "same"),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel("Conv2DBackpropFilter", { x: saved[0]!, dy }, {
          strides: [1, 1],
          pad: "same",
          dataFormat: "NHWC",
          dimRoundingMode: undefined,
          filterShape: f.shape,
        } as unknown as tf.NamedAttrMap) as tf.Tensor,
    };
  });
  return op(filter) as tf.Tensor4D;
}

/**
 * `model.apply(pixels, { training: true })` for a createCompactModel model: output [N, 1], with
 * gradients to every trainable variable when run under tf.variableGrads / optimizer.minimize.
 */
export function compactTrainingForward(model: tf.LayersModel, pixels: tf.Tensor4D): tf.Tensor2D {
  const centered = tf.sub(pixels, tf.tensor1d([...CHANNEL_MEANS])) as tf.Tensor4D;
  const bn = (
    name: string,
  ): { gamma: tf.Tensor1D; beta: tf.Tensor1D; moving: { mean: LayerWeights; variance: LayerWeights } } => {
    const [gamma, beta, mean, variance] = weightsOf(model, name) as [
      LayerWeights,
      LayerWeights,
      LayerWeights,
      LayerWeights,
    ];
    return { gamma: gamma.read() as tf.Tensor1D, beta: beta.read() as tf.Tensor1D, moving: { mean, variance } };
  };
  const [k0, b0] = weightsOf(model, "layer0_conv") as [LayerWeights, LayerWeights];
  const bn0 = bn("layer0_bn");
  let a = batchNormReluTraining(
    convOfConstant(centered, k0.read() as tf.Tensor4D),
    b0.read() as tf.Tensor1D,
    bn0.gamma,
    bn0.beta,
    bn0.moving,
  );
  for (let layer = 1; layer < 5; layer++) {
    const [dw, pw, b] = weightsOf(model, `layer${layer}_sepconv`) as [LayerWeights, LayerWeights, LayerWeights];
    const d = tf.depthwiseConv2d(a, dw.read() as tf.Tensor4D, COMPACT_STRIDES[layer]!, "same");
    const z = tf.conv2d(d, pw.read() as tf.Tensor4D, 1, "valid");
    const bnl = bn(`layer${layer}_bn`);
    a = batchNormReluTraining(z, b.read() as tf.Tensor1D, bnl.gamma, bnl.beta, bnl.moving);
  }
  const [rk, rb] = weightsOf(model, "readout") as [LayerWeights, LayerWeights];
  return tf.add(
    tf.matMul(tf.reshape(a, [a.shape[0], -1]) as tf.Tensor2D, rk.read() as tf.Tensor2D),
    rb.read(),
  ) as tf.Tensor2D;
}
