// Sum and Mean over the batch and spatial axes of NHWC tensors (per-channel reductions: batchnorm
// statistics and gradients, bias gradients). wasm's own kernels transpose the whole tensor to make
// the reduced axes innermost first; XNNPACK's global average pooling reduces NHWC in place.
import { backend_util, Mean, Sum, util } from "@tensorflow/tfjs";
import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs";
import { withScope } from "./kernel_scope.js";
import { type KernelArgs, type OriginalKernel, wasmOverride } from "./override.js";

/** Below this many elements per image the transpose is cheap and the original kernel is kept. */
const MIN_SPATIAL = 64;

/** [N, H, W, C] when `axis` reduces exactly axes 0, 1, 2 of a float32 rank-4 tensor worth pooling. */
function pooledShape(x: TensorInfo, axis: number | number[]): [number, number, number, number] | undefined {
  if (x.dtype !== "float32" || x.shape.length !== 4) return undefined;
  const axes = util.parseAxisParam(axis, x.shape).sort((a, b) => a - b);
  if (axes.length !== 3 || axes[0] !== 0 || axes[1] !== 1 || axes[2] !== 2) return undefined;
  const [n, h, w, c] = x.shape as [number, number, number, number];
  if (h * w < MIN_SPATIAL || c < 1) return undefined;
  return [n, h, w, c];
}

function makeReduce(
  kernelName: typeof Sum | typeof Mean,
): (args: KernelArgs, original: OriginalKernel) => TensorInfo | undefined {
  return (args, original) => {
    const { x } = args.inputs;
    const attrs = args.attrs as unknown as { axis: number | number[]; keepDims: boolean };
    const shape = x === undefined ? undefined : pooledShape(x, attrs.axis);
    if (x === undefined || shape === undefined) return undefined;
    const [n, h, w, c] = shape;
    return withScope(args.backend, `reduceLeading(${kernelName})`, (s) => {
      // Per image and channel: the mean over H x W; then the original kernel reduces over the
      // (few) images: Sum gives sum_n mean_hw, times H*W below; Mean gives the mean directly.
      const pooled = s.run("AvgPool", { x }, { filterSize: [h, w], strides: [1, 1], pad: "valid" });
      const perImage = s.reshape(pooled, [n, c]);
      const reduceArgs = { inputs: { x: perImage }, backend: args.backend, attrs: { axis: [0], keepDims: false } };
      let out = n === 1 ? s.reshape(perImage, [c]) : s.track(original(reduceArgs));
      if (kernelName === Sum) {
        const count = s.run("Fill", {}, { shape: [], value: h * w, dtype: "float32" });
        out = s.run("Multiply", { a: out, b: count });
      }
      return s.reshape(out, attrs.keepDims ? backend_util.expandShapeToKeepDim([c], [0, 1, 2]) : [c]);
    });
  };
}

/** Our Sum/Mean configs for wasm, wrapping wasm's own kernels (kept for every other case). */
export function reduceLeadingConfigs(): KernelConfig[] {
  return ([Sum, Mean] as const).flatMap((name) => wasmOverride(name, makeReduce(name)));
}
