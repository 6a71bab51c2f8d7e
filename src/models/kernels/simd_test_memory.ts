// Test helpers for the SIMD kernels on a shared memory of the tests' own (no tfjs backend): a bump
// allocator, worker pools of each build of the module, and the tolerance check against plain loops.
import { afterAll, beforeAll, expect } from "vitest";
import { assembleSimdModule, relaxedSimdAvailable, type ScratchAllocator } from "./simd_module.js";
import { SimdPool } from "./simd_pool.js";
import { TOL } from "./test_util.js";

/** max |actual - expected| <= TOL * max(1, max |expected|). */
export function expectNear(actual: Float32Array, expected: ArrayLike<number>, what: string): void {
  let scale = 1;
  let err = 0;
  for (let i = 0; i < expected.length; i++) {
    scale = Math.max(scale, Math.abs(expected[i]!));
    err = Math.max(err, Math.abs(actual[i]! - expected[i]!));
  }
  expect(err, `${what}: max abs error ${err} (scale ${scale})`).toBeLessThanOrEqual(TOL * scale);
}

/** A shared WebAssembly memory with a bump allocator; scratch buffers record when they are freed. */
export class KernelMemory {
  readonly memory = new WebAssembly.Memory({ initial: 64, maximum: 4096, shared: true });
  /** Offsets of the scratch buffers freed so far. */
  readonly freed: number[] = [];
  private next = 1024;

  /** `floats` floats, 64-byte aligned (the memory grows as needed). */
  alloc(floats: number): number {
    const at = this.next;
    this.next += Math.ceil((floats * 4) / 64) * 64;
    const short = this.next - this.memory.buffer.byteLength;
    if (short > 0) this.memory.grow(Math.ceil(short / 65536));
    return at;
  }

  view(at: number, floats: number): Float32Array {
    return new Float32Array(this.memory.buffer, at, floats);
  }

  /** A copy of `values` in the memory: its offset. */
  put(values: Float32Array): number {
    const at = this.alloc(values.length);
    this.view(at, values.length).set(values);
    return at;
  }

  readonly scratch: ScratchAllocator = (floats) => {
    const offset = this.alloc(floats);
    return { offset, free: () => this.freed.push(offset) };
  };
}

/**
 * Two-thread pools on `memory`: the plain build, and the relaxed-SIMD (fused multiply-add) one where this runtime has
 * it.
 */
export async function startPools(
  memory: WebAssembly.Memory,
  withFma = true,
): Promise<{ fma: boolean; pool: SimdPool }[]> {
  const builds = withFma && (await relaxedSimdAvailable()) ? [false, true] : [false];
  return Promise.all(
    builds.map(async (fma) => ({ fma, pool: await SimdPool.start(await assembleSimdModule(true, fma), memory, 2) })),
  );
}

/**
 * For a describe block: a KernelMemory and startPools' pools on it, started before its tests and
 * closed after them (`pools` is filled once the tests run).
 */
export function kernelPools(withFma = true): { mem: KernelMemory; pools: { fma: boolean; pool: SimdPool }[] } {
  const mem = new KernelMemory();
  const pools: { fma: boolean; pool: SimdPool }[] = [];
  beforeAll(async () => {
    pools.push(...(await startPools(mem.memory, withFma)));
  });
  afterAll(async () => {
    await Promise.all(pools.map((p) => p.pool.close()));
  });
  return { mem, pools };
}
