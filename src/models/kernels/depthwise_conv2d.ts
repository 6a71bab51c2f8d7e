// DepthwiseConv2dNative for wasm on the SIMD module where the shape is a compact model's stride-2
// layer (5x5, stride 2, 'same' on an even size: simd_dw_s2_text.ts); every other shape stays on the
// runtime's own kernel.
import { backend_util, DepthwiseConv2dNative } from "@tensorflow/tfjs";
import type { DepthwiseConv2dNativeAttrs, KernelConfig } from "@tensorflow/tfjs";
import { wasmOverride } from "./override.js";
import { convShape, isStride2Same5x5, memoryOffsetOf, simdKernelsOf, type WasmBackendMemory } from "./simd_module.js";

type Shape4 = [number, number, number, number];

export function depthwiseConv2dConfigs(): KernelConfig[] {
  return wasmOverride(DepthwiseConv2dNative, (args) => {
    const { x, filter } = args.inputs;
    const attrs = args.attrs as unknown as DepthwiseConv2dNativeAttrs;
    const simd = simdKernelsOf(args.backend);
    if (
      simd === undefined ||
      x === undefined ||
      filter === undefined ||
      x.dtype !== "float32" ||
      filter.dtype !== "float32"
    )
      return undefined;
    if (
      x.shape.length !== 4 ||
      filter.shape.length !== 4 ||
      filter.shape[3] !== 1 ||
      (attrs.dataFormat ?? "NHWC") !== "NHWC"
    )
      return undefined;
    const dilations =
      typeof attrs.dilations === "number" ? [attrs.dilations, attrs.dilations] : (attrs.dilations ?? [1, 1]);
    if (dilations[0] !== 1 || dilations[1] !== 1) return undefined;
    const info = backend_util.computeConv2DInfo(
      x.shape as Shape4,
      filter.shape as Shape4,
      attrs.strides,
      1,
      attrs.pad,
      attrs.dimRoundingMode,
      true,
    );
    const shape = convShape(info, info.batchSize);
    if (!isStride2Same5x5(shape)) return undefined;
    const out = (args.backend as unknown as WasmBackendMemory).makeOutput(info.outShape, "float32");
    simd.dwConv(
      memoryOffsetOf(args.backend, out),
      memoryOffsetOf(args.backend, x),
      memoryOffsetOf(args.backend, filter),
      shape,
    );
    return out;
  });
}
