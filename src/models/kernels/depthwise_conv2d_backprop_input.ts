// DepthwiseConv2dNativeBackpropInput for wasm: a depthwise correlation of the dilated dy with the flipped filter.
import { backend as currentBackend, backend_util, DepthwiseConv2dNativeBackpropInput, engine } from "@tensorflow/tfjs";
import type { Tensor4D } from "@tensorflow/tfjs";
import type {
  DepthwiseConv2dNativeBackpropInputAttrs,
  KernelBackend,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from "@tensorflow/tfjs";
import { assert, assertNoDilation, type ConvInfo, type KernelScope, withScope } from "./kernel_scope.js";
import { convAttrs, dilateForTransposedConv, flipFilter } from "./transposed_conv.js";
import { convShape, memoryOffsetOf, simdKernelsOf, type WasmBackendMemory } from "./simd_module.js";

type Shape4 = [number, number, number, number];

export function depthwiseConv2dBackpropInput(args: {
  inputs: NamedTensorInfoMap;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { dy, filter } = args.inputs;
  const attrs = args.attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  const where = "depthwiseConv2dBackpropInput";
  assert(dy !== undefined && filter !== undefined, () => `${where}: needs inputs dy and filter`);
  assert(dy.shape.length === 4, () => `${where}: dy must be rank 4, got ${dy.shape.length}`);
  assert(filter.shape.length === 4, () => `${where}: filter must be rank 4, got ${filter.shape.length}`);
  assert(filter.shape[3] === 1, () => `${where}: only channel multiplier 1 is supported, got ${filter.shape[3]}`);
  assertNoDilation(where, attrs.dilations);
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as Shape4,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    true,
  );
  const simd = dy.dtype === "float32" && filter.dtype === "float32" ? simdKernelsOf(args.backend) : undefined;
  if (simd !== undefined) {
    // Each dy pixel scattered through the filter taps with SIMD multiply-adds, in place on the backend's memory.
    const out = (args.backend as unknown as WasmBackendMemory).makeOutput([...attrs.inputShape], "float32");
    simd.dwInputGrad(
      memoryOffsetOf(args.backend, out),
      memoryOffsetOf(args.backend, dy),
      memoryOffsetOf(args.backend, filter),
      convShape(info, info.batchSize),
    );
    return out;
  }
  return withScope(args.backend, where, (s) => {
    if (isEvenStride2Same5x5(info)) return stride2Phases(s, dy, filter);
    const { dyd, pad } = dilateForTransposedConv(s, dy, info);
    return s.run("DepthwiseConv2dNative", { x: dyd, filter: flipFilter(s, filter) }, convAttrs(pad));
  });
}

/** 5x5, stride 2, one row/column of padding before (TF 'same' on an even size): the phase path applies. */
function isEvenStride2Same5x5(info: ConvInfo): boolean {
  return (
    info.filterHeight === 5 &&
    info.filterWidth === 5 &&
    info.strideHeight === 2 &&
    info.strideWidth === 2 &&
    info.padInfo.top === 1 &&
    info.padInfo.left === 1 &&
    info.inHeight === 2 * info.outHeight &&
    info.inWidth === 2 * info.outWidth &&
    info.dilationHeight === 1 &&
    info.dilationWidth === 1
  );
}

/**
 * Stride-2 input gradient without the zero-dilated dy (3/4 of whose taps multiply zeros): with
 * n = 2i + p, dx[n] = sum_o dy[o] w[n + 1 - 2o], so output parity p = 0 takes taps w[3], w[1], 0 at
 * o = i-1, i, i+1 and p = 1 takes w[4], w[2], w[0]; with wp = w behind one zero row, that is
 * wp[4 + p], wp[2 + p], wp[p]. All four (row, column) parities are one 3x3 'same' depthwise
 * correlation of dy with channel multiplier 4 (filter [3, 3, C, 4], multiplier index 2 py + px),
 * interleaved by one transpose.
 */
export function stride2PhaseFilter(s: KernelScope, filter: TensorInfo): TensorInfo {
  const c = filter.shape[2]!;
  const wp = s.run(
    "PadV2",
    { x: filter },
    {
      paddings: [
        [1, 0],
        [1, 0],
        [0, 0],
        [0, 0],
      ],
      constantValue: 0,
    },
  );
  // [r, p, s, q, c] = wp[2r + p, 2s + q, c]; tap t of parity p is r = 2 - t.
  const rev = s.run("Reverse", { x: s.reshape(wp, [3, 2, 3, 2, c]) }, { dims: [0, 2] });
  return s.reshape(s.transpose(rev, [0, 2, 4, 1, 3]), [3, 3, c, 4]);
}

/** dx from dy and the [3, 3, C, 4] filter of stride2PhaseFilter. */
export function stride2PhaseGradient(s: KernelScope, dy: TensorInfo, phaseFilter: TensorInfo): TensorInfo {
  const [n, h, w, c] = dy.shape as Shape4;
  const out = s.run(
    "DepthwiseConv2dNative",
    { x: dy, filter: phaseFilter },
    convAttrs([
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ]),
  );
  // [n*h, w, c, py, px] -> [n*h, py, w, px, c]
  const t = s.transpose(s.reshape(out, [n * h, w, c, 2, 2]), [0, 3, 1, 4, 2]);
  return s.reshape(t, [n, 2 * h, 2 * w, c]);
}

function stride2Phases(s: KernelScope, dy: TensorInfo, filter: TensorInfo): TensorInfo {
  return stride2PhaseGradient(s, dy, stride2PhaseFilter(s, filter));
}

/**
 * The input gradient of a 'same' depthwise convolution (channel multiplier 1) times the ReLU
 * derivative of the layer below it, (below > 0), in one pass of the wasm SIMD kernel; undefined
 * where that kernel is not running (callers then multiply by tf.step themselves).
 */
export function maskedDepthwiseInputGradient(
  dy: Tensor4D,
  filter: Tensor4D,
  below: Tensor4D,
  stride: number,
): Tensor4D | undefined {
  const backend = currentBackend();
  const simd =
    dy.dtype === "float32" && filter.dtype === "float32" && below.dtype === "float32"
      ? simdKernelsOf(backend)
      : undefined;
  if (simd === undefined) return undefined;
  const info = backend_util.computeConv2DInfo(below.shape, filter.shape, stride, 1, "same", undefined, true);
  assert(
    info.outHeight === dy.shape[1] && info.outWidth === dy.shape[2],
    () => `maskedDepthwiseInputGradient: dy ${dy.shape} does not match the forward output of ${below.shape}`,
  );
  const out = (backend as unknown as WasmBackendMemory).makeOutput([...below.shape], "float32");
  simd.dwInputGrad(
    memoryOffsetOf(backend, out),
    memoryOffsetOf(backend, dy),
    memoryOffsetOf(backend, filter),
    convShape(info, below.shape[0]),
    memoryOffsetOf(backend, below),
  );
  return engine().makeTensorFromTensorInfo(out, backend) as Tensor4D;
}

export const depthwiseConv2dBackpropInputConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName: "wasm",
  kernelFunc: depthwiseConv2dBackpropInput as unknown as KernelFunc,
};
