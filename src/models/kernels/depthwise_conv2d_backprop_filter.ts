// DepthwiseConv2dNativeBackpropFilter for wasm: one depthwise correlation with batch folded into channels.
import { backend_util, DepthwiseConv2dNativeBackpropFilter } from "@tensorflow/tfjs";
import type {
  DepthwiseConv2dNativeBackpropFilterAttrs,
  KernelBackend,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from "@tensorflow/tfjs";
import { assert, assertNoDilation, padOrCrop, withScope } from "./kernel_scope.js";
import { convShape, memoryOffsetOf, simdKernelsOf, type WasmBackendMemory } from "./simd_module.js";

type Shape4 = [number, number, number, number];

/**
 * dW[kh,kw,c] = sum_{b,oh,ow} x[b, oh*s+kh-pt, ow*s+kw-pl, c] * dy[b,oh,ow,c]: with (b,c) as the
 * channels of a single image, a depthwise correlation of x with dy (dilated by the stride), then a
 * sum over b.
 */
export function depthwiseConv2dBackpropFilter(args: {
  inputs: NamedTensorInfoMap;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { x, dy } = args.inputs;
  const attrs = args.attrs as unknown as DepthwiseConv2dNativeBackpropFilterAttrs;
  const where = "depthwiseConv2dBackpropFilter";
  assert(x !== undefined && dy !== undefined, () => `${where}: needs inputs x and dy`);
  assert(x.shape.length === 4, () => `${where}: input must be rank 4, got ${x.shape.length}`);
  assert(dy.shape.length === 4, () => `${where}: dy must be rank 4, got ${dy.shape.length}`);
  assert(
    attrs.filterShape[3] === 1,
    () => `${where}: only channel multiplier 1 is supported, got ${attrs.filterShape[3]}`,
  );
  assertNoDilation(where, attrs.dilations);
  const info = backend_util.computeConv2DInfo(
    x.shape as Shape4,
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const [batch, inH, inW, ch] = x.shape as Shape4;
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
  assert(
    dy.shape[0] === batch && dy.shape[1] === oh && dy.shape[2] === ow && dy.shape[3] === ch,
    () => `${where}: dy shape ${dy.shape} does not match the forward output [${batch},${oh},${ow},${ch}]`,
  );
  const simd = x.dtype === "float32" && dy.dtype === "float32" ? simdKernelsOf(args.backend) : undefined;
  if (simd !== undefined) {
    // One pass of SIMD multiply-adds over dy, in place on the backend's memory.
    const out = (args.backend as unknown as WasmBackendMemory).makeOutput([kh, kw, ch, 1], "float32");
    simd.dwFilterGrad(
      memoryOffsetOf(args.backend, x),
      memoryOffsetOf(args.backend, dy),
      memoryOffsetOf(args.backend, out),
      convShape(info, batch),
    );
    return out;
  }
  return withScope(args.backend, where, (s) => {
    const rows = padOrCrop(inH, info.padInfo.top, (oh - 1) * sh + 1, kh);
    const cols = padOrCrop(inW, info.padInfo.left, (ow - 1) * sw + 1, kw);
    const xc = s.slice(x, [0, rows.start, cols.start, 0], [batch, rows.keep, cols.keep, ch]);
    const xt = batch === 1 ? xc : s.reshape(s.transpose(xc, [1, 2, 0, 3]), [1, rows.keep, cols.keep, batch * ch]);
    const f =
      batch === 1 ? s.reshape(dy, [oh, ow, ch, 1]) : s.reshape(s.transpose(dy, [1, 2, 0, 3]), [oh, ow, batch * ch, 1]);
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [rows.padBefore, rows.padAfter],
      [cols.padBefore, cols.padAfter],
      [0, 0],
    ];
    const out = s.run("DepthwiseConv2dNative", { x: xt, filter: f }, {
      strides: [1, 1],
      pad,
      dilations: [sh, sw],
    } as unknown as NamedAttrMap);
    if (batch === 1) return s.reshape(out, [kh, kw, ch, 1]);
    const summed = s.run("Sum", { x: s.reshape(out, [kh, kw, batch, ch]) }, { axis: [2], keepDims: false });
    return s.reshape(summed, [kh, kw, ch, 1]);
  });
}

export const depthwiseConv2dBackpropFilterConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropFilter,
  backendName: "wasm",
  kernelFunc: depthwiseConv2dBackpropFilter as unknown as KernelFunc,
};
