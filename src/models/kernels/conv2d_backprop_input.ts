// Conv2DBackpropInput for wasm: wasm's own kernel is a scalar loop; this one is one XNNPACK Conv2D.
import { backend_util, Conv2DBackpropInput } from "@tensorflow/tfjs";
import type {
  Conv2DBackpropInputAttrs,
  KernelBackend,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from "@tensorflow/tfjs";
import { assert, withScope } from "./kernel_scope.js";
import { convAttrs, dilateForTransposedConv, flipFilter } from "./transposed_conv.js";

type Shape4 = [number, number, number, number];

export function conv2dBackpropInput(args: {
  inputs: NamedTensorInfoMap;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { dy, filter } = args.inputs;
  const attrs = args.attrs as unknown as Conv2DBackpropInputAttrs;
  const where = "conv2dBackpropInput";
  assert(dy !== undefined && filter !== undefined, () => `${where}: needs inputs dy and filter`);
  assert(dy.shape.length === 4, () => `${where}: dy must be rank 4, got ${dy.shape.length}`);
  assert(filter.shape.length === 4, () => `${where}: filter must be rank 4, got ${filter.shape.length}`);
  assert(
    attrs.dataFormat === "NHWC" || attrs.dataFormat === undefined,
    () => `${where}: only NHWC is supported, got ${attrs.dataFormat}`,
  );
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape,
    filter.shape as Shape4,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  return withScope(args.backend, where, (s) => {
    const { dyd, pad } = dilateForTransposedConv(s, dy, info);
    const f = s.transpose(flipFilter(s, filter), [0, 1, 3, 2]); // [KH, KW, co, ci]
    return s.run("Conv2D", { x: dyd, filter: f }, convAttrs(pad));
  });
}

export const conv2dBackpropInputConfig: KernelConfig = {
  kernelName: Conv2DBackpropInput,
  backendName: "wasm",
  kernelFunc: conv2dBackpropInput as unknown as KernelFunc,
};
