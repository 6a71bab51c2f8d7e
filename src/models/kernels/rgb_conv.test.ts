import * as tf from "@tensorflow/tfjs";
import { describe, expect, it } from "vitest";
import { ascentUpdate, packRgbFilter, packRgbForward, rgbConv2dBiasRelu, rgbConv2dInputGradient } from "./rgb_conv.js";
import { relaxedSimdAvailable, type RgbShape, simdKernelsOf, simdKernelsOn } from "./simd_module.js";
import { expectNear, kernelPools } from "./simd_test_memory.js";
import { compareOnBoth, randomValues, useWasm } from "./test_util.js";

// Feature channels with a partial last quad (47, 5), without (8, 4); widths that leave pixels after
// the blocks; a width below the kernel's (every pixel on the checked path); non-square and even kernels.
const SHAPES: (RgbShape & { name: string })[] = [
  {
    name: "5x5, 47 channels (the compact models' first layer)",
    batch: 2,
    height: 9,
    width: 13,
    channels: 47,
    kh: 5,
    kw: 5,
    padTop: 2,
    padLeft: 2,
  },
  { name: "5x5, 8 channels", batch: 1, height: 7, width: 10, channels: 8, kh: 5, kw: 5, padTop: 2, padLeft: 2 },
  { name: "3x3, 5 channels", batch: 3, height: 6, width: 11, channels: 5, kh: 3, kw: 3, padTop: 1, padLeft: 1 },
  {
    name: "5x5 on a 3-pixel-wide image, 4 channels",
    batch: 2,
    height: 5,
    width: 3,
    channels: 4,
    kh: 5,
    kw: 5,
    padTop: 2,
    padLeft: 2,
  },
  {
    name: "4x3 (even height), 6 channels",
    batch: 1,
    height: 8,
    width: 9,
    channels: 6,
    kh: 4,
    kw: 3,
    padTop: 1,
    padLeft: 1,
  },
];

/** Plain loops: the input gradient of sum(g * conv(x, w)), zero padding. */
function reference(w: Float32Array, g: Float32Array, s: RgbShape): Float64Array {
  const K = s.channels;
  const dx = new Float64Array(s.batch * s.height * s.width * 3);
  for (let b = 0; b < s.batch; b++)
    for (let y = 0; y < s.height; y++)
      for (let xx = 0; xx < s.width; xx++) {
        const o = (b * s.height + y) * s.width + xx;
        for (let u = 0; u < s.kh; u++)
          for (let v = 0; v < s.kw; v++) {
            const iy = y + u - s.padTop;
            const ix = xx + v - s.padLeft;
            if (iy < 0 || iy >= s.height || ix < 0 || ix >= s.width) continue;
            const i = (b * s.height + iy) * s.width + ix;
            for (let c = 0; c < 3; c++)
              for (let k = 0; k < K; k++) dx[i * 3 + c]! += g[o * K + k]! * w[((u * s.kw + v) * 3 + c) * K + k]!;
          }
      }
  return dx;
}

describe("first-layer (3-channel) input gradient kernel against plain loops", async () => {
  // Both builds of the module: with relaxed SIMD's fused multiply-add where this runtime has it, and without.
  if (!(await relaxedSimdAvailable()))
    console.log("rgb kernels: this runtime has no relaxed SIMD; testing the multiply-and-add build only");
  const { mem, pools } = kernelPools();

  for (const s of SHAPES) {
    it(s.name, async () => {
      await useWasm();
      const n = s.batch * s.height * s.width;
      const w = randomValues(s.kh * s.kw * 3 * s.channels, 12);
      const g = randomValues(n * s.channels, 14);
      const packed = packRgbFilter(tf.tensor4d(w, [s.kh, s.kw, 3, s.channels]));
      const ref = reference(w, g, s);
      for (const { fma, pool } of pools) {
        // Split threshold 0: rows go to both threads even for these small images.
        const kernels = simdKernelsOn(mem.memory, pool, mem.scratch, 0, fma);
        expect(kernels.fusedMultiplyAdd).toBe(fma);
        const wp = mem.put(packed.gradient.dataSync() as Float32Array);
        const gp = mem.put(g);
        const dx = mem.alloc(n * 3);
        // Stale values must not survive: the call overwrites its whole output.
        mem.view(dx, n * 3).fill(7);
        kernels.rgbInputGrad(dx, gp, wp, s);
        expectNear(mem.view(dx, n * 3), ref, `${s.name}, ${fma ? "fused multiply-add" : "multiply and add"}`);
      }
      packed.dispose();
    });
  }

  it("refuses fewer than 4 feature channels and filters over other than 3 channels", () => {
    expect(() => packRgbFilter(tf.zeros([5, 5, 3, 3]) as tf.Tensor4D)).toThrow(/at least 4 output channels, got 3/);
    expect(() => packRgbFilter(tf.zeros([5, 5, 4, 8]) as tf.Tensor4D)).toThrow(/3 image channels, got 4/);
  });
});

// The forward kernel is 5x5 only: K with full groups of 3 quads (12), a partial group (13: 4 quads, the
// last one at K - 4 and repeated), the compact models' 47; widths with pixels left after the 3-pixel
// blocks, under the kernel's width, and of one block exactly between the edges (7).
const FORWARD_SHAPES: (RgbShape & { name: string })[] = [
  {
    name: "47 channels, 2 images of 9x13",
    batch: 2,
    height: 9,
    width: 13,
    channels: 47,
    kh: 5,
    kw: 5,
    padTop: 2,
    padLeft: 2,
  },
  { name: "13 channels, 7x7", batch: 1, height: 7, width: 7, channels: 13, kh: 5, kw: 5, padTop: 2, padLeft: 2 },
  {
    name: "4 channels on a 3-pixel-wide image",
    batch: 3,
    height: 4,
    width: 3,
    channels: 4,
    kh: 5,
    kw: 5,
    padTop: 2,
    padLeft: 2,
  },
  { name: "12 channels, 6x17", batch: 1, height: 6, width: 17, channels: 12, kh: 5, kw: 5, padTop: 2, padLeft: 2 },
];

/** Plain loops: max(0, bias + conv(x, w)), 'same' zero padding. */
function forwardReference(x: Float32Array, w: Float32Array, bias: Float32Array, s: RgbShape): Float64Array {
  const K = s.channels;
  const y = new Float64Array(s.batch * s.height * s.width * K);
  for (let b = 0; b < s.batch; b++)
    for (let yy = 0; yy < s.height; yy++)
      for (let xx = 0; xx < s.width; xx++) {
        const o = ((b * s.height + yy) * s.width + xx) * K;
        for (let k = 0; k < K; k++) y[o + k] = bias[k]!;
        for (let u = 0; u < 5; u++)
          for (let v = 0; v < 5; v++) {
            const iy = yy + u - 2;
            const ix = xx + v - 2;
            if (iy < 0 || iy >= s.height || ix < 0 || ix >= s.width) continue;
            const i = ((b * s.height + iy) * s.width + ix) * 3;
            for (let c = 0; c < 3; c++)
              for (let k = 0; k < K; k++) y[o + k]! += x[i + c]! * w[((u * 5 + v) * 3 + c) * K + k]!;
          }
        for (let k = 0; k < K; k++) y[o + k] = Math.max(0, y[o + k]!);
      }
  return y;
}

describe("first-layer (3-channel) forward kernel with bias and ReLU against plain loops", async () => {
  const { mem, pools } = kernelPools();

  for (const s of FORWARD_SHAPES) {
    it(s.name, async () => {
      await useWasm();
      const n = s.batch * s.height * s.width;
      const w = randomValues(75 * s.channels, 41);
      // Biases around zero so that the ReLU clips some outputs and not others.
      const bias = randomValues(s.channels, 42);
      const x = randomValues(n * 3, 43);
      const packed = packRgbForward(tf.tensor4d(w, [5, 5, 3, s.channels]), tf.tensor1d(bias));
      const ref = forwardReference(x, w, bias, s);
      expect(ref.some((v) => v === 0) && ref.some((v) => v > 0), "the ReLU clips some outputs").toBe(true);
      for (const { fma, pool } of pools) {
        const kernels = simdKernelsOn(mem.memory, pool, mem.scratch, 0, fma);
        const wp = mem.put(packed.packed.dataSync() as Float32Array);
        const xp = mem.put(x);
        const y = mem.alloc(n * s.channels);
        mem.view(y, n * s.channels).fill(7);
        kernels.rgbForward(y, xp, wp, s, packed.groups);
        expectNear(mem.view(y, n * s.channels), ref, `${s.name}, ${fma ? "fused multiply-add" : "multiply and add"}`);
      }
      packed.dispose();
    });
  }

  it("refuses other filters than 5x5 over 3 channels, and fewer than 4 feature channels", () => {
    expect(() => packRgbForward(tf.zeros([3, 3, 3, 8]) as tf.Tensor4D, tf.zeros([8]) as tf.Tensor1D)).toThrow(
      /\[5, 5, 3, K\] filter/,
    );
    expect(() => packRgbForward(tf.zeros([5, 5, 3, 3]) as tf.Tensor4D, tf.zeros([3]) as tf.Tensor1D)).toThrow(
      /at least 4 output channels, got 3/,
    );
    expect(() => packRgbForward(tf.zeros([5, 5, 3, 8]) as tf.Tensor4D, tf.zeros([7]) as tf.Tensor1D)).toThrow(
      /7 biases for 8 channels/,
    );
  });
});

describe("rgbConv2dBiasRelu on the wasm backend", () => {
  it("matches tf.fused.conv2d with bias and ReLU on the cpu backend, leaking no tensors", async () => {
    const [n, h, w, k] = [2, 12, 10, 47];
    await compareOnBoth("rgb forward", () => {
      const filter = tf.tensor4d(randomValues(75 * k, 52), [5, 5, 3, k]);
      const bias = tf.tensor1d(randomValues(k, 53));
      const x = tf.tensor4d(randomValues(n * h * w * 3, 54), [n, h, w, 3]);
      const packed = packRgbForward(filter, bias);
      const y = rgbConv2dBiasRelu(x, packed);
      expect(y === undefined, "rgbConv2dBiasRelu fell back").toBe(simdKernelsOf(tf.backend()) === undefined);
      const out = y ?? tf.fused.conv2d({ x, filter, strides: 1, pad: "same", bias, activation: "relu" });
      packed.dispose();
      tf.dispose([filter, bias, x]);
      return [out];
    });
  });
});

describe("rgbConv2dInputGradient on the wasm backend", () => {
  it("matches tf.conv2dTranspose on the cpu backend, leaking no tensors", async () => {
    const [n, h, w, k] = [2, 12, 10, 47];
    await compareOnBoth("rgb input gradient", () => {
      const filter = tf.tensor4d(randomValues(5 * 5 * 3 * k, 22), [5, 5, 3, k]);
      const g = tf.tensor4d(randomValues(n * h * w * k, 24), [n, h, w, k]);
      const packed = packRgbFilter(filter);
      const gradient = rgbConv2dInputGradient(g, packed);
      // Where the SIMD kernels run, the result must have come from them.
      expect(gradient === undefined, "rgbConv2dInputGradient fell back").toBe(
        simdKernelsOf(tf.backend()) === undefined,
      );
      const out = gradient ?? tf.conv2dTranspose(g, filter, [n, h, w, 3], 1, "same");
      packed.dispose();
      tf.dispose([filter, g]);
      return [out];
    });
  });
});

describe("ascentUpdate on the wasm backend", () => {
  // 3 * 7 * 5 = 105 floats: 26 quads and one left over.
  it("matches x + step * g / (sqrt(mean(g^2)) + eps) on the cpu backend", async () => {
    await compareOnBoth("ascent update", () => {
      const x = tf.tensor4d(
        randomValues(105, 31).map((v) => 100 * v),
        [1, 7, 5, 3],
      );
      const g = tf.tensor4d(
        randomValues(105, 32).map((v) => 0.003 * v),
        [1, 7, 5, 3],
      );
      const fused = ascentUpdate(x, g, 10, 1e-5);
      expect(fused === undefined, "ascentUpdate fell back").toBe(simdKernelsOf(tf.backend()) === undefined);
      const out =
        fused ?? tf.tidy(() => tf.add(x, tf.mul(g, tf.div(10, tf.add(tf.sqrt(tf.mean(tf.square(g))), 1e-5)))));
      tf.dispose([x, g]);
      return [out];
    });
  });
});
