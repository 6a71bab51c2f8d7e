// Shared by the input-gradient kernels: dx is a stride-1 correlation of the stride-dilated dy with the flipped filter.
import type { NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import { assert, type ConvInfo, type ExplicitPad, type KernelScope, padOrCrop } from "./kernel_scope.js";

/**
 * Returns dy with (stride - 1) zeros between its rows and columns, cropped or not as the
 * correlation needs, and the explicit padding that makes the correlation return the input size.
 */
export function dilateForTransposedConv(
  s: KernelScope,
  dy: TensorInfo,
  info: ConvInfo,
): { dyd: TensorInfo; pad: ExplicitPad } {
  const [batch, oh, ow, ch] = dy.shape as [number, number, number, number];
  const { strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw, inHeight, inWidth } = info;
  assert(
    oh === info.outHeight && ow === info.outWidth,
    () => `${s.where}: dy is ${oh}x${ow}, forward output was ${info.outHeight}x${info.outWidth}`,
  );
  let dyd = dy;
  if (sh > 1 || sw > 1) {
    const r = s.reshape(dy, [batch, oh, 1, ow, 1, ch]);
    const padded = s.run(
      "PadV2",
      { x: r },
      {
        paddings: [
          [0, 0],
          [0, 0],
          [0, sh - 1],
          [0, 0],
          [0, sw - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
    dyd = s.reshape(padded, [batch, oh * sh, ow * sw, ch]);
  }
  const rows = padOrCrop((oh - 1) * sh + 1, kh - 1 - info.padInfo.top, kh, inHeight);
  const cols = padOrCrop((ow - 1) * sw + 1, kw - 1 - info.padInfo.left, kw, inWidth);
  dyd = s.slice(dyd, [0, rows.start, cols.start, 0], [batch, rows.keep, cols.keep, ch]);
  return {
    dyd,
    pad: [
      [0, 0],
      [rows.padBefore, rows.padAfter],
      [cols.padBefore, cols.padAfter],
      [0, 0],
    ],
  };
}

/** Reverses the filter's spatial axes (skipped for 1x1 filters). */
export function flipFilter(s: KernelScope, filter: TensorInfo): TensorInfo {
  if (filter.shape[0] === 1 && filter.shape[1] === 1) return filter;
  return s.run("Reverse", { x: filter }, { dims: [0, 1] });
}

export function convAttrs(pad: ExplicitPad): NamedAttrMap {
  return { strides: [1, 1], pad, dataFormat: "NHWC", dilations: [1, 1] } as unknown as NamedAttrMap;
}
