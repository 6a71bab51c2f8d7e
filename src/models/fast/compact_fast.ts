// Inference-only (eval-mode) compact model: batchnorm folded into the convolutions, fused bias +
// ReLU, and a hand-written input gradient for image synthesis (no tape, no filter gradients).
import * as tf from "@tensorflow/tfjs";
import { BATCHNORM_EPSILON, CHANNEL_MEANS, COMPACT_STRIDES } from "../compact.js";

interface SepLayer {
  stride: number;
  /** [k, k, cin, 1] */
  depthwise: tf.Tensor4D;
  /** Spatially flipped depthwise filter, for the stride-1 input gradient. */
  depthwiseFlipped: tf.Tensor4D;
  /**
   * Stride 2: the input gradient's four output phases (row parity, column parity) as one stride-1
   * 3x3 depthwise filter [3, 3, cin, 4] over dy, interleaved by a transpose (no zero-dilated dy).
   */
  phases?: tf.Tensor4D;
  /** [1, 1, cin, cout], BN scale folded in. */
  pointwise: tf.Tensor4D;
  /** [1, 1, cout, cin]: the pointwise filter's transpose, for the input gradient. */
  pointwiseT: tf.Tensor4D;
  /** [cout], BN shift folded in. */
  bias: tf.Tensor1D;
  /**
   * Tiny stride-1 layers: depthwise and pointwise composed into one 5x5 conv (exact: no
   * nonlinearity between them) and its flipped transpose, so each direction is one op, not two.
   */
  full?: { filter: tf.Tensor4D; filterT: tf.Tensor4D };
}

/** Compose a separable layer into one conv when cin * cout is at most this (the 3- and 7-filter layers). */
const COMPOSE_MAX_CIN_COUT = 64;

/**
 * Input gradient of a 5x5 stride-2 'same' depthwise conv on an even-sized input (padding 1 before,
 * 2 after). With n = 2i + p, dx[n] = sum_o dy[o] w[n + 1 - 2o]: for p = 0 the taps at o = i-1, i, i+1
 * are w[3], w[1], 0; for p = 1 they are w[4], w[2], w[0] (with wp = w behind a zero row:
 * wp[4 + p], wp[2 + p], wp[p]). All four (row, column) parities are one 3x3 'same' depthwise
 * correlation of dy with channel multiplier 4 (index 2 py + px), interleaved by one transpose.
 * Same construction as the wasm DepthwiseConv2dNativeBackpropInput kernel's stride-2 path.
 */
function stride2PhaseFilter(dw: tf.Tensor4D): tf.Tensor4D {
  if (dw.shape[0] !== 5 || dw.shape[1] !== 5) throw new Error(`stride2PhaseFilter: expected a 5x5 depthwise filter, got ${dw.shape}`);
  const c = dw.shape[2];
  const wp = tf.pad(dw, [[1, 0], [1, 0], [0, 0], [0, 0]]);
  const rev = tf.reverse(tf.reshape(wp, [3, 2, 3, 2, c]), [0, 2]);
  return tf.reshape(tf.transpose(rev, [0, 2, 4, 1, 3]), [3, 3, c, 4]) as tf.Tensor4D;
}

function stride2InputGradient(dy: tf.Tensor4D, phaseFilter: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = dy.shape;
  const out = tf.depthwiseConv2d(dy, phaseFilter, 1, "same");
  return tf.reshape(tf.transpose(tf.reshape(out, [n * h, w, c, 2, 2]), [0, 3, 1, 4, 2]), [n, 2 * h, 2 * w, c]) as tf.Tensor4D;
}

/**
 * The layer-0 input gradient (a 'same' 5x5 conv of g with conv0T [5, 5, k0, 3]) on 2x2 blocks:
 * input g in space-to-depth layout [N, H/2, W/2, (ci, py, px)] (what stride2InputGradient's
 * depthwise conv produces before interleaving), output [N, H/2, W/2, (py', px', co)]. A 3x3 'same'
 * conv with 12 output channels instead of 3, which XNNPACK's 8-wide GEMM tiles waste less of.
 * dx[2I + py', 2J + px'] reads g row 2I + py' + u - 2 = 2(I + a) + q: tap a + 1, channel (ci, q, .).
 * The same construction turns the forward conv0 into a conv on 2x2 blocks ("channel-major" output
 * (co, py, px): the layout of the phase conv's output, so the ReLU mask needs no rearranging).
 */
function conv0SpaceToDepthFilter(conv0T: tf.Tensor4D, outputOrder: "phase-major" | "channel-major" = "phase-major"): tf.Tensor4D {
  const [k, , cin, cout] = conv0T.shape;
  if (k !== 5) throw new Error(`conv0SpaceToDepthFilter: expected a 5x5 filter, got ${conv0T.shape}`);
  const src = conv0T.dataSync();
  const ci4 = cin * 4;
  const co4 = cout * 4;
  const out = new Float32Array(9 * ci4 * co4);
  for (let a = -1; a <= 1; a++) {
    for (let b = -1; b <= 1; b++) {
      for (let q = 0; q < 2; q++) {
        for (let r = 0; r < 2; r++) {
          for (let py = 0; py < 2; py++) {
            for (let px = 0; px < 2; px++) {
              const u = 2 * a + q + 2 - py;
              const v = 2 * b + r + 2 - px;
              if (u < 0 || u > 4 || v < 0 || v > 4) continue;
              for (let ci = 0; ci < cin; ci++) {
                for (let co = 0; co < cout; co++) {
                  const o = outputOrder === "phase-major" ? (py * 2 + px) * cout + co : co * 4 + py * 2 + px;
                  const dst = (((a + 1) * 3 + (b + 1)) * ci4 + ci * 4 + q * 2 + r) * co4 + o;
                  out[dst] = src[((u * 5 + v) * cin + ci) * cout + co]!;
                }
              }
            }
          }
        }
      }
    }
  }
  return tf.tensor4d(out, [3, 3, ci4, co4]);
}

/**
 * The function a compact model computes in inference mode (BN with moving statistics, as
 * `model.predict` and torch's eval mode), with constant weights: for prediction and for the
 * gradient of the summed output with respect to the input pixels.
 */
export class FastCompactModel {
  private constructor(
    readonly inputSize: number,
    private readonly means: tf.Tensor1D,
    /** The means as a [1, size, size, 3] image: wasm broadcasts over the batch only much faster than over pixels. */
    private readonly meansImage: tf.Tensor4D,
    private readonly conv0: tf.Tensor4D,
    /** conv0 flipped and transposed to [k, k, k0, 3]: the input gradient is a plain conv. */
    private readonly conv0T: tf.Tensor4D,
    /** conv0T on 2x2 blocks: [3, 3, 4 k0, 12] (conv0SpaceToDepthFilter). */
    private readonly conv0S2D: tf.Tensor4D,
    /** conv0 on 2x2 blocks: [3, 3, 12, 4 k0], output (c, py, px), and its bias repeated to match. */
    private readonly conv0FwdS2D: tf.Tensor4D,
    private readonly bias0S2D: tf.Tensor1D,
    private readonly bias0: tf.Tensor1D,
    private readonly sep: SepLayer[],
    private readonly readout: tf.Tensor2D,
    private readonly readoutBias: tf.Tensor1D,
    /** The readout kernel as an image [1, s, s, C4]: the gradient of the output w.r.t. the last activation. */
    private readonly readoutImage: tf.Tensor4D,
  ) {}

  /** Snapshot of `model`'s current weights (later training of `model` does not change it). */
  static fromModel(model: tf.LayersModel): FastCompactModel {
    const weights = (name: string): tf.Tensor[] => model.getLayer(name).getWeights();
    const inputShape = model.inputs[0]!.shape;
    const inputSize = inputShape[1] ?? 112;
    let result: FastCompactModel | undefined;
    // Intermediates are freed by the tidy; the weights the model keeps are tf.keep'd.
    tf.tidy(() => {
      // BN(z) = (z - mean) * gamma / sqrt(var + eps) + beta = z * scale + shift.
      const fold = (bnName: string, bias: tf.Tensor): { scale: tf.Tensor1D; shift: tf.Tensor1D } => {
        const [gamma, beta, mean, variance] = weights(bnName) as [tf.Tensor1D, tf.Tensor1D, tf.Tensor1D, tf.Tensor1D];
        const scale = tf.mul(gamma, tf.rsqrt(tf.add(variance, BATCHNORM_EPSILON))) as tf.Tensor1D;
        return { scale, shift: tf.add(tf.mul(tf.sub(bias, mean), scale), beta) as tf.Tensor1D };
      };
      const [k0, b0] = weights("layer0_conv") as [tf.Tensor4D, tf.Tensor1D];
      const f0 = fold("layer0_bn", b0);
      const conv0 = tf.mul(k0, f0.scale) as tf.Tensor4D;
      const conv0T = tf.transpose(tf.reverse(conv0, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D;
      const sep: SepLayer[] = [];
      for (let layer = 1; layer < 5; layer++) {
        const [dw, pw, b] = weights(`layer${layer}_sepconv`) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor1D];
        const f = fold(`layer${layer}_bn`, b);
        const pointwise = tf.mul(pw, f.scale) as tf.Tensor4D;
        const [, , cin, cout] = pointwise.shape;
        let full: SepLayer["full"];
        if (COMPACT_STRIDES[layer] === 1 && cin * cout <= COMPOSE_MAX_CIN_COUT) {
          const filter = tf.mul(tf.reshape(dw, [dw.shape[0], dw.shape[1], cin, 1]), pointwise) as tf.Tensor4D;
          full = { filter, filterT: tf.transpose(tf.reverse(filter, [0, 1]), [0, 1, 3, 2]) as tf.Tensor4D };
        }
        sep.push({
          full,
          stride: COMPACT_STRIDES[layer]!,
          depthwise: tf.clone(dw),
          depthwiseFlipped: tf.reverse(dw, [0, 1]) as tf.Tensor4D,
          phases: COMPACT_STRIDES[layer] === 2 ? stride2PhaseFilter(dw) : undefined,
          pointwise,
          pointwiseT: tf.transpose(pointwise, [0, 1, 3, 2]) as tf.Tensor4D,
          bias: f.shift,
        });
      }
      const [rk, rb] = weights("readout") as [tf.Tensor2D, tf.Tensor1D];
      const side = inputSize / 4;
      const c4 = sep[3]!.pointwise.shape[3];
      const keep = <T extends tf.Tensor>(t: T): T => tf.keep(t);
      result = new FastCompactModel(
        inputSize,
        keep(tf.tensor1d([...CHANNEL_MEANS])),
        keep(tf.mul(tf.ones([1, inputSize, inputSize, 3]), tf.tensor1d([...CHANNEL_MEANS])) as tf.Tensor4D),
        keep(conv0),
        keep(conv0T),
        keep(conv0SpaceToDepthFilter(conv0T)),
        keep(conv0SpaceToDepthFilter(conv0, "channel-major")),
        // A fresh buffer: wasm's FusedConv2D reads the bias rank from the buffer's own (tiled, 2-D) shape.
        keep(tf.tensor1d(tf.tile(tf.reshape(f0.shift, [-1, 1]), [1, 4]).dataSync() as Float32Array)),
        keep(f0.shift),
        sep.map((s) => ({
          stride: s.stride,
          depthwise: keep(s.depthwise),
          depthwiseFlipped: keep(s.depthwiseFlipped),
          phases: s.phases === undefined ? undefined : keep(s.phases),
          pointwise: keep(s.pointwise),
          pointwiseT: keep(s.pointwiseT),
          bias: keep(s.bias),
          full: s.full === undefined ? undefined : { filter: keep(s.full.filter), filterT: keep(s.full.filterT) },
        })),
        keep(tf.clone(rk)),
        keep(tf.clone(rb)),
        keep(tf.reshape(rk, [1, side, side, c4]) as tf.Tensor4D),
      );
    });
    if (result === undefined) throw new Error("FastCompactModel.fromModel: folding produced no model");
    return result;
  }

  /** Activations after each of the 5 ReLUs, for pixels 0..255 of shape [N, size, size, 3]. */
  private activations(pixels: tf.Tensor4D, blocks?: { a0: tf.Tensor4D | undefined }): tf.Tensor4D[] {
    const acts: tf.Tensor4D[] = [];
    const [n, h, w] = pixels.shape;
    const centered = tf.sub(pixels, h === this.inputSize && w === this.inputSize ? this.meansImage : this.means) as tf.Tensor4D;
    let a: tf.Tensor4D;
    if (blocks !== undefined && h % 2 === 0 && w % 2 === 0) {
      // Layer 0 on 2x2 blocks; its output [n, h/2, w/2, (c, py, px)] is kept for the gradient's mask.
      const [h2, w2] = [h / 2, w / 2];
      const xs = tf.reshape(tf.transpose(tf.reshape(centered, [n * h2, 2, w2, 2, 3]), [0, 2, 4, 1, 3]), [n, h2, w2, 12]) as tf.Tensor4D;
      const a0 = tf.fused.conv2d({ x: xs, filter: this.conv0FwdS2D, strides: 1, pad: "same", bias: this.bias0S2D, activation: "relu" });
      blocks.a0 = a0;
      const c = a0.shape[3] / 4;
      a = tf.reshape(tf.transpose(tf.reshape(a0, [n * h2, w2, c, 2, 2]), [0, 3, 1, 4, 2]), [n, h, w, c]) as tf.Tensor4D;
    } else {
      a = tf.fused.conv2d({ x: centered, filter: this.conv0, strides: 1, pad: "same", bias: this.bias0, activation: "relu" });
    }
    acts.push(a);
    for (const s of this.sep) {
      if (s.full !== undefined) {
        a = tf.fused.conv2d({ x: a, filter: s.full.filter, strides: 1, pad: "same", bias: s.bias, activation: "relu" });
        acts.push(a);
        continue;
      }
      const d = tf.depthwiseConv2d(a, s.depthwise, s.stride, "same");
      a = tf.fused.conv2d({ x: d, filter: s.pointwise, strides: 1, pad: "valid", bias: s.bias, activation: "relu" });
      acts.push(a);
    }
    return acts;
  }

  /** Same as `model.predict(pixels)`: [N, 1]. */
  predict(pixels: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      const a = this.activations(pixels)[4]!;
      return tf.fused.matMul({ a: tf.reshape(a, [a.shape[0], -1]) as tf.Tensor2D, b: this.readout, bias: this.readoutBias });
    }) as tf.Tensor2D;
  }

  /** d(sum of outputs)/d(pixels), like `tf.grad(x => model.apply(x).sum())` in inference mode. */
  inputGradient(pixels: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const blocks: { a0: tf.Tensor4D | undefined } = { a0: undefined };
      const acts = this.activations(pixels, blocks);
      // ReLU'(z) = step(relu(z)): 1 where the output is positive, else 0 (as tfjs and torch).
      let g = tf.mul(this.readoutImage, tf.step(acts[4]!)) as tf.Tensor4D;
      for (let layer = 4; layer >= 1; layer--) {
        const s = this.sep[layer - 1]!;
        const below = acts[layer - 1]!;
        if (s.full !== undefined) {
          g = tf.mul(tf.conv2d(g, s.full.filterT, 1, "same"), tf.step(below)) as tf.Tensor4D;
          continue;
        }
        const gd = tf.conv2d(g, s.pointwiseT, 1, "valid");
        if (layer === 1 && blocks.a0 !== undefined && s.phases !== undefined && below.shape[1] === 2 * gd.shape[1] && below.shape[2] === 2 * gd.shape[2]) {
          // Stay in space-to-depth layout down to the pixels: the phase conv's output [n, h, w, (c, py, px)]
          // times the ReLU mask in that layout, then layer 0's gradient on 2x2 blocks.
          const [n, h, w] = gd.shape;
          const gs = tf.depthwiseConv2d(gd, s.phases, 1, "same");
          const mask = tf.step(blocks.a0);
          const dxBlocks = tf.conv2d(tf.mul(gs, mask) as tf.Tensor4D, this.conv0S2D, 1, "same");
          const co = dxBlocks.shape[3] / 4;
          return tf.reshape(tf.transpose(tf.reshape(dxBlocks, [n * h, w, 2, 2, co]), [0, 2, 1, 3, 4]), [n, 2 * h, 2 * w, co]) as tf.Tensor4D;
        }
        const ga =
          s.stride === 1
            ? tf.depthwiseConv2d(gd, s.depthwiseFlipped, 1, "same")
            : s.phases !== undefined && below.shape[1] === 2 * gd.shape[1] && below.shape[2] === 2 * gd.shape[2]
              ? stride2InputGradient(gd, s.phases)
              : (tf.engine().runKernel("DepthwiseConv2dNativeBackpropInput", { dy: gd, filter: s.depthwise }, {
                strides: [s.stride, s.stride], dilations: [1, 1], pad: "same", dimRoundingMode: undefined, inputShape: below.shape,
              } as unknown as tf.NamedAttrMap) as tf.Tensor4D);
        g = tf.mul(ga, tf.step(below)) as tf.Tensor4D;
      }
      // Stride-1 'same' 5x5: the transposed convolution is a correlation with the flipped filter.
      return tf.conv2d(g, this.conv0T, 1, "same");
    });
  }

  /**
   * One normalized gradient-ascent step on the summed output, as torch_reference's synth:
   * img + step * g / (sqrt(mean(g^2)) + eps).
   */
  ascentStep(pixels: tf.Tensor4D, step = 10, eps = 1e-5): tf.Tensor4D {
    return tf.tidy(() => {
      const g = this.inputGradient(pixels);
      return tf.add(pixels, tf.mul(g, tf.div(step, tf.add(tf.sqrt(tf.mean(tf.square(g))), eps)))) as tf.Tensor4D;
    });
  }

  dispose(): void {
    tf.dispose([this.means, this.meansImage, this.conv0, this.conv0T, this.conv0S2D, this.conv0FwdS2D, this.bias0S2D, this.bias0, this.readout, this.readoutBias, this.readoutImage]);
    for (const s of this.sep) {
      tf.dispose([s.depthwise, s.depthwiseFlipped, s.pointwise, s.pointwiseT, s.bias, ...(s.phases === undefined ? [] : [s.phases])]);
      if (s.full !== undefined) tf.dispose([s.full.filter, s.full.filterT]);
    }
  }
}
