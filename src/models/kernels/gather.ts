// GatherV2 for wasm as one block copy per gathered slice. The wasm runtime's own Gather computes
// every element's address from strides: 64 rows of 1,568 floats took about 9 ms, which made each
// readout refit step (a gather of cached core outputs per member) cost more than the step itself.
import { backend_util, GatherV2, util } from "@tensorflow/tfjs";
import type { GatherV2Attrs, KernelConfig } from "@tensorflow/tfjs";
import { wasmOverride } from "./override.js";
import { memoryOffsetOf, wasmMemoryOf, type WasmBackendMemory } from "./simd_module.js";

/** Replacement GatherV2 (4-byte dtypes, batchDims 0); other cases go to the runtime's own kernel. */
export function gatherConfigs(): KernelConfig[] {
  return wasmOverride(GatherV2, (args) => {
    const { x, indices } = args.inputs;
    const attrs = args.attrs as unknown as GatherV2Attrs;
    const memory = wasmMemoryOf(args.backend);
    if (
      x === undefined ||
      indices === undefined ||
      memory === undefined ||
      (attrs.batchDims ?? 0) !== 0 ||
      !(x.dtype === "float32" || x.dtype === "int32") ||
      indices.dtype !== "int32"
    ) {
      return undefined;
    }
    const axis = util.parseAxisParam(attrs.axis, x.shape)[0]!;
    const info = backend_util.segment_util.collectGatherOpShapeInfo(x as never, indices as never, axis, 0);
    const heap = new Int32Array(memory.buffer);
    const idx = heap.subarray(
      memoryOffsetOf(args.backend, indices) / 4,
      memoryOffsetOf(args.backend, indices) / 4 + util.sizeFromShape(indices.shape),
    );
    for (const i of idx)
      util.assert(
        i >= 0 && i < info.dimSize,
        () => `GatherV2: the index value ${i} is not in [0, ${info.dimSize - 1}]`,
      );
    const out = (args.backend as unknown as WasmBackendMemory).makeOutput(info.outputShape, x.dtype as "float32");
    // makeOutput may have grown the memory: take the views again.
    const words = new Int32Array(memory.buffer);
    const src = memoryOffsetOf(args.backend, x) / 4;
    const indexAt = memoryOffsetOf(args.backend, indices) / 4;
    let dst = memoryOffsetOf(args.backend, out) / 4;
    const slice = info.sliceSize;
    for (let o = 0; o < info.outerSize; o++) {
      const base = src + o * info.dimSize * slice;
      for (let k = 0; k < idx.length; k++) {
        const from = base + words[indexAt + k]! * slice;
        words.copyWithin(dst, from, from + slice);
        dst += slice;
      }
    }
    return out;
  });
}
