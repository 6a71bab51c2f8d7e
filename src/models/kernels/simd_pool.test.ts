import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { KernelBackend } from "@tensorflow/tfjs";
import {
  assembleSimdModule,
  type ConvShape,
  PARTS_PER_THREAD,
  prepareSimdKernels,
  relaxedSimdAvailable,
  simdKernelsOf,
  simdKernelsOn,
  splitRange,
} from "./simd_module.js";
import type { SimdPool } from "./simd_pool.js";
import { expectNear, KernelMemory, startPools } from "./simd_test_memory.js";
import { randomValues } from "./test_util.js";

// The kernels on a shared memory of their own, split over a worker thread, against plain loops.
const shape: ConvShape = {
  batch: 3,
  inH: 11,
  inW: 10,
  channels: 7,
  outH: 6,
  outW: 5,
  kh: 5,
  kw: 5,
  strideH: 2,
  strideW: 2,
  padTop: 1,
  padLeft: 2,
};
const outChannels = 8;

function inX(s: ConvShape, b: number, iy: number, ix: number, c: number): number {
  return ((b * s.inH + iy) * s.inW + ix) * s.channels + c;
}

/** Plain-loop references of the three kernels (zero padding: taps outside x are skipped). */
function reference(
  x: Float32Array,
  dy: Float32Array,
  dyc: Float32Array,
  w: Float32Array,
  s: ConvShape,
): { dw: Float64Array; dx: Float64Array; cw: Float64Array } {
  const C = s.channels;
  const dw = new Float64Array(s.kh * s.kw * C);
  const dx = new Float64Array(s.batch * s.inH * s.inW * C);
  const cw = new Float64Array(s.kh * s.kw * C * outChannels);
  for (let b = 0; b < s.batch; b++)
    for (let oy = 0; oy < s.outH; oy++)
      for (let ox = 0; ox < s.outW; ox++)
        for (let i = 0; i < s.kh; i++)
          for (let j = 0; j < s.kw; j++) {
            const iy = oy * s.strideH + i - s.padTop;
            const ix = ox * s.strideW + j - s.padLeft;
            if (iy < 0 || iy >= s.inH || ix < 0 || ix >= s.inW) continue;
            const o = (b * s.outH + oy) * s.outW + ox;
            for (let c = 0; c < C; c++) {
              dw[(i * s.kw + j) * C + c]! += x[inX(s, b, iy, ix, c)]! * dy[o * C + c]!;
              dx[inX(s, b, iy, ix, c)]! += w[(i * s.kw + j) * C + c]! * dy[o * C + c]!;
              for (let co = 0; co < outChannels; co++)
                cw[((i * s.kw + j) * C + c) * outChannels + co]! +=
                  x[inX(s, b, iy, ix, c)]! * dyc[o * outChannels + co]!;
            }
          }
  return { dw, dx, cw };
}

describe("SIMD kernels split over worker threads (shared memory)", () => {
  const mem = new KernelMemory();
  const { memory, freed, scratch } = mem;
  const alloc = (floats: number): number => mem.alloc(floats);
  let pool: SimdPool;
  beforeAll(async () => {
    pool = (await startPools(memory, false))[0]!.pool;
  });
  afterAll(async () => {
    await pool.close();
  });

  it("splits the batch in contiguous ranges", () => {
    expect(splitRange(3, 2)).toEqual([
      [0, 1],
      [1, 3],
    ]);
    expect(splitRange(1, 2)).toEqual([[0, 1]]);
    expect(splitRange(16, 1)).toEqual([[0, 16]]);
  });

  it("match plain loops, and free their scratch buffers", () => {
    expect(pool.threads).toBe(2);
    const s = shape;
    const nx = s.batch * s.inH * s.inW * s.channels;
    const ndy = s.batch * s.outH * s.outW * s.channels;
    const ndyc = s.batch * s.outH * s.outW * outChannels;
    const nw = s.kh * s.kw * s.channels;
    const [x, dy, dyc, w, dw, dx, cw, dxm] = [nx, ndy, ndyc, nw, nw, nx, nw * outChannels, nx].map(alloc) as [
      number,
      number,
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    const view = (at: number, n: number): Float32Array => new Float32Array(memory.buffer, at, n);
    view(x, nx).set(randomValues(nx, 1));
    view(dy, ndy).set(randomValues(ndy, 2));
    view(dyc, ndyc).set(randomValues(ndyc, 3));
    view(w, nw).set(randomValues(nw, 4));
    // Stale values in the outputs must not survive: each call overwrites its whole output.
    view(dw, nw).fill(7);
    view(dx, nx).fill(7);
    view(cw, nw * outChannels).fill(7);
    view(dxm, nx).fill(7);
    // Split threshold 0: even this small call goes to both threads.
    const kernels = simdKernelsOn(memory, pool, scratch, 0);
    kernels.dwFilterGrad(x, dy, dw, s);
    kernels.dwInputGrad(dx, dy, w, s);
    kernels.convFilterGrad(x, dyc, cw, outChannels, s);
    // The input gradient with the ReLU derivative of x itself (x > 0) fused.
    kernels.dwInputGrad(dxm, dy, w, s, x);
    // Freed: each filter gradient's partial sum from the second thread, and each input gradient's tap
    // list of every part (its rows in PARTS_PER_THREAD parts a thread).
    const parts = splitRange(s.batch * s.inH, 2 * PARTS_PER_THREAD).length;
    expect(parts).toBeGreaterThan(2);
    expect(freed).toHaveLength(2 + 2 * parts);
    const ref = reference(view(x, nx), view(dy, ndy), view(dyc, ndyc), view(w, nw), s);
    expectNear(view(dw, nw), ref.dw, "dwFilterGrad");
    expectNear(view(dx, nx), ref.dx, "dwInputGrad");
    expectNear(view(cw, nw * outChannels), ref.cw, "convFilterGrad");
    const xs = view(x, nx);
    expectNear(
      view(dxm, nx),
      ref.dx.map((v, i) => (xs[i]! > 0 ? v : 0)),
      "dwInputGrad with the ReLU mask",
    );
  });

  it("reports the part that failed, on whichever thread took it, and stays usable", () => {
    const nw = shape.kh * shape.kw * shape.channels;
    const outside = memory.buffer.byteLength + 4096;
    const args = (x: number): number[] => [x, 1024, alloc(nw), ...[3, 11, 10, 7, 6, 5, 5, 5, 2, 2, 1, 2]];
    // Part 1 is fine; part 2 reads past the end of memory.
    expect(() =>
      pool.run("dwFilterGrad", [
        [...args(1024), 0, 1],
        [...args(outside), 1, 3],
      ]),
    ).toThrow(/dwFilterGrad failed on part 2 of 2/);
    expect(() =>
      pool.run("dwFilterGrad", [
        [...args(1024), 0, 1],
        [...args(1024), 1, 3],
      ]),
    ).not.toThrow();
  });

  it("hands out many parts one at a time: each runs, on either thread, call after call", () => {
    // scaleShift: out[p, c] = x[p, c] * scale[c] + shift[c] over pixels [p0, p1).
    const channels = 8;
    const pixels = 1000;
    const x = mem.put(randomValues(pixels * channels, 5));
    const outs = [mem.alloc(pixels * channels), mem.alloc(pixels * channels)];
    const xs = mem.view(x, pixels * channels);
    // Consecutive calls differ in output, coefficients and number of parts, so a part taken from a
    // stale table, or one left undone, shows as a wrong value.
    for (let call = 0; call < 400; call++) {
      const parts = 1 + (call % 37);
      const scale = mem.put(Float32Array.from({ length: channels }, (_, c) => call + c));
      const shift = mem.put(Float32Array.from({ length: channels }, (_, c) => -c));
      const out = outs[call % 2]!;
      mem.view(out, pixels * channels).fill(Number.NaN);
      pool.run(
        "scaleShift",
        splitRange(pixels, parts).map(([p0, p1]) => [x, out, scale, shift, channels, p0, p1]),
      );
      const got = mem.view(out, pixels * channels);
      let wrong = 0;
      for (let i = 0; i < got.length; i++)
        if (got[i] !== Math.fround(Math.fround(xs[i]! * (call + (i % channels))) - (i % channels))) wrong++;
      expect(wrong, `call ${call} (${parts} parts)`).toBe(0);
    }
  });

  it("refuses parts that do not fit its job table or differ in their arguments", () => {
    const part = [0, 0, 0, 0, 1, 0, 0];
    expect(() =>
      pool.run(
        "scaleShift",
        Array.from({ length: 2000 }, () => part),
      ),
    ).toThrow(/do not fit the job table/);
    expect(() => pool.run("scaleShift", [part, part.slice(1)])).toThrow(/different argument counts/);
    expect(() => pool.run("noSuchKernel", [part])).toThrow(/has no function noSuchKernel/);
  });
});

describe("prepareSimdKernels when a build of the module fails", () => {
  /** A stand-in for the wasm backend: its memory is all prepareSimdKernels needs before a call. */
  const fakeBackend = (): KernelBackend =>
    ({
      wasm: { wasmMemory: new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true }) },
      dataIdMap: new Map(),
      makeOutput: () => undefined,
    }) as unknown as KernelBackend;

  it("falls back to the plain build, then to the composite kernels, and says why", async () => {
    const fma = await relaxedSimdAvailable();
    const noRelaxed = async (shared: boolean, useFma = false): Promise<WebAssembly.Module> => {
      if (useFma) throw new Error("relaxed build refused");
      return assembleSimdModule(shared, false);
    };
    const first = fakeBackend();
    const prep = await prepareSimdKernels(first, 1, noRelaxed);
    expect(prep.ready).toBe(true);
    expect(prep.fma).toBe(false);
    if (fma) expect(prep.note).toMatch(/relaxed-SIMD build failed: relaxed build refused/);
    expect(simdKernelsOf(first)?.fusedMultiplyAdd).toBe(false);

    const second = fakeBackend();
    const none = await prepareSimdKernels(second, 1, async () => {
      throw new Error("no module today");
    });
    expect(none).toMatchObject({ ready: false, fma: false });
    expect(none.note).toMatch(/SIMD build failed: no module today/);
    expect(simdKernelsOf(second)).toBeUndefined();
  });
});
