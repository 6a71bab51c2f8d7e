// DepthwiseConv2dNativeBackpropInput for wasm: a depthwise correlation of the dilated dy with the flipped filter.
import { backend_util, DepthwiseConv2dNativeBackpropInput } from "@tensorflow/tfjs";
import type { DepthwiseConv2dNativeBackpropInputAttrs, KernelBackend, KernelConfig, KernelFunc, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs";
import { assert, assertNoDilation, withScope } from "./kernel_scope.js";
import { convAttrs, dilateForTransposedConv, flipFilter } from "./transposed_conv.js";

type Shape4 = [number, number, number, number];

export function depthwiseConv2dBackpropInput(args: { inputs: NamedTensorInfoMap; backend: KernelBackend; attrs?: NamedAttrMap }): TensorInfo {
  const { dy, filter } = args.inputs;
  const attrs = args.attrs as unknown as DepthwiseConv2dNativeBackpropInputAttrs;
  const where = "depthwiseConv2dBackpropInput";
  assert(dy !== undefined && filter !== undefined, () => `${where}: needs inputs dy and filter`);
  assert(dy.shape.length === 4, () => `${where}: dy must be rank 4, got ${dy.shape.length}`);
  assert(filter.shape.length === 4, () => `${where}: filter must be rank 4, got ${filter.shape.length}`);
  assert(filter.shape[3] === 1, () => `${where}: only channel multiplier 1 is supported, got ${filter.shape[3]}`);
  assertNoDilation(where, attrs.dilations);
  const info = backend_util.computeConv2DInfo(attrs.inputShape, filter.shape as Shape4, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode, true);
  return withScope(args.backend, where, (s) => {
    const { dyd, pad } = dilateForTransposedConv(s, dy, info);
    return s.run("DepthwiseConv2dNative", { x: dyd, filter: flipFilter(s, filter) }, convAttrs(pad));
  });
}

export const depthwiseConv2dBackpropInputConfig: KernelConfig = {
  kernelName: DepthwiseConv2dNativeBackpropInput,
  backendName: "wasm",
  kernelFunc: depthwiseConv2dBackpropInput as unknown as KernelFunc,
};
