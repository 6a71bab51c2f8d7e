import * as tf from "@tensorflow/tfjs";
import { describe, expect, it, vi } from "vitest";
import { maskedDepthwiseInputGradient } from "./depthwise_conv2d_backprop_input.js";
import { packedStride2Floats, packStride2Filter } from "./simd_dw_s2_text.js";
import { type ConvShape, isStride2Same5x5, simdKernelsOf, simdKernelsOn } from "./simd_module.js";
import { expectNear, kernelPools } from "./simd_test_memory.js";
import { compareOnBoth, randomTensor, randomValues, useWasm } from "./test_util.js";

// The stride-2 5x5 depthwise kernels (simd_dw_s2_text.ts) against plain loops: every border class,
// channel counts with and without a remainder quad, batch > 1, split over two threads.
function s2Shape(batch: number, inH: number, inW: number, channels: number): ConvShape {
  return {
    batch,
    inH,
    inW,
    channels,
    outH: inH / 2,
    outW: inW / 2,
    kh: 5,
    kw: 5,
    strideH: 2,
    strideW: 2,
    padTop: 1,
    padLeft: 1,
  };
}

const SHAPES: ConvShape[] = [
  s2Shape(1, 4, 4, 4), // the smallest: every pixel on a border
  s2Shape(2, 8, 12, 5), // one lane past a quad
  s2Shape(3, 10, 6, 8),
  s2Shape(1, 14, 16, 47), // the first stride-2 layer's channels, an odd number of inner pixel pairs
  s2Shape(2, 6, 18, 11),
];

/** y = depthwise conv of x; dx = its input gradient for dy (zero padding: taps outside are skipped). */
function reference(
  x: Float32Array,
  dy: Float32Array,
  w: Float32Array,
  s: ConvShape,
): { y: Float64Array; dx: Float64Array } {
  const C = s.channels;
  const y = new Float64Array(s.batch * s.outH * s.outW * C);
  const dx = new Float64Array(s.batch * s.inH * s.inW * C);
  for (let b = 0; b < s.batch; b++)
    for (let oy = 0; oy < s.outH; oy++)
      for (let ox = 0; ox < s.outW; ox++)
        for (let i = 0; i < 5; i++)
          for (let j = 0; j < 5; j++) {
            const iy = oy * 2 + i - 1;
            const ix = ox * 2 + j - 1;
            if (iy < 0 || iy >= s.inH || ix < 0 || ix >= s.inW) continue;
            const o = ((b * s.outH + oy) * s.outW + ox) * C;
            const n = ((b * s.inH + iy) * s.inW + ix) * C;
            for (let c = 0; c < C; c++) {
              y[o + c]! += x[n + c]! * w[(i * 5 + j) * C + c]!;
              dx[n + c]! += w[(i * 5 + j) * C + c]! * dy[o + c]!;
            }
          }
  return { y, dx };
}

describe("stride-2 5x5 depthwise kernels", () => {
  it("cover exactly the 5x5 stride-2 'same' shapes on even sizes with at least 4 channels and 2 x 2 outputs", () => {
    expect(isStride2Same5x5(s2Shape(1, 112, 112, 47))).toBe(true);
    expect(isStride2Same5x5(s2Shape(2, 4, 6, 4))).toBe(true);
    expect(isStride2Same5x5(s2Shape(1, 2, 4, 8))).toBe(false); // one output row
    expect(isStride2Same5x5(s2Shape(1, 8, 8, 3))).toBe(false); // under a quad of channels
    expect(isStride2Same5x5({ ...s2Shape(1, 8, 8, 8), padLeft: 2 })).toBe(false);
    expect(isStride2Same5x5({ ...s2Shape(1, 8, 8, 8), strideW: 1, outW: 8 })).toBe(false);
    expect(isStride2Same5x5({ ...s2Shape(1, 8, 8, 8), kh: 3 })).toBe(false);
    expect(isStride2Same5x5({ ...s2Shape(1, 9, 8, 8), outH: 5 })).toBe(false); // odd height
  });

  it("pack 9 border variants with the taps that read outside set to zero", () => {
    const C = 6;
    const filter = Float32Array.from({ length: 25 * C }, (_, i) => i + 1);
    const nonzeroTaps = (kind: "forward" | "inputGradient"): number[] => {
      const out = new Float32Array(packedStride2Floats(C)).fill(-1);
      packStride2Filter(filter, C, kind, out);
      expect(out.includes(-1), "every float written").toBe(false);
      // Quad 1 is the last one: channels C - 4 .. C - 1 (here 2 .. 5).
      expect(Array.from(out.subarray(4 * 200 + 100, 4 * 200 + 104)), "the inner variant, quad 1, tap 0").toEqual([
        3, 4, 5, 6,
      ]);
      return Array.from(
        { length: 9 },
        (_, v) => Array.from({ length: 25 }, (_, t) => out[v * 200 + t * 4]!).filter((x) => x !== 0).length,
      );
    };
    // forward: the first output row/column loses tap 0, the last loses taps 3 and 4.
    expect(nonzeroTaps("forward")).toEqual([16, 20, 12, 20, 25, 15, 12, 15, 9]);
    // input gradient: the first dy row/column loses the taps read at i - 1 (3 and 4), the last the tap read at i + 1
    // (0).
    expect(nonzeroTaps("inputGradient")).toEqual([9, 15, 12, 15, 25, 20, 12, 20, 16]);
  });

  describe("on a shared memory, split over a worker thread, against plain loops", () => {
    const { mem, pools } = kernelPools();

    for (const s of SHAPES) {
      it(`${s.batch}x${s.inH}x${s.inW}x${s.channels}: forward, input gradient, masked input gradient`, () => {
        for (const { fma, pool } of pools) {
          const C = s.channels;
          const nx = s.batch * s.inH * s.inW * C;
          const ny = s.batch * s.outH * s.outW * C;
          const [x, dy, w] = [randomValues(nx, 11), randomValues(ny, 12), randomValues(25 * C, 13)].map((v) =>
            mem.put(v),
          ) as [number, number, number];
          const [y, dx, dxm] = [ny, nx, nx].map((n) => mem.alloc(n)) as [number, number, number];
          const view = (at: number, n: number): Float32Array => mem.view(at, n);
          // Stale values must not survive: each call overwrites its whole output.
          for (const [at, n] of [
            [y, ny],
            [dx, nx],
            [dxm, nx],
          ] as const)
            view(at, n).fill(7);
          mem.freed.length = 0;
          const kernels = simdKernelsOn(mem.memory, pool, mem.scratch, 0, fma);
          expect(kernels.dwConv(y, x, w, s)).toBe(true);
          kernels.dwInputGrad(dx, dy, w, s);
          kernels.dwInputGrad(dxm, dy, w, s, x);
          expect(mem.freed, "each call frees its packed filter").toHaveLength(3);
          const ref = reference(view(x, nx), view(dy, ny), view(w, 25 * C), s);
          const xs = view(x, nx);
          expectNear(view(y, ny), ref.y, `forward (fma ${fma})`);
          expectNear(view(dx, nx), ref.dx, `input gradient (fma ${fma})`);
          expectNear(
            view(dxm, nx),
            ref.dx.map((v, i) => (xs[i]! > 0 ? v : 0)),
            `masked input gradient (fma ${fma})`,
          );
        }
      });
    }

    it("leave other shapes to the runtime (dwConv writes nothing and says so)", () => {
      const s: ConvShape = { ...s2Shape(1, 8, 8, 8), strideH: 1, strideW: 1, outH: 8, outW: 8, padTop: 2, padLeft: 2 };
      const y = mem.alloc(64 * 8);
      mem.view(y, 64 * 8).fill(7);
      expect(
        simdKernelsOn(mem.memory, pools[0]!.pool, mem.scratch, 0).dwConv(y, mem.alloc(64 * 8), mem.alloc(25 * 8), s),
      ).toBe(false);
      expect(mem.view(y, 64 * 8).every((v) => v === 7)).toBe(true);
    });
  });

  it("run as the wasm backend's DepthwiseConv2dNative and match cpu (forward, input gradient, masked)", async () => {
    await useWasm();
    const kernels = simdKernelsOf(tf.backend());
    if (kernels === undefined)
      return expect(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"), "SIMD kernels missing where wasm has SIMD").toBe(
        false,
      );
    const spy = vi.spyOn(kernels, "dwConv");
    try {
      await compareOnBoth("stride-2 depthwise 2x12x10x47", () => {
        const x = randomTensor([2, 12, 10, 47], 21) as tf.Tensor4D;
        const w = randomTensor([5, 5, 47, 1], 22) as tf.Tensor4D;
        const y = tf.depthwiseConv2d(x, w, 2, "same");
        const dy = randomTensor(y.shape, 23) as tf.Tensor4D;
        const [gx] = tf.grads((xx: tf.Tensor) =>
          tf
            .depthwiseConv2d(xx as tf.Tensor4D, w, 2, "same")
            .mul(dy)
            .sum(),
        )([x]);
        const masked = tf.tidy(() => maskedDepthwiseInputGradient(dy, w, x, 2) ?? tf.mul(gx!, tf.step(x)));
        tf.dispose([x, w, dy]);
        return [y, gx!, masked];
      });
      expect(spy).toHaveReturnedWith(true);
    } finally {
      spy.mockRestore();
    }
  });
});
