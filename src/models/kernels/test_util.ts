// Test helpers: run the same computation on the plain JS cpu backend and on wasm, compare numbers.
import * as tf from "@tensorflow/tfjs";
import { expect } from "vitest";
import { selectBackend } from "../backend.js";
import { simdKernelsOf, withoutSimdKernels } from "./simd_module.js";

/** Tolerance used by every kernel test: max |wasm - cpu| <= TOL * max(1, max |cpu|). */
export const TOL = 1e-4;

export async function useWasm(): Promise<void> {
  await selectBackend({ prefer: "wasm", threads: 1, log: () => undefined });
}

/** Deterministic pseudo-random values in [-1, 1). */
export function randomValues(size: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = ((state >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

export function randomTensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(
    randomValues(
      shape.reduce((a, b) => a * b, 1),
      seed,
    ),
    shape,
  );
}

/** Which wasm kernels a comparison runs: the SIMD module's (default, where it loads) or the composite ones. */
export type WasmPath = "simd" | "composite";

/** Both wasm paths of the kernels that have a SIMD-module fast path. */
export const WASM_PATHS: readonly WasmPath[] = ["simd", "composite"];

/** Runs `fn` on cpu and on wasm and returns each result's values. */
export async function onBoth(
  fn: () => tf.Tensor[],
  path: WasmPath = "simd",
): Promise<{ cpu: Float32Array[]; wasm: Float32Array[]; shapes: number[][] }> {
  const results: Record<string, Float32Array[]> = {};
  let shapes: number[][] = [];
  for (const backend of ["cpu", "wasm"]) {
    if (backend === "wasm") await useWasm();
    else await tf.setBackend("cpu");
    const before = tf.memory().numTensors;
    let outs: tf.Tensor[];
    if (backend === "cpu") outs = fn();
    else if (path === "composite") outs = await withoutSimdKernels(tf.backend(), async () => fn());
    else {
      // The SIMD path must really run: where the wasm runtime has SIMD, the module must have loaded.
      if (await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"))
        expect(simdKernelsOf(tf.backend()), "wasm SIMD kernels were not prepared").toBeDefined();
      outs = fn();
    }
    shapes = outs.map((t) => t.shape);
    results[backend] = await Promise.all(outs.map(async (t) => (await t.data()) as Float32Array));
    tf.dispose(outs);
    expect(tf.memory().numTensors, `${backend}: tensors leaked`).toBe(before);
  }
  return { cpu: results.cpu ?? [], wasm: results.wasm ?? [], shapes };
}

export function expectClose(actual: Float32Array, expected: Float32Array, what: string): void {
  expect(actual.length, `${what}: length`).toBe(expected.length);
  let maxRef = 0;
  let maxErr = 0;
  for (let i = 0; i < expected.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(expected[i]!));
    maxErr = Math.max(maxErr, Math.abs(actual[i]! - expected[i]!));
  }
  expect(maxErr, `${what}: max abs error ${maxErr} vs max |cpu| ${maxRef}`).toBeLessThanOrEqual(
    TOL * Math.max(1, maxRef),
  );
}

export async function compareOnBoth(what: string, fn: () => tf.Tensor[], path: WasmPath = "simd"): Promise<void> {
  const { cpu, wasm } = await onBoth(fn, path);
  cpu.forEach((ref, i) => expectClose(wasm[i]!, ref, `${what} output ${i}`));
}

export type Pad = "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];

export interface ConvCase {
  name: string;
  batch: number;
  height: number;
  width: number;
  inC: number;
  outC: number;
  k: number;
  stride: number;
  pad: Pad;
}

export const CONV_CASES: ConvCase[] = [
  { name: "5x5 same stride 1", batch: 2, height: 9, width: 8, inC: 3, outC: 4, k: 5, stride: 1, pad: "same" },
  { name: "5x5 same stride 2 even", batch: 2, height: 12, width: 12, inC: 3, outC: 5, k: 5, stride: 2, pad: "same" },
  { name: "5x5 same stride 2 odd", batch: 1, height: 11, width: 9, inC: 2, outC: 3, k: 5, stride: 2, pad: "same" },
  { name: "3x3 valid stride 1", batch: 3, height: 7, width: 9, inC: 4, outC: 2, k: 3, stride: 1, pad: "valid" },
  {
    name: "3x3 valid stride 2 leftover",
    batch: 2,
    height: 8,
    width: 10,
    inC: 2,
    outC: 3,
    k: 3,
    stride: 2,
    pad: "valid",
  },
  { name: "1x1 stride 1", batch: 2, height: 6, width: 5, inC: 7, outC: 6, k: 1, stride: 1, pad: "same" },
  {
    name: "5x5 same stride 2 many channels",
    batch: 2,
    height: 8,
    width: 7,
    inC: 12,
    outC: 3,
    k: 5,
    stride: 2,
    pad: "same",
  },
  {
    name: "5x5 explicit pad stride 2",
    batch: 2,
    height: 10,
    width: 9,
    inC: 3,
    outC: 2,
    k: 5,
    stride: 2,
    pad: [
      [0, 0],
      [1, 2],
      [2, 0],
      [0, 0],
    ],
  },
  // Output channels in multiples of 4 (the SIMD filter gradient): blocks of 12 and of 4, input channels in 3s and 1s.
  {
    name: "3x3 same stride 1, 5 to 20 channels",
    batch: 2,
    height: 7,
    width: 6,
    inC: 5,
    outC: 20,
    k: 3,
    stride: 1,
    pad: "same",
  },
  {
    name: "5x5 same stride 2, 4 to 16 channels",
    batch: 3,
    height: 10,
    width: 9,
    inC: 4,
    outC: 16,
    k: 5,
    stride: 2,
    pad: "same",
  },
];
