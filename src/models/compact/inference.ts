// Inference-only (eval-mode) compact model: batchnorm folded into the convolutions, fused bias +
// ReLU, and a hand-written input gradient for image synthesis (no tape, no filter gradients).
import * as tf from "@tensorflow/tfjs";
import { BATCHNORM_EPSILON, CHANNEL_MEANS, COMPACT_STRIDES } from "./model.js";
import { maskedDepthwiseInputGradient } from "../kernels/depthwise_conv2d_backprop_input.js";
import {
  ascentUpdate,
  packRgbFilter,
  packRgbForward,
  type PackedRgbFilter,
  type PackedRgbForward,
  RGB_MIN_CHANNELS,
  rgbConv2dBiasRelu,
  rgbConv2dInputGradient,
} from "../kernels/rgb_conv.js";
import { simdKernelsOf } from "../kernels/simd_module.js";
import { localWindows, pasteIndices, type PixelBox, sameConvAxis } from "./local-window.js";

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
  if (dw.shape[0] !== 5 || dw.shape[1] !== 5)
    throw new Error(`stride2PhaseFilter: expected a 5x5 depthwise filter, got ${dw.shape}`);
  const c = dw.shape[2];
  const wp = tf.pad(dw, [
    [1, 0],
    [1, 0],
    [0, 0],
    [0, 0],
  ]);
  const rev = tf.reverse(tf.reshape(wp, [3, 2, 3, 2, c]), [0, 2]);
  return tf.reshape(tf.transpose(rev, [0, 2, 4, 1, 3]), [3, 3, c, 4]) as tf.Tensor4D;
}

function stride2InputGradient(dy: tf.Tensor4D, phaseFilter: tf.Tensor4D): tf.Tensor4D {
  const [n, h, w, c] = dy.shape;
  const out = tf.depthwiseConv2d(dy, phaseFilter, 1, "same");
  return tf.reshape(tf.transpose(tf.reshape(out, [n * h, w, c, 2, 2]), [0, 3, 1, 4, 2]), [
    n,
    2 * h,
    2 * w,
    c,
  ]) as tf.Tensor4D;
}

/**
 * The layer-0 input gradient (a 'same' 5x5 conv of g with conv0T [5, 5, k0, 3]) on column pairs.
 * An NHWC tensor [N, H, W, C] with even W is, by a free reshape, [N, H, W/2, 2C] with channel
 * index (q, c) = q C + c for column 2J + q. In that layout the gradient is a 'same' 5x3 conv with
 * 2 k0 input and 6 output channels (px', co), whose output reshapes freely back to [N, H, W, 3]:
 * dx[y, 2J + px'] reads g column 2J + px' + v - 2 = 2(J + b) + q, so tap v = 2b + q + 2 - px'.
 * Against the plain conv it has 6 output channels instead of 3 (XNNPACK's GEMM tiles waste less)
 * and 1.2 times the multiply-adds; against 2x2 blocks it needs no transposes at all.
 */
function conv0ColumnPairFilter(conv0T: tf.Tensor4D): tf.Tensor4D {
  const [k, kw, cin, cout] = conv0T.shape;
  if (k !== 5 || kw !== 5) throw new Error(`conv0ColumnPairFilter: expected a 5x5 filter, got ${conv0T.shape}`);
  const src = conv0T.dataSync();
  const ci2 = cin * 2;
  const co2 = cout * 2;
  const out = new Float32Array(5 * 3 * ci2 * co2);
  for (let u = 0; u < 5; u++) {
    for (let b = -1; b <= 1; b++) {
      for (let q = 0; q < 2; q++) {
        for (let px = 0; px < 2; px++) {
          const v = 2 * b + q + 2 - px;
          if (v < 0 || v > 4) continue;
          for (let ci = 0; ci < cin; ci++) {
            for (let co = 0; co < cout; co++) {
              out[((u * 3 + (b + 1)) * ci2 + q * cin + ci) * co2 + px * cout + co] =
                src[((u * 5 + v) * cin + ci) * cout + co]!;
            }
          }
        }
      }
    }
  }
  return tf.tensor4d(out, [5, 3, ci2, co2]);
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
    /** conv0T on column pairs: [5, 3, 2 k0, 6] (conv0ColumnPairFilter). */
    private readonly conv0Pairs: tf.Tensor4D,
    private readonly bias0: tf.Tensor1D,
    /** conv0 packed for the wasm SIMD first-layer input gradient (undefined below 4 filters). */
    private readonly rgb0: PackedRgbFilter | undefined,
    /** conv0 and bias0 packed for the wasm SIMD first-layer forward kernel (undefined below 4 filters). */
    private readonly rgb0Forward: PackedRgbForward | undefined,
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
        keep(conv0ColumnPairFilter(conv0T)),
        keep(f0.shift),
        conv0.shape[3] >= RGB_MIN_CHANNELS ? packRgbFilter(conv0, keep) : undefined,
        conv0.shape[3] >= RGB_MIN_CHANNELS ? packRgbForward(conv0, f0.shift, keep) : undefined,
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

  /** Layer 0's activation (after its ReLU) for pixels 0..255 [N, h, w, 3]. */
  private firstLayer(pixels: tf.Tensor4D): tf.Tensor4D {
    const [, h, w] = pixels.shape;
    const centered = tf.sub(
      pixels,
      h === this.inputSize && w === this.inputSize ? this.meansImage : this.means,
    ) as tf.Tensor4D;
    // wasm SIMD: the first layer as a direct kernel (about 1.7 times XNNPACK's speed on this shape).
    const direct = this.rgb0Forward === undefined ? undefined : rgbConv2dBiasRelu(centered, this.rgb0Forward);
    return (
      direct ??
      tf.fused.conv2d({
        x: centered,
        filter: this.conv0,
        strides: 1,
        pad: "same",
        bias: this.bias0,
        activation: "relu",
      })
    );
  }

  /** A separable layer's activation (after its ReLU) from the one below. */
  private static sepLayer(s: SepLayer, a: tf.Tensor4D): tf.Tensor4D {
    if (s.full !== undefined)
      return tf.fused.conv2d({
        x: a,
        filter: s.full.filter,
        strides: 1,
        pad: "same",
        bias: s.bias,
        activation: "relu",
      });
    const d = tf.depthwiseConv2d(a, s.depthwise, s.stride, "same");
    return tf.fused.conv2d({ x: d, filter: s.pointwise, strides: 1, pad: "valid", bias: s.bias, activation: "relu" });
  }

  /** Activations after each of the 5 ReLUs, for pixels 0..255 of shape [N, size, size, 3]. */
  private activations(pixels: tf.Tensor4D): tf.Tensor4D[] {
    const acts = [this.firstLayer(pixels)];
    for (const s of this.sep) acts.push(FastCompactModel.sepLayer(s, acts[acts.length - 1]!));
    return acts;
  }

  /** The readout of the last activation [N, s, s, C4]: [N, 1]. */
  private readoutOf(a: tf.Tensor4D): tf.Tensor2D {
    return tf.fused.matMul({
      a: tf.reshape(a, [a.shape[0], -1]) as tf.Tensor2D,
      b: this.readout,
      bias: this.readoutBias,
    }) as tf.Tensor2D;
  }

  /** Same as `model.predict(pixels)`: [N, 1]. */
  predict(pixels: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => this.readoutOf(this.activations(pixels)[4]!));
  }

  /**
   * Same as `predict(pixels)` for images that each equal a base image outside a box: image i is
   * `bases[baseOf[i]]` changed only inside `boxes[i]` (smoothing's candidates). Every layer is
   * computed once per base and, per image, only in the window the change reaches, read from the
   * base's activation with the window below pasted in; the last window is pasted into the base's
   * last activation for the readout. The same sums as `predict`, in another order.
   */
  predictNear(
    bases: tf.Tensor4D,
    baseOf: readonly number[],
    pixels: tf.Tensor4D,
    boxes: readonly PixelBox[],
  ): tf.Tensor2D {
    const [n, h, w] = pixels.shape;
    const size = this.inputSize;
    const m = bases.shape[0];
    if (h !== size || w !== size || bases.shape[1] !== size || bases.shape[2] !== size)
      throw new Error(`predictNear: expected ${size} px images and bases, got [${pixels.shape}] and [${bases.shape}]`);
    if (baseOf.length !== n || boxes.length !== n)
      throw new Error(`predictNear: ${n} images but ${baseOf.length} base indices and ${boxes.length} boxes`);
    for (const b of baseOf)
      if (!Number.isInteger(b) || b < 0 || b >= m) throw new Error(`predictNear: base ${b} is not one of ${m}`);
    for (const { y0, y1, x0, x1 } of boxes)
      if (
        ![y0, y1, x0, x1].every(Number.isInteger) ||
        !(0 <= y0 && y0 <= y1 && y1 <= size && 0 <= x0 && x0 <= x1 && x1 <= size)
      )
        throw new Error(`predictNear: box rows ${y0}..${y1}, columns ${x0}..${x1} is not within a ${size} px image`);
    return tf.tidy(() => {
      const k0 = this.conv0.shape[0];
      const convs = [sameConvAxis(k0, 1, size)];
      for (const s of this.sep)
        convs.push(sameConvAxis(s.depthwise.shape[0], s.stride, convs[convs.length - 1]!.outSize));
      const win = localWindows(boxes, convs);
      const baseActs = this.activations(bases);
      // Layer 0 on each image's window: a 'valid' conv of a crop of the centered image, zero outside it
      // (pixels outside read the means row, zero once centered).
      const pad0 = convs[0]!.padBefore;
      const crop = win[0]!.side + k0 - 1;
      const meansRow = n * size * size;
      const cropIdx = new Int32Array(n * crop * crop);
      win[0]!.at.forEach(([r0, c0], b) => {
        for (let i = 0; i < crop; i++) {
          const r = r0 - pad0 + i;
          for (let j = 0; j < crop; j++) {
            const c = c0 - pad0 + j;
            cropIdx[(b * crop + i) * crop + j] =
              r < 0 || r >= size || c < 0 || c >= size ? meansRow : (b * size + r) * size + c;
          }
        }
      });
      const table0 = tf.concat([tf.reshape(pixels, [-1, 3]), tf.reshape(this.means, [1, 3])]);
      const crops = tf.sub(tf.gather(table0, tf.tensor1d(cropIdx, "int32")), this.means);
      let act = tf.fused.conv2d({
        x: tf.reshape(crops, [n, crop, crop, 3]) as tf.Tensor4D,
        filter: this.conv0,
        strides: 1,
        pad: "valid",
        bias: this.bias0,
        activation: "relu",
      });
      // Each layer's input window: the base's activation, the window below, zeros outside the image.
      this.sep.forEach((s, l) => {
        const below = baseActs[l]!;
        const [, sb, , c] = below.shape;
        const conv = convs[l + 1]!;
        const side = (win[l + 1]!.side - 1) * conv.stride + conv.kernel;
        const at = win[l + 1]!.at.map(([r, col]) => [
          r * conv.stride - conv.padBefore,
          col * conv.stride - conv.padBefore,
        ]) as [number, number][];
        const table = tf.concat([tf.reshape(below, [-1, c]), tf.reshape(act, [-1, c]), tf.zeros([1, c])]);
        const idx = pasteIndices(sb, baseOf, at, side, side, win[l]!.at, win[l]!.side, m * sb * sb, table.shape[0] - 1);
        const input = tf.reshape(tf.gather(table, tf.tensor1d(idx, "int32")), [n, side, side, c]) as tf.Tensor4D;
        act =
          s.full !== undefined
            ? tf.fused.conv2d({
                x: input,
                filter: s.full.filter,
                strides: 1,
                pad: "valid",
                bias: s.bias,
                activation: "relu",
              })
            : tf.fused.conv2d({
                x: tf.depthwiseConv2d(input, s.depthwise, s.stride, "valid"),
                filter: s.pointwise,
                strides: 1,
                pad: "valid",
                bias: s.bias,
                activation: "relu",
              });
      });
      // The last window pasted into the base's last activation, then the readout.
      const top = baseActs[baseActs.length - 1]!;
      const [, st, , ct] = top.shape;
      const last = win[win.length - 1]!;
      const table = tf.concat([tf.reshape(top, [-1, ct]), tf.reshape(act, [-1, ct])]);
      const whole = Array.from({ length: n }, () => [0, 0] as [number, number]);
      const idx = pasteIndices(st, baseOf, whole, st, st, last.at, last.side, m * st * st, 0);
      return this.readoutOf(tf.reshape(tf.gather(table, tf.tensor1d(idx, "int32")), [n, st, st, ct]) as tf.Tensor4D);
    });
  }

  /** d(sum of outputs)/d(pixels), like `tf.grad(x => model.apply(x).sum())` in inference mode. */
  inputGradient(pixels: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const acts = this.activations(pixels);
      // The wasm SIMD kernel beats the multiplier-4 phase convolution (a grouped-GEMM path in XNNPACK).
      const simd = simdKernelsOf(tf.backend()) !== undefined;
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
        // wasm SIMD: the depthwise input gradient and the ReLU derivative below in one pass.
        const fused = simd ? maskedDepthwiseInputGradient(gd, s.depthwise, below, s.stride) : undefined;
        if (fused !== undefined) {
          g = fused;
          continue;
        }
        const ga =
          s.stride === 1
            ? tf.depthwiseConv2d(gd, s.depthwiseFlipped, 1, "same")
            : s.phases !== undefined && below.shape[1] === 2 * gd.shape[1] && below.shape[2] === 2 * gd.shape[2]
              ? stride2InputGradient(gd, s.phases)
              : (tf.engine().runKernel("DepthwiseConv2dNativeBackpropInput", { dy: gd, filter: s.depthwise }, {
                  strides: [s.stride, s.stride],
                  dilations: [1, 1],
                  pad: "same",
                  dimRoundingMode: undefined,
                  inputShape: below.shape,
                } as unknown as tf.NamedAttrMap) as tf.Tensor4D);
        g = tf.mul(ga, tf.step(below)) as tf.Tensor4D;
      }
      const direct = this.rgb0 === undefined ? undefined : rgbConv2dInputGradient(g, this.rgb0);
      if (direct !== undefined) return direct;
      // Layer 0 on column pairs (conv0ColumnPairFilter); both reshapes are free. The width is even:
      // two stride-2 layers need a multiple of 4 (readoutImage fixes it to inputSize).
      const [n, h, w, k0] = g.shape;
      const dx = tf.conv2d(tf.reshape(g, [n, h, w / 2, 2 * k0]) as tf.Tensor4D, this.conv0Pairs, 1, "same");
      return tf.reshape(dx, [n, h, w, 3]) as tf.Tensor4D;
    });
  }

  /**
   * One normalized gradient-ascent step on the summed output, as torch_reference's synth:
   * img + step * g / (sqrt(mean(g^2)) + eps).
   */
  ascentStep(pixels: tf.Tensor4D, step = 10, eps = 1e-5): tf.Tensor4D {
    return tf.tidy(() => {
      const g = this.inputGradient(pixels);
      // wasm SIMD: the norm and the update in one pass (six small kernels otherwise).
      return (
        ascentUpdate(pixels, g, step, eps) ??
        (tf.add(pixels, tf.mul(g, tf.div(step, tf.add(tf.sqrt(tf.mean(tf.square(g))), eps)))) as tf.Tensor4D)
      );
    });
  }

  dispose(): void {
    tf.dispose([
      this.means,
      this.meansImage,
      this.conv0,
      this.conv0Pairs,
      this.bias0,
      this.readout,
      this.readoutBias,
      this.readoutImage,
    ]);
    this.rgb0?.dispose();
    this.rgb0Forward?.dispose();
    for (const s of this.sep) {
      tf.dispose([
        s.depthwise,
        s.depthwiseFlipped,
        s.pointwise,
        s.pointwiseT,
        s.bias,
        ...(s.phases === undefined ? [] : [s.phases]),
      ]);
      if (s.full !== undefined) tf.dispose([s.full.filter, s.full.filterT]);
    }
  }
}
