// Conv2DBackpropFilter for backends that lack it (wasm), built from Transpose + Conv2D/BatchMatMul.
import { backend_util, Conv2DBackpropFilter } from "@tensorflow/tfjs";
import type {
  Conv2DBackpropFilterAttrs,
  KernelBackend,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  NamedTensorInfoMap,
  TensorInfo,
} from "@tensorflow/tfjs";
import { assert, padOrCrop, withScope } from "./kernel_scope.js";
import { convShape, memoryOffsetOf, simdKernelsOf, type WasmBackendMemory } from "./simd_module.js";

type Shape4 = [number, number, number, number];

/** Up to this many filter rows (kh * kw * inC) dW is one matmul over gathered input patches. */
const IM2COL_MAX_ROWS = 256;

/**
 * dW[kh,kw,ci,co] = sum_{b,oh,ow} x[b, oh*s+kh-pt, ow*s+kw-pl, ci] * dy[b,oh,ow,co]: a stride-1
 * convolution of x (batch as channels, ci as batch) with dy (dilated by the stride) as filter.
 */
export function conv2dBackpropFilter(args: {
  inputs: NamedTensorInfoMap;
  backend: KernelBackend;
  attrs?: NamedAttrMap;
}): TensorInfo {
  const { x, dy } = args.inputs;
  const attrs = args.attrs as unknown as Conv2DBackpropFilterAttrs;
  const where = "conv2dBackpropFilter";
  assert(x !== undefined && dy !== undefined, () => `${where}: needs inputs x and dy`);
  assert(x.shape.length === 4, () => `${where}: input must be rank 4, got ${x.shape.length}`);
  assert(dy.shape.length === 4, () => `${where}: dy must be rank 4, got ${dy.shape.length}`);
  assert(
    attrs.dataFormat === "NHWC" || attrs.dataFormat === undefined,
    () => `${where}: only NHWC is supported, got ${attrs.dataFormat}`,
  );
  const info = backend_util.computeConv2DInfo(
    x.shape as Shape4,
    attrs.filterShape,
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
  );
  const [batch, inH, inW, inC] = x.shape as Shape4;
  const {
    filterHeight: kh,
    filterWidth: kw,
    strideHeight: sh,
    strideWidth: sw,
    outHeight: oh,
    outWidth: ow,
    outChannels: outC,
  } = info;
  assert(
    dy.shape[0] === batch && dy.shape[1] === oh && dy.shape[2] === ow && dy.shape[3] === outC,
    () => `${where}: dy shape ${dy.shape} does not match the forward output [${batch},${oh},${ow},${outC}]`,
  );
  const simd =
    x.dtype === "float32" && dy.dtype === "float32" && outC % 4 === 0 ? simdKernelsOf(args.backend) : undefined;
  if (simd !== undefined) {
    // dW accumulated in registers from x and dy as they are: no im2col, no GEMM repacking dy.
    const out = (args.backend as unknown as WasmBackendMemory).makeOutput([kh, kw, inC, outC], "float32");
    simd.convFilterGrad(
      memoryOffsetOf(args.backend, x),
      memoryOffsetOf(args.backend, dy),
      memoryOffsetOf(args.backend, out),
      outC,
      convShape(info, batch),
    );
    return out;
  }
  return withScope(args.backend, where, (s) => {
    const { top, left } = info.padInfo;
    if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && top === 0 && left === 0) {
      // Pointwise: dW = x^T dy as one plain matmul (the fast XNNPACK path needs no transpose flags).
      const xt = s.transpose(s.reshape(x, [batch * inH * inW, inC]), [1, 0]);
      const prod = s.run(
        "BatchMatMul",
        { a: s.reshape(xt, [1, inC, batch * inH * inW]), b: s.reshape(dy, [1, batch * oh * ow, outC]) },
        { transposeA: false, transposeB: false },
      );
      return s.reshape(prod, [1, 1, inC, outC]);
    }
    if (inC * kh * kw <= IM2COL_MAX_ROWS) {
      // Few input channels (the first layer): dW = P^T dy with P^T [kh*kw*ci, B*OH*OW] gathered from
      // the small x, so the large dy is read once in place instead of being transposed.
      const xt = s.transpose(x, [3, 0, 1, 2]); // [ci, B, H, W]
      const padH = Math.max(0, (oh - 1) * sh + kh - inH - top);
      const padW = Math.max(0, (ow - 1) * sw + kw - inW - left);
      const xp =
        top > 0 || left > 0 || padH > 0 || padW > 0
          ? s.run(
              "PadV2",
              { x: xt },
              {
                paddings: [
                  [0, 0],
                  [0, 0],
                  [Math.max(0, top), padH],
                  [Math.max(0, left), padW],
                ],
                constantValue: 0,
              },
            )
          : xt;
      // Row offsets in xp of output (0, 0) for tap (0, 0); negative pads crop.
      const r0 = Math.min(0, top) * -1;
      const c0 = Math.min(0, left) * -1;
      const taps: TensorInfo[] = [];
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          taps.push(
            sh === 1 && sw === 1
              ? s.slice(xp, [0, 0, r0 + i, c0 + j], [inC, batch, oh, ow])
              : s.run(
                  "StridedSlice",
                  { x: xp },
                  {
                    begin: [0, 0, r0 + i, c0 + j],
                    end: [inC, batch, r0 + i + (oh - 1) * sh + 1, c0 + j + (ow - 1) * sw + 1],
                    strides: [1, 1, sh, sw],
                    beginMask: 0,
                    endMask: 0,
                    ellipsisMask: 0,
                    newAxisMask: 0,
                    shrinkAxisMask: 0,
                  },
                ),
          );
        }
      }
      // [(kh, kw, ci), B, OH, OW]: the rows in the filter's own order.
      const cols = taps.length === 1 ? taps[0]! : s.run("Concat", taps as unknown as NamedTensorInfoMap, { axis: 0 });
      const prod = s.run(
        "BatchMatMul",
        { a: s.reshape(cols, [1, kh * kw * inC, batch * oh * ow]), b: s.reshape(dy, [1, batch * oh * ow, outC]) },
        { transposeA: false, transposeB: false },
      );
      return s.reshape(prod, [kh, kw, inC, outC]);
    }
    const rows = padOrCrop(inH, top, (oh - 1) * sh + 1, kh);
    const cols = padOrCrop(inW, left, (ow - 1) * sw + 1, kw);
    const xc = s.slice(x, [0, rows.start, cols.start, 0], [batch, rows.keep, cols.keep, inC]);
    const xt = s.transpose(xc, [3, 1, 2, 0]); // [ci, H, W, B]
    const f = s.transpose(dy, [1, 2, 0, 3]); // [OH, OW, B, co]
    const pad: [[number, number], [number, number], [number, number], [number, number]] = [
      [0, 0],
      [rows.padBefore, rows.padAfter],
      [cols.padBefore, cols.padAfter],
      [0, 0],
    ];
    const out = s.run("Conv2D", { x: xt, filter: f }, {
      strides: [1, 1],
      pad,
      dataFormat: "NHWC",
      dilations: [sh, sw],
      dimRoundingMode: undefined,
    } as unknown as NamedAttrMap);
    return s.transpose(out, [1, 2, 0, 3]);
  });
}

export const conv2dBackpropFilterConfig: KernelConfig = {
  kernelName: Conv2DBackpropFilter,
  backendName: "wasm",
  kernelFunc: conv2dBackpropFilter as unknown as KernelFunc,
};
