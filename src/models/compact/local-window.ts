// Window arithmetic for predicting images that differ from a base image only inside a small box
// (smoothing's candidates): which outputs of a 'same' convolution the change can reach, and the
// gather indices that paste recomputed windows into a base image's activations.

/** Pixels [y0, y1) × [x0, x1) of an image (rows, then columns). */
export interface PixelBox {
  y0: number;
  y1: number;
  x0: number;
  x1: number;
}

/** A 'same' convolution along one axis: kernel taps, stride, padding before, input and output sizes. */
export interface SameConvAxis {
  kernel: number;
  stride: number;
  padBefore: number;
  inSize: number;
  outSize: number;
}

/** TensorFlow's 'same' padding: out = ceil(in / stride), the smaller half of the padding before. */
export function sameConvAxis(kernel: number, stride: number, inSize: number): SameConvAxis {
  const outSize = Math.ceil(inSize / stride);
  const total = Math.max((outSize - 1) * stride + kernel - inSize, 0);
  return { kernel, stride, padBefore: Math.floor(total / 2), inSize, outSize };
}

/** Outputs [lo, hi) of a 'same' conv that read any of inputs [a, b) (output o reads s·o − pad … s·o − pad + k − 1). */
export function reachedRange(a: number, b: number, conv: SameConvAxis): [number, number] {
  const lo = Math.max(0, Math.ceil((a + conv.padBefore - conv.kernel + 1) / conv.stride));
  const hi = Math.min(conv.outSize, Math.floor((b - 1 + conv.padBefore) / conv.stride) + 1);
  return [lo, Math.max(lo, hi)];
}

/** Start of a window of `size` in [0, n) that holds [lo, hi) (hi − lo ≤ size). */
export function windowStart(lo: number, n: number, size: number): number {
  return Math.max(0, Math.min(lo, n - size));
}

/** Where each image's recomputed window sits at one layer: its side (one for the batch) and corners. */
export interface LocalWindow {
  side: number;
  /** Per image: the window's top-left corner [row, column] on the layer's output grid. */
  at: [number, number][];
}

/**
 * Per layer of a chain of 'same' convs (each reading the one before), windows that hold every
 * output that a change inside `boxes[i]` can reach; one side per layer for the whole batch (the
 * largest needed).
 */
export function localWindows(boxes: readonly PixelBox[], convs: readonly SameConvAxis[]): LocalWindow[] {
  let reach = boxes.map((b) => ({ rows: [b.y0, b.y1] as [number, number], cols: [b.x0, b.x1] as [number, number] }));
  return convs.map((conv) => {
    reach = reach.map((r) => ({
      rows: reachedRange(r.rows[0], r.rows[1], conv),
      cols: reachedRange(r.cols[0], r.cols[1], conv),
    }));
    const side = Math.max(1, ...reach.map((r) => Math.max(r.rows[1] - r.rows[0], r.cols[1] - r.cols[0])));
    return {
      side,
      at: reach.map((r) => [windowStart(r.rows[0], conv.outSize, side), windowStart(r.cols[0], conv.outSize, side)]),
    };
  });
}

/**
 * Gather indices (rows of a table) that build, per image b, an h × w window at `at[b]` of a
 * size × size activation whose base is `baseOf[b]` (table rows m·size² + r·size + c), with the
 * pixels inside the recomputed window `inner[b]` (innerSide², at table row innerStart + b·innerSide²)
 * taken from it and the pixels outside the activation (row or column < 0 or ≥ size) from `zeroRow`.
 */
export function pasteIndices(
  size: number,
  baseOf: readonly number[],
  at: readonly [number, number][],
  h: number,
  w: number,
  inner: readonly [number, number][],
  innerSide: number,
  innerStart: number,
  zeroRow: number,
): Int32Array {
  const idx = new Int32Array(baseOf.length * h * w);
  let k = 0;
  baseOf.forEach((m, b) => {
    const [r0, c0] = at[b]!;
    const [ir, ic] = inner[b]!;
    for (let i = 0; i < h; i++) {
      const r = r0 + i;
      for (let j = 0; j < w; j++) {
        const c = c0 + j;
        if (r < 0 || r >= size || c < 0 || c >= size) idx[k++] = zeroRow;
        else if (r >= ir && r < ir + innerSide && c >= ic && c < ic + innerSide)
          idx[k++] = innerStart + (b * innerSide + (r - ir)) * innerSide + (c - ic);
        else idx[k++] = (m * size + r) * size + c;
      }
    }
  });
  return idx;
}

/**
 * The distinct bases that `baseOf` names, in first-seen order, and each image's base renumbered into
 * that list: what a batch of variants needs of its bases.
 */
export function usedBases(baseOf: readonly number[]): { used: number[]; baseOf: number[] } {
  const used = [...new Set(baseOf)];
  const index = new Map(used.map((b, j) => [b, j]));
  return { used, baseOf: baseOf.map((b) => index.get(b)!) };
}
