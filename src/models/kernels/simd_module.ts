// Hand-written WebAssembly SIMD kernels that run on the wasm backend's own memory (no copies).
// XNNPACK has no depthwise filter gradient, tfjs routes a depthwise convolution with a channel
// multiplier or a huge filter to slow grouped-GEMM paths, and a filter gradient as a GEMM repacks
// dy (its "weights") at every step; the loops below are SIMD multiply-adds over channel quads instead.
// The source is WebAssembly text, assembled by wabt when the backend starts. Where the backend's
// memory is shared (its threaded build), each call is split by channels over worker threads too.
import type * as tf from "@tensorflow/tfjs";
import type { backend_util, KernelBackend } from "@tensorflow/tfjs";
import { SimdPool } from "./simd_pool.js";
import {
  dwS2ForwardText,
  dwS2InputGradText,
  packedStride2Floats,
  packStride2Filter,
  type Stride2Kind,
} from "./simd_dw_s2_text.js";
import { rgbForwardText } from "./simd_rgb_forward_text.js";
import { rgbInputGradText } from "./simd_rgb_text.js";
import { forLoop } from "./wat.js";

/** The part of the wasm backend these kernels use (tfjs-backend-wasm's BackendWasm). */
export interface WasmBackendMemory {
  /** The threaded build exposes its shared memory as wasmMemory; the plain build as asm.memory. */
  wasm: { wasmMemory?: WebAssembly.Memory; asm?: { memory?: WebAssembly.Memory } };
  dataIdMap: { get(dataId: object): { memoryOffset: number } | undefined };
  makeOutput(shape: number[], dtype: "float32"): tf.TensorInfo;
}

/** A convolution's loop shape: x [B, H, W, C], dy [B, OH, OW, C or outChannels], filter [KH, KW, C, ...]. */
export interface ConvShape {
  batch: number;
  inH: number;
  inW: number;
  channels: number;
  outH: number;
  outW: number;
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
}

/** The loop shape of a convolution as tfjs describes it. */
export function convShape(info: backend_util.Conv2DInfo, batch: number): ConvShape {
  return {
    batch,
    inH: info.inHeight,
    inW: info.inWidth,
    channels: info.inChannels,
    outH: info.outHeight,
    outW: info.outWidth,
    kh: info.filterHeight,
    kw: info.filterWidth,
    strideH: info.strideHeight,
    strideW: info.strideWidth,
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
  };
}

/**
 * Byte offsets into the backend's memory. With iy = oy*sh + i - pt and ix = ox*sw + j - pl, taps
 * outside x are skipped (zero padding). Each call overwrites its whole output.
 */
export interface SimdKernels {
  /** Depthwise filter gradient: dW[i, j, c] = sum over b, oy, ox of x[b, iy, ix, c] * dy[b, oy, ox, c]. */
  dwFilterGrad(x: number, dy: number, dw: number, shape: ConvShape): void;
  /**
   * Depthwise input gradient: dx[b, iy, ix, c] = sum over the taps reaching it of w[i, j, c] * dy[b, oy, ox, c],
   * times (mask[b, iy, ix, c] > 0) when `mask` (an activation of dx's shape) is given.
   */
  dwInputGrad(dx: number, dy: number, w: number, shape: ConvShape, mask?: number): void;
  /**
   * Depthwise convolution y[b, oy, ox, c] = sum over i, j of x[b, iy, ix, c] * w[i, j, c] (channel
   * multiplier 1) where the shape is a stride-2 5x5 'same' one on an even size (isStride2Same5x5);
   * returns false, writing nothing, for any other shape.
   */
  dwConv(y: number, x: number, w: number, shape: ConvShape): boolean;
  /**
   * Convolution filter gradient: dW[i, j, ci, co] = sum of x[b, iy, ix, ci] * dy[b, oy, ox, co]; outChannels % 4 == 0.
   */
  convFilterGrad(x: number, dy: number, dw: number, outChannels: number, shape: ConvShape): void;
  /**
   * out[p, c] = x[p, c] * scale[c] + shift[c] over `pixels` pixels of `channels` channels (scale, shift: C floats
   * each).
   */
  scaleShift(x: number, out: number, scale: number, shift: number, pixels: number, channels: number): void;
  /**
   * The input gradient of a first layer's 'same' stride-1 convolution of 3-channel images:
   * dx[b, y, x, c] = sum over u, v, k of g[b, y - u + pt, x - v + pl, k] w[u, v, c, k] (w packed by packRgbFilter).
   */
  rgbInputGrad(dx: number, g: number, w: number, shape: RgbShape): void;
  /**
   * A first layer's 5x5 'same' stride-1 convolution of 3-channel images with its bias and ReLU:
   * y[b, y, x, k] = max(0, bias[k] + sum over u, v, c of x[b, y + u - 2, x + v - 2, c] w[u, v, c, k]),
   * w packed in `groups` groups by packRgbForward (shape.kh and kw must be 5).
   */
  rgbForward(y: number, x: number, w: number, shape: RgbShape, groups: number): void;
  /** out = x + g * step / (sqrt(mean(g^2)) + eps) over n floats (one normalized gradient-ascent step). */
  ascent(x: number, g: number, out: number, n: number, step: number, eps: number): void;
  /** Whether the module multiplies and adds in one relaxed-SIMD instruction. */
  readonly fusedMultiplyAdd: boolean;
  /** One Adam update of n floats into new buffers (see ADAM); `c1`, `c2` are the bias corrections 1 / (1 - beta^t). */
  adam(
    buffers: { p: number; g: number; m: number; v: number; np: number; nm: number; nv: number },
    n: number,
    hyper: { beta1: number; beta2: number; c1: number; c2: number; learningRate: number; epsilon: number },
  ): void;
}

/** A first-layer convolution: images [batch, height, width, 3], features [batch, height, width, channels]. */
export interface RgbShape {
  batch: number;
  height: number;
  width: number;
  channels: number;
  kh: number;
  kw: number;
  padTop: number;
  padLeft: number;
}

const PARAMS = ["B", "H", "W", "C", "OH", "OW", "KH", "KW", "sh", "sw", "pt", "pl"] as const;
const SHAPE_PARAMS = PARAMS.map((p) => `(param $${p} i32)`).join(" ");
/** The filter gradients work on images [b0, b1) of the batch (thread splits). */
const RANGE_PARAMS = "(param $b0 i32) (param $b1 i32)";

/**
 * The depthwise filter gradient: at every tap, dW[i, j, c] += x[b, iy, ix, c] * dy[b, oy, ox, c],
 * four channels at a time, then the remainder.
 */
function dwFilterGradText(): string {
  const accPtr =
    "(i32.add (local.get $f) (i32.mul (i32.add (i32.mul (local.get $i) (local.get $KW)) (local.get $j)) (local.get " +
    "$cb)))";
  const otherPtr = "(i32.add (local.get $xrow) (i32.mul (local.get $ix) (local.get $cb)))";
  const update = (load: string, store: string, mul: string, add: string): string =>
    `(${store} align=4 (i32.add (local.get $acc) (local.get $k))
        (${add} (${load} align=4 (i32.add (local.get $acc) (local.get $k)))
          (${mul} (${load} align=4 (i32.add (local.get $oth) (local.get $k))) (${load} align=4 (i32.add (local.get
          $dyp) (local.get $k))))))`;
  const quads = update("v128.load", "v128.store", "f32x4.mul", "f32x4.add");
  const singles = update("f32.load", "f32.store", "f32.mul", "f32.add");
  const tap = `(local.set $acc ${accPtr})
          (local.set $oth ${otherPtr})
          ${forLoop("v", "$k", "(local.get $kb0)", "(local.get $kv)", "(i32.const 16)", quads)}
          ${forLoop("s", "$k", "(local.get $kv)", "(local.get $kb1)", "(i32.const 4)", singles)}`;
  const row = `(local.set $iy (i32.sub (i32.add (i32.mul (local.get $oy) (local.get $sh)) (local.get $i)) (local.get
  $pt)))
        ;; unsigned compare: a negative row is outside too
        (if (i32.lt_u (local.get $iy) (local.get $H)) (then
          (local.set $xrow (i32.add (local.get $img) (i32.mul (i32.mul (i32.add (i32.mul (local.get $b) (local.get $H))
          (local.get $iy)) (local.get $W)) (local.get $cb))))
          ${forLoop(
            "j",
            "$j",
            "(i32.const 0)",
            "(local.get $KW)",
            "(i32.const 1)",
            `(local.set $ix (i32.sub (i32.add (i32.mul (local.get $ox) (local.get $sw)) (local.get $j)) (local.get
            $pl)))
          (if (i32.lt_u (local.get $ix) (local.get $W)) (then ${tap}))`,
          )}))`;
  const pixel = `${forLoop("i", "$i", "(i32.const 0)", "(local.get $KH)", "(i32.const 1)", row)}
      (local.set $dyp (i32.add (local.get $dyp) (local.get $cb)))`;
  return `
  (func (export "dwFilterGrad") (param $img i32) (param $dy i32) (param $f i32) ${SHAPE_PARAMS} ${RANGE_PARAMS}
    (local $b i32) (local $oy i32) (local $ox i32) (local $i i32) (local $j i32) (local $iy i32) (local $ix i32)
    (local $k i32) (local $cb i32) (local $kb0 i32) (local $kv i32) (local $kb1 i32) (local $dyp i32) (local $xrow i32)
    (local $acc i32) (local $oth i32)
    (local.set $cb (i32.shl (local.get $C) (i32.const 2)))
    ;; bytes of a pixel: [kb0, kv) in quads, [kv, kb1) one at a time
    (local.set $kb0 (i32.const 0))
    (local.set $kb1 (local.get $cb))
    (local.set $kv (i32.and (local.get $cb) (i32.const -16)))
    (local.set $dyp (i32.add (local.get $dy) (i32.mul (i32.mul (i32.mul (local.get $b0) (local.get $OH)) (local.get
    $OW)) (local.get $cb))))
    ${pixelLoops(pixel)})`;
}

/**
 * The depthwise input gradient gathered per output pixel: the taps that reach dx[b, iy, ix] are
 * listed once (pairs of filter-row and dy-pixel pointers in `taps`, 2 * KH * KW i32), then each
 * channel quad sums over them in a register and is stored once, optionally zeroed where the
 * activation `mask` is not positive (the ReLU below, fused). Works on rows [r0, r1) of the B * H
 * image rows, so threads write disjoint rows.
 */
const DW_INPUT_GATHER = `
  (func (export "dwInputGrad") (param $dx i32) (param $dy i32) (param $f i32) (param $mask i32) (param $taps i32)
  ${SHAPE_PARAMS} (param $r0 i32) (param $r1 i32)
    (local $row i32) (local $b i32) (local $iy i32) (local $ix i32) (local $i i32) (local $j i32) (local $t i32) (local
    $u i32)
    (local $n i32) (local $tp i32) (local $tend i32) (local $k i32) (local $cb i32) (local $kv i32) (local $out i32)
    (local $mp i32)
    (local $oyrow i32) (local $oy i32) (local $ox i32) (local $oylo i32) (local $oyhi i32) (local $oxlo i32) (local
    $oxhi i32) (local $acc v128) (local $sacc f32)
    (local.set $cb (i32.shl (local.get $C) (i32.const 2)))
    (local.set $kv (i32.and (local.get $cb) (i32.const -16)))
    ${forLoop(
      "row",
      "$row",
      "(local.get $r0)",
      "(local.get $r1)",
      "(i32.const 1)",
      `(local.set $b (i32.div_u (local.get $row) (local.get $H)))
      (local.set $iy (i32.rem_u (local.get $row) (local.get $H)))
      ;; dy rows reaching image row iy: oy*sh = iy + pt - i for a tap row i in [0, KH)
      (local.set $t (i32.add (local.get $iy) (local.get $pt)))
      (local.set $oyhi (i32.div_u (local.get $t) (local.get $sh)))
      (if (i32.ge_u (local.get $oyhi) (local.get $OH)) (then (local.set $oyhi (i32.sub (local.get $OH) (i32.const 1)))))
      (local.set $oylo (if (result i32) (i32.gt_s (i32.sub (local.get $t) (local.get $KH)) (i32.const -1))
        (then (i32.div_u (i32.add (i32.sub (local.get $t) (local.get $KH)) (local.get $sh)) (local.get $sh))) (else
        (i32.const 0))))
      ${forLoop(
        "ix",
        "$ix",
        "(i32.const 0)",
        "(local.get $W)",
        "(i32.const 1)",
        `;; the taps reaching (iy, ix), as (filter row, dy pixel) pointers; two divisions a pixel
        (local.set $u (i32.add (local.get $ix) (local.get $pl)))
        (local.set $oxhi (i32.div_u (local.get $u) (local.get $sw)))
        (if (i32.ge_u (local.get $oxhi) (local.get $OW)) (then (local.set $oxhi (i32.sub (local.get $OW) (i32.const
        1)))))
        (local.set $oxlo (if (result i32) (i32.gt_s (i32.sub (local.get $u) (local.get $KW)) (i32.const -1))
          (then (i32.div_u (i32.add (i32.sub (local.get $u) (local.get $KW)) (local.get $sw)) (local.get $sw))) (else
          (i32.const 0))))
        (local.set $tp (local.get $taps))
        (local.set $oy (local.get $oylo))
        (block $oy_done (loop $oy_loop
          (br_if $oy_done (i32.gt_s (local.get $oy) (local.get $oyhi)))
          (local.set $i (i32.sub (local.get $t) (i32.mul (local.get $oy) (local.get $sh))))
          (local.set $oyrow (i32.mul (i32.add (i32.mul (local.get $b) (local.get $OH)) (local.get $oy)) (local.get
          $OW)))
          (local.set $ox (local.get $oxlo))
          (block $ox_done (loop $ox_loop
            (br_if $ox_done (i32.gt_s (local.get $ox) (local.get $oxhi)))
            (local.set $j (i32.sub (local.get $u) (i32.mul (local.get $ox) (local.get $sw))))
            (i32.store (local.get $tp) (i32.add (local.get $f) (i32.mul (i32.add (i32.mul (local.get $i) (local.get
            $KW)) (local.get $j)) (local.get $cb))))
            (i32.store offset=4 (local.get $tp) (i32.add (local.get $dy) (i32.mul (i32.add (local.get $oyrow)
            (local.get $ox)) (local.get $cb))))
            (local.set $tp (i32.add (local.get $tp) (i32.const 8)))
            (local.set $ox (i32.add (local.get $ox) (i32.const 1)))
            (br $ox_loop)))
          (local.set $oy (i32.add (local.get $oy) (i32.const 1)))
          (br $oy_loop)))
        (local.set $tend (local.get $tp))
        (local.set $out (i32.add (local.get $dx) (i32.mul (i32.add (i32.mul (local.get $row) (local.get $W)) (local.get
        $ix)) (local.get $cb))))
        (local.set $mp (i32.add (local.get $mask) (i32.sub (local.get $out) (local.get $dx))))
        ${forLoop(
          "q",
          "$k",
          "(i32.const 0)",
          "(local.get $kv)",
          "(i32.const 16)",
          `(local.set $acc (v128.const i32x4 0 0 0 0))
          ${forLoop(
            "tq",
            "$tp",
            "(local.get $taps)",
            "(local.get $tend)",
            "(i32.const 8)",
            `(local.set $acc (f32x4.add (local.get $acc)
              (f32x4.mul (v128.load align=4 (i32.add (i32.load (local.get $tp)) (local.get $k))) (v128.load align=4
              (i32.add (i32.load offset=4 (local.get $tp)) (local.get $k))))))`,
          )}
          (if (local.get $mask) (then
            (local.set $acc (v128.and (local.get $acc) (f32x4.gt (v128.load align=4 (i32.add (local.get $mp) (local.get
            $k))) (v128.const i32x4 0 0 0 0))))))
          (v128.store align=4 (i32.add (local.get $out) (local.get $k)) (local.get $acc))`,
        )}
        ${forLoop(
          "sq",
          "$k",
          "(local.get $kv)",
          "(local.get $cb)",
          "(i32.const 4)",
          `(local.set $sacc (f32.const 0))
          ${forLoop(
            "ts",
            "$tp",
            "(local.get $taps)",
            "(local.get $tend)",
            "(i32.const 8)",
            `(local.set $sacc (f32.add (local.get $sacc)
              (f32.mul (f32.load align=4 (i32.add (i32.load (local.get $tp)) (local.get $k))) (f32.load align=4
              (i32.add (i32.load offset=4 (local.get $tp)) (local.get $k))))))`,
          )}
          (if (local.get $mask) (then
            (if (i32.eqz (f32.gt (f32.load align=4 (i32.add (local.get $mp) (local.get $k))) (f32.const 0))) (then
            (local.set $sacc (f32.const 0))))))
          (f32.store align=4 (i32.add (local.get $out) (local.get $k)) (local.get $sacc))`,
        )}`,
      )}`,
    )})`;

/**
 * The convolution filter gradient, directly: for each tap and block of R input channels and Q
 * output-channel quads, R*Q accumulators stay in registers along the valid part of an output row.
 */
function convFilterGradText(): string {
  const block = (r: number, q: number): string => {
    const lines: string[] = [];
    for (let k = 0; k < r * q; k++) lines.push(`(local.set $a${k} (v128.const i32x4 0 0 0 0))`);
    lines.push(
      `(local.set $xp (i32.add (local.get $xrow) (i32.shl (i32.add (i32.mul (i32.sub (i32.add (i32.mul (local.get ` +
        `$lo) (local.get $sw)) (local.get $j)) (local.get $pl)) (local.get $C)) (local.get $ci)) (i32.const 2))))`,
    );
    lines.push(
      `(local.set $dp (i32.add (i32.add (local.get $dyrow) (i32.mul (local.get $lo) (local.get $ob))) (local.get ` +
        `$co)))`,
    );
    const body: string[] = [];
    for (let k = 0; k < q; k++) body.push(`(local.set $d${k} (v128.load offset=${16 * k} align=4 (local.get $dp)))`);
    for (let rr = 0; rr < r; rr++) {
      body.push(`(local.set $s (f32x4.splat (f32.load offset=${4 * rr} align=4 (local.get $xp))))`);
      for (let k = 0; k < q; k++)
        body.push(
          `(local.set $a${rr * q + k} (f32x4.add (local.get $a${rr * q + k}) (f32x4.mul (local.get $s) (local.get ` +
            `$d${k}))))`,
        );
    }
    body.push(
      "(local.set $xp (i32.add (local.get $xp) (local.get $xstep)))",
      "(local.set $dp (i32.add (local.get $dp) (local.get $ob)))",
    );
    lines.push(forLoop("ox", "$ox", "(local.get $lo)", "(local.get $hi)", "(i32.const 1)", body.join("\n      ")));
    // Add to dW rows (i, j, ci + rr), columns co + 16 k.
    lines.push(
      `(local.set $wp (i32.add (i32.shl (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $i) (local.get ` +
        `$KW)) (local.get $j)) (local.get $C)) (local.get $ci)) (local.get $CO)) (i32.const 2)) (i32.add (local.get ` +
        `$dw) (local.get $co))))`,
    );
    for (let rr = 0; rr < r; rr++) {
      for (let k = 0; k < q; k++) {
        const at = `(i32.add (local.get $wp) (i32.const ${16 * k}))`;
        lines.push(`(v128.store align=4 ${at} (f32x4.add (v128.load align=4 ${at}) (local.get $a${rr * q + k})))`);
      }
      if (rr < r - 1) lines.push("(local.set $wp (i32.add (local.get $wp) (local.get $ob)))");
    }
    return lines.join("\n      ");
  };
  // Output channels in blocks of 12, then 4; input channels in blocks of 3, then 1 (13 v128 registers at most).
  const columns = (r: number): string => `(local.set $co (local.get $cob0))
      (block $c3_done (loop $c3
        (br_if $c3_done (i32.gt_u (i32.add (local.get $co) (i32.const 48)) (local.get $cob1)))
        ${block(r, 3)}
        (local.set $co (i32.add (local.get $co) (i32.const 48)))
        (br $c3)))
      ${forLoop("c1", "$co", "(local.get $co)", "(local.get $cob1)", "(i32.const 16)", block(r, 1))}`;
  const validColumns = `;; valid output columns [lo, hi): 0 <= ox*sw + j - pl < W
      (local.set $lo (i32.const 0))
      (block $lo_done (loop $lo_loop
        (br_if $lo_done (i32.ge_u (local.get $lo) (local.get $OW)))
        (br_if $lo_done (i32.ge_s (i32.sub (i32.add (i32.mul (local.get $lo) (local.get $sw)) (local.get $j))
        (local.get $pl)) (i32.const 0)))
        (local.set $lo (i32.add (local.get $lo) (i32.const 1)))
        (br $lo_loop)))
      (local.set $hi (local.get $lo))
      (block $hi_done (loop $hi_loop
        (br_if $hi_done (i32.ge_u (local.get $hi) (local.get $OW)))
        (br_if $hi_done (i32.ge_s (i32.sub (i32.add (i32.mul (local.get $hi) (local.get $sw)) (local.get $j))
        (local.get $pl)) (local.get $W)))
        (local.set $hi (i32.add (local.get $hi) (i32.const 1)))
        (br $hi_loop)))`;
  const tap = `${validColumns}
      (local.set $ci (i32.const 0))
      (block $r3_done (loop $r3
        (br_if $r3_done (i32.gt_u (i32.add (local.get $ci) (i32.const 3)) (local.get $C)))
        ${columns(3)}
        (local.set $ci (i32.add (local.get $ci) (i32.const 3)))
        (br $r3)))
      ${forLoop("r1", "$ci", "(local.get $ci)", "(local.get $C)", "(i32.const 1)", columns(1))}`;
  const row = `(local.set $iy (i32.sub (i32.add (i32.mul (local.get $oy) (local.get $sh)) (local.get $i)) (local.get
  $pt)))
      (if (i32.lt_u (local.get $iy) (local.get $H)) (then
        (local.set $xrow (i32.add (local.get $x) (i32.shl (i32.mul (i32.mul (i32.add (i32.mul (local.get $b) (local.get
        $H)) (local.get $iy)) (local.get $W)) (local.get $C)) (i32.const 2))))
        ${forLoop("j", "$j", "(i32.const 0)", "(local.get $KW)", "(i32.const 1)", tap)}))`;
  const outputRow = `(local.set $dyrow (i32.add (local.get $dy) (i32.mul (i32.mul (i32.add (i32.mul (local.get $b)
  (local.get $OH)) (local.get $oy)) (local.get $OW)) (local.get $ob))))
      ${forLoop("i", "$i", "(i32.const 0)", "(local.get $KH)", "(i32.const 1)", row)}`;
  const accumulators = Array.from({ length: 9 }, (_, k) => `(local $a${k} v128)`).join(" ");
  return `
  (func (export "convFilterGrad") (param $x i32) (param $dy i32) (param $dw i32) (param $CO i32) ${SHAPE_PARAMS}
  ${RANGE_PARAMS}
    (local $b i32) (local $oy i32) (local $ox i32) (local $i i32) (local $j i32) (local $iy i32) (local $ci i32) (local
    $co i32)
    (local $lo i32) (local $hi i32) (local $xrow i32) (local $dyrow i32) (local $xp i32) (local $dp i32) (local $wp i32)
    (local $ob i32) (local $xstep i32) (local $cob0 i32) (local $cob1 i32)
    ${accumulators} (local $d0 v128) (local $d1 v128) (local $d2 v128) (local $s v128)
    ;; bytes per dy pixel; x's bytes from one output column to the next; the channel range in bytes
    (local.set $ob (i32.shl (local.get $CO) (i32.const 2)))
    (local.set $xstep (i32.shl (i32.mul (local.get $sw) (local.get $C)) (i32.const 2)))
    (local.set $cob0 (i32.const 0))
    (local.set $cob1 (local.get $ob))
    ${rowLoops(outputRow)})`;
}

/**
 * Batch normalization with given statistics, as a per-channel multiply-add: out[p, c] = x[p, c] *
 * scale[c] + shift[c] for pixels [p0, p1) of C channels (scale and shift folded by the caller).
 */
const SCALE_SHIFT = `
  (func (export "scaleShift") (param $x i32) (param $out i32) (param $sc i32) (param $sh i32) (param $C i32) (param $p0
  i32) (param $p1 i32)
    (local $p i32) (local $k i32) (local $cb i32) (local $kv i32) (local $xp i32) (local $op i32)
    (local.set $cb (i32.shl (local.get $C) (i32.const 2)))
    (local.set $kv (i32.and (local.get $cb) (i32.const -16)))
    ${forLoop(
      "p",
      "$p",
      "(local.get $p0)",
      "(local.get $p1)",
      "(i32.const 1)",
      `(local.set $xp (i32.add (local.get $x) (i32.mul (local.get $p) (local.get $cb))))
      (local.set $op (i32.add (local.get $out) (i32.mul (local.get $p) (local.get $cb))))
      ${forLoop(
        "v",
        "$k",
        "(i32.const 0)",
        "(local.get $kv)",
        "(i32.const 16)",
        `(v128.store align=4 (i32.add (local.get $op) (local.get $k))
          (f32x4.add (f32x4.mul (v128.load align=4 (i32.add (local.get $xp) (local.get $k))) (v128.load align=4
          (i32.add (local.get $sc) (local.get $k))))
            (v128.load align=4 (i32.add (local.get $sh) (local.get $k)))))`,
      )}
      ${forLoop(
        "s",
        "$k",
        "(local.get $kv)",
        "(local.get $cb)",
        "(i32.const 4)",
        `(f32.store align=4 (i32.add (local.get $op) (local.get $k))
          (f32.add (f32.mul (f32.load align=4 (i32.add (local.get $xp) (local.get $k))) (f32.load align=4 (i32.add
          (local.get $sc) (local.get $k))))
            (f32.load align=4 (i32.add (local.get $sh) (local.get $k)))))`,
      )}`,
    )})`;

/**
 * One Adam update of n floats, as tf.train.adam computes it: m' = b1 m + (1 - b1) g,
 * v' = b2 v + (1 - b2) g^2, p' = p - lr (m' c1) / (sqrt(v' c2) + eps), with c1 = 1 / (1 - b1^t) and
 * c2 = 1 / (1 - b2^t). Writes p', m', v' to new buffers (tensors are immutable).
 */
const ADAM = `
  (func (export "adam") (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $np i32) (param $nm i32)
  (param $nv i32) (param $n i32)
    (param $b1 f32) (param $b2 f32) (param $c1 f32) (param $c2 f32) (param $lr f32) (param $eps f32)
    (local $k i32) (local $nb i32) (local $kv i32) (local $gv v128) (local $mv v128) (local $vv v128) (local $gs f32)
    (local $ms f32) (local $vs f32)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $kv (i32.and (local.get $nb) (i32.const -16)))
    ${forLoop(
      "v",
      "$k",
      "(i32.const 0)",
      "(local.get $kv)",
      "(i32.const 16)",
      `(local.set $gv (v128.load align=4 (i32.add (local.get $g) (local.get $k))))
      (local.set $mv (f32x4.add (f32x4.mul (v128.load align=4 (i32.add (local.get $m) (local.get $k))) (f32x4.splat
      (local.get $b1)))
        (f32x4.mul (local.get $gv) (f32x4.splat (f32.sub (f32.const 1) (local.get $b1))))))
      (local.set $vv (f32x4.add (f32x4.mul (v128.load align=4 (i32.add (local.get $v) (local.get $k))) (f32x4.splat
      (local.get $b2)))
        (f32x4.mul (f32x4.mul (local.get $gv) (local.get $gv)) (f32x4.splat (f32.sub (f32.const 1) (local.get $b2))))))
      (v128.store align=4 (i32.add (local.get $nm) (local.get $k)) (local.get $mv))
      (v128.store align=4 (i32.add (local.get $nv) (local.get $k)) (local.get $vv))
      (v128.store align=4 (i32.add (local.get $np) (local.get $k))
        (f32x4.sub (v128.load align=4 (i32.add (local.get $p) (local.get $k)))
          (f32x4.mul (f32x4.splat (local.get $lr))
            (f32x4.div (f32x4.mul (local.get $mv) (f32x4.splat (local.get $c1)))
              (f32x4.add (f32x4.sqrt (f32x4.mul (local.get $vv) (f32x4.splat (local.get $c2)))) (f32x4.splat (local.get
              $eps)))))))`,
    )}
    ${forLoop(
      "s",
      "$k",
      "(local.get $kv)",
      "(local.get $nb)",
      "(i32.const 4)",
      `(local.set $gs (f32.load align=4 (i32.add (local.get $g) (local.get $k))))
      (local.set $ms (f32.add (f32.mul (f32.load align=4 (i32.add (local.get $m) (local.get $k))) (local.get $b1))
      (f32.mul (local.get $gs) (f32.sub (f32.const 1) (local.get $b1)))))
      (local.set $vs (f32.add (f32.mul (f32.load align=4 (i32.add (local.get $v) (local.get $k))) (local.get $b2))
      (f32.mul (f32.mul (local.get $gs) (local.get $gs)) (f32.sub (f32.const 1) (local.get $b2)))))
      (f32.store align=4 (i32.add (local.get $nm) (local.get $k)) (local.get $ms))
      (f32.store align=4 (i32.add (local.get $nv) (local.get $k)) (local.get $vs))
      (f32.store align=4 (i32.add (local.get $np) (local.get $k))
        (f32.sub (f32.load align=4 (i32.add (local.get $p) (local.get $k)))
          (f32.mul (local.get $lr) (f32.div (f32.mul (local.get $ms) (local.get $c1)) (f32.add (f32.sqrt (f32.mul
          (local.get $vs) (local.get $c2))) (local.get $eps))))))`,
    )})`;

/**
 * One normalized gradient step on n floats: out = x + g * step / (sqrt(mean(g^2)) + eps). The squares
 * are summed in four f32 lanes, the lanes and the remainder in f64.
 */
const ASCENT = `
  (func (export "ascent") (param $x i32) (param $g i32) (param $out i32) (param $n i32) (param $step f32) (param $eps
  f32)
    (local $k i32) (local $nb i32) (local $kv i32) (local $acc v128) (local $sum f64) (local $scale f32) (local $sv
    v128)
    (local.set $nb (i32.shl (local.get $n) (i32.const 2)))
    (local.set $kv (i32.and (local.get $nb) (i32.const -16)))
    (local.set $acc (v128.const i32x4 0 0 0 0))
    ${forLoop(
      "sq",
      "$k",
      "(i32.const 0)",
      "(local.get $kv)",
      "(i32.const 16)",
      `(local.set $sv (v128.load align=4 (i32.add (local.get $g) (local.get $k))))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $sv) (local.get $sv))))`,
    )}
    (local.set $sum (f64.add (f64.add (f64.promote_f32 (f32x4.extract_lane 0 (local.get $acc))) (f64.promote_f32
    (f32x4.extract_lane 1 (local.get $acc))))
      (f64.add (f64.promote_f32 (f32x4.extract_lane 2 (local.get $acc))) (f64.promote_f32 (f32x4.extract_lane 3
      (local.get $acc))))))
    ${forLoop(
      "sqs",
      "$k",
      "(local.get $kv)",
      "(local.get $nb)",
      "(i32.const 4)",
      `(local.set $sum (f64.add (local.get $sum)
        (f64.promote_f32 (f32.mul (f32.load align=4 (i32.add (local.get $g) (local.get $k))) (f32.load align=4 (i32.add
        (local.get $g) (local.get $k)))))))`,
    )}
    (local.set $scale (f32.div (local.get $step) (f32.add (f32.demote_f64 (f64.sqrt (f64.div (local.get $sum)
    (f64.convert_i32_u (local.get $n))))) (local.get $eps))))
    (local.set $sv (f32x4.splat (local.get $scale)))
    ${forLoop(
      "up",
      "$k",
      "(i32.const 0)",
      "(local.get $kv)",
      "(i32.const 16)",
      `(v128.store align=4 (i32.add (local.get $out) (local.get $k))
        (f32x4.add (v128.load align=4 (i32.add (local.get $x) (local.get $k))) (f32x4.mul (v128.load align=4 (i32.add
        (local.get $g) (local.get $k))) (local.get $sv))))`,
    )}
    ${forLoop(
      "ups",
      "$k",
      "(local.get $kv)",
      "(local.get $nb)",
      "(i32.const 4)",
      `(f32.store align=4 (i32.add (local.get $out) (local.get $k))
        (f32.add (f32.load align=4 (i32.add (local.get $x) (local.get $k))) (f32.mul (f32.load align=4 (i32.add
        (local.get $g) (local.get $k))) (local.get $scale))))`,
    )})`;

/** The module's text; `shared` must match the backend's memory (the threaded build shares it). */
export function simdModuleText(shared: boolean, fma = false): string {
  return `(module
  (import "env" "memory" (memory 1 65536${shared ? " shared" : ""}))
  ${dwFilterGradText()}
  ${DW_INPUT_GATHER}
  ${convFilterGradText()}
  ${SCALE_SHIFT}
  ${ADAM}
  ${rgbInputGradText(fma)}
  ${rgbForwardText(fma)}
  ${dwS2ForwardText(fma)}
  ${dwS2InputGradText(fma)}
  ${ASCENT}
)`;
}

type Wabt = Awaited<ReturnType<typeof import("wabt")>>;
let wabtModule: Promise<Wabt> | undefined;
const loadWabt = async (): Promise<Wabt> => (wabtModule ??= import("wabt").then((m) => m.default()));

/** One relaxed fused multiply-add, to ask the runtime whether it validates relaxed SIMD. */
const RELAXED_PROBE =
  `(module (func (param v128 v128 v128) (result v128) (f32x4.relaxed_madd (local.get 0) ` +
  `(local.get 1) (local.get 2))))`;

/**
 * Whether this runtime runs relaxed SIMD (its fused multiply-add). V8 ships it on from Node 22 and
 * Electron 25; Node 20 has it behind --experimental-wasm-relaxed-simd, which this turns on when the
 * runtime lacks it (a process-wide V8 flag; CORTEXLOOP_RELAXED_SIMD=0 keeps it off and the kernels
 * on a separate multiply and add).
 */
export async function relaxedSimdAvailable(): Promise<boolean> {
  if (process.env.CORTEXLOOP_RELAXED_SIMD === "0") return false;
  const wabt = await loadWabt();
  const parsed = wabt.parseWat("probe.wat", RELAXED_PROBE, { simd: true, relaxed_simd: true });
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = new Uint8Array(parsed.toBinary({}).buffer);
  } finally {
    parsed.destroy();
  }
  if (WebAssembly.validate(bytes)) return true;
  const v8 = await import("node:v8");
  v8.setFlagsFromString("--experimental-wasm-relaxed-simd");
  return WebAssembly.validate(bytes);
}

/**
 * Assembles the module (wabt) into WebAssembly bytes; `fma` uses relaxed SIMD's fused multiply-add
 * (relaxedSimdAvailable).
 */
export async function assembleSimdModule(shared: boolean, fma = false): Promise<WebAssembly.Module> {
  const wabt = await loadWabt();
  const features = { simd: true, threads: shared, bulk_memory: true, relaxed_simd: fma };
  const parsed = wabt.parseWat("cortexloop-simd.wat", simdModuleText(shared, fma), features);
  try {
    parsed.resolveNames();
    // wabt.js validates with the features it is given (its typings omit the argument).
    (parsed.validate as (f: typeof features) => void)(features);
    return new WebAssembly.Module(new Uint8Array(parsed.toBinary({}).buffer));
  } finally {
    parsed.destroy();
  }
}

/** Below this many multiply-adds a call runs on one thread: waking a worker costs about as much. */
const SPLIT_MIN_MACS = 1 << 21;
/**
 * Parts a thread of a split call (SimdPool.run hands them out one at a time). With one fixed share
 * a thread, the caller spent about 1 ms of a 7 ms synthesis step waiting for a worker that woke late
 * or shared its core with the runtime's own threads; 4 a thread measured best (2, 6 and 8 no better).
 */
export const PARTS_PER_THREAD = 4;

function shapeArgs(s: ConvShape): number[] {
  return [s.batch, s.inH, s.inW, s.channels, s.outH, s.outW, s.kh, s.kw, s.strideH, s.strideW, s.padTop, s.padLeft];
}

/**
 * A depthwise shape the stride-2 kernels cover (simd_dw_s2_text.ts): 5x5, stride 2, one row and
 * column of padding before (TensorFlow 'same' on an even size), at least 2 x 2 outputs, 4 channels.
 */
export function isStride2Same5x5(s: ConvShape): boolean {
  return (
    s.kh === 5 &&
    s.kw === 5 &&
    s.strideH === 2 &&
    s.strideW === 2 &&
    s.padTop === 1 &&
    s.padLeft === 1 &&
    s.inH === 2 * s.outH &&
    s.inW === 2 * s.outW &&
    s.outH >= 2 &&
    s.outW >= 2 &&
    s.channels >= 4
  );
}

/** Splits [0, n) into at most `parts` contiguous ranges of near-equal size. */
export function splitRange(n: number, parts: number): [number, number][] {
  const k = Math.max(1, Math.min(parts, n));
  return Array.from({ length: k }, (_, p): [number, number] => [
    Math.floor((n * p) / k),
    Math.floor((n * (p + 1)) / k),
  ]);
}

/** Float32 scratch space in the same memory: its byte offset, and how to free it. */
export type ScratchAllocator = (floats: number) => { offset: number; free(): void };

/**
 * The kernels on one memory. A call is split by images over the pool's threads (splitting by
 * channels would make the threads write neighbouring floats of the same cache lines); each thread's
 * share of a filter gradient goes to its own scratch buffer, added up at the end.
 */
export function simdKernelsOn(
  memory: WebAssembly.Memory,
  pool: SimdPool,
  scratch: ScratchAllocator,
  splitMinMacs = SPLIT_MIN_MACS,
  fma = false,
): SimdKernels {
  const floats = (at: number, n: number): Float32Array => new Float32Array(memory.buffer, at, n);
  /** [0, n) in `perThread` parts a thread where `macs` is worth splitting, else in one. */
  const split = (n: number, macs: number, perThread = PARTS_PER_THREAD): [number, number][] =>
    splitRange(n, macs >= splitMinMacs ? pool.threads * perThread : 1);
  /** Images in one part a thread: a filter gradient sums one buffer a part, so fewer parts are cheaper. */
  const parts = (s: ConvShape, macs: number): [number, number][] => split(s.batch, macs, 1);
  const taps = (s: ConvShape): number => s.batch * s.outH * s.outW * s.kh * s.kw;
  /**
   * Runs `name` with each part writing `size` floats to its own buffer (the first to `out`), then sums them into `out`.
   */
  const reduced = (
    name: string,
    head: (target: number) => number[],
    out: number,
    size: number,
    s: ConvShape,
    macs: number,
  ): void => {
    const ranges = parts(s, macs);
    const buffers = ranges.slice(1).map(() => scratch(size));
    try {
      const targets = [out, ...buffers.map((b) => b.offset)];
      for (const t of targets) floats(t, size).fill(0);
      pool.run(
        name,
        ranges.map(([b0, b1], p) => [...head(targets[p]!), ...shapeArgs(s), b0, b1]),
      );
      const total = floats(out, size);
      for (const b of buffers) {
        const part = floats(b.offset, size);
        for (let i = 0; i < size; i++) total[i]! += part[i]!;
      }
    } finally {
      for (const b of buffers) b.free();
    }
  };
  /** Image rows split over the threads (each writes its own rows), with the shape's arguments. */
  const rgbRows = (s: RgbShape): [number, number][] =>
    split(s.batch * s.height, s.batch * s.height * s.width * s.kh * s.kw * 3 * s.channels);
  const rgbArgs = (s: RgbShape): number[] => [s.batch, s.height, s.width, s.channels, s.kh, s.kw, s.padTop, s.padLeft];
  const rgbCheck = (s: RgbShape): void => {
    if (s.channels < 4) throw new Error(`rgb convolution: needs at least 4 feature channels, got ${s.channels}`);
  };
  /** Runs a stride-2 kernel with `filter` packed for it in a scratch buffer, split by rows over the threads. */
  const stride2 = (
    name: string,
    kind: Stride2Kind,
    s: ConvShape,
    filter: number,
    args: (packed: number, table: number, r0: number, r1: number) => number[],
  ): void => {
    const n = packedStride2Floats(s.channels);
    const rows = split(s.batch * s.outH, taps(s) * s.channels);
    // After the filter, a table of row pointers for each part, a cache line apart.
    const packed = scratch(n + 16 * rows.length);
    try {
      // The scratch allocation may have grown the memory: views are taken after it.
      packStride2Filter(floats(filter, 25 * s.channels), s.channels, kind, floats(packed.offset, n));
      pool.run(
        name,
        rows.map(([r0, r1], part) => args(packed.offset, packed.offset + 4 * n + 64 * part, r0, r1)),
      );
    } finally {
      packed.free();
    }
  };
  return {
    fusedMultiplyAdd: fma,
    dwConv(y, x, w, s) {
      if (!isStride2Same5x5(s)) return false;
      stride2("dwS2Forward", "forward", s, w, (packed, table, r0, r1) => [
        y,
        x,
        packed,
        table,
        s.batch,
        s.inH,
        s.inW,
        s.channels,
        r0,
        r1,
      ]);
      return true;
    },
    rgbInputGrad(dx, g, w, s) {
      rgbCheck(s);
      pool.run(
        "rgbInputGrad",
        rgbRows(s).map(([r0, r1]) => [dx, g, w, ...rgbArgs(s), r0, r1]),
      );
    },
    rgbForward(y, x, w, s, groups) {
      rgbCheck(s);
      if (s.kh !== 5 || s.kw !== 5 || s.padTop !== 2 || s.padLeft !== 2)
        throw new Error(`rgbForward: needs a 5x5 'same' filter, got ${s.kh}x${s.kw} padded ${s.padTop}, ${s.padLeft}`);
      pool.run(
        "rgbForward",
        rgbRows(s).map(([r0, r1]) => [y, x, w, s.batch, s.height, s.width, s.channels, groups, r0, r1]),
      );
    },
    ascent(x, g, out, n, step, eps) {
      // On this thread: an image is small next to the cost of waking a worker.
      pool.run("ascent", [[x, g, out, n]], [step, eps]);
    },
    dwFilterGrad(x, dy, dw, s) {
      reduced("dwFilterGrad", (t) => [x, dy, t], dw, s.kh * s.kw * s.channels, s, taps(s) * s.channels);
    },
    dwInputGrad(dx, dy, w, s, mask = 0) {
      if (isStride2Same5x5(s)) {
        stride2("dwS2InputGrad", "inputGradient", s, w, (packed, _table, r0, r1) => [
          dx,
          dy,
          packed,
          mask,
          s.batch,
          s.outH,
          s.outW,
          s.channels,
          r0,
          r1,
        ]);
        return;
      }
      // Split by image rows: each row of dx is written by one part only. Each part lists its taps in its own buffer.
      const rows = split(s.batch * s.inH, taps(s) * s.channels);
      const lists = rows.map(() => scratch(2 * s.kh * s.kw));
      try {
        pool.run(
          "dwInputGrad",
          rows.map(([r0, r1], p) => [dx, dy, w, mask, lists[p]!.offset, ...shapeArgs(s), r0, r1]),
        );
      } finally {
        for (const l of lists) l.free();
      }
    },
    scaleShift(x, out, scale, shift, pixels, channels) {
      const ranges = split(pixels, pixels * channels);
      pool.run(
        "scaleShift",
        ranges.map(([p0, p1]) => [x, out, scale, shift, channels, p0, p1]),
      );
    },
    adam(b, n, h) {
      // On this thread: a variable is small next to the cost of waking a worker.
      pool.run(
        "adam",
        [[b.p, b.g, b.m, b.v, b.np, b.nm, b.nv, n]],
        [h.beta1, h.beta2, h.c1, h.c2, h.learningRate, h.epsilon],
      );
    },
    convFilterGrad(x, dy, dw, outChannels, s) {
      if (outChannels % 4 !== 0)
        throw new Error(`convFilterGrad: output channels must be a multiple of 4, got ${outChannels}`);
      reduced(
        "convFilterGrad",
        (t) => [x, dy, t, outChannels],
        dw,
        s.kh * s.kw * s.channels * outChannels,
        s,
        taps(s) * s.channels * outChannels,
      );
    },
  };
}

interface Prepared {
  kernels: SimdKernels;
  pool: SimdPool;
}

const prepared = new WeakMap<KernelBackend, Prepared>();
const disabled = new WeakSet<KernelBackend>();

/** What prepareSimdKernels made of a backend. */
export interface SimdPreparation {
  ready: boolean;
  /** The kernels use relaxed SIMD's fused multiply-add. */
  fma: boolean;
  /** Why the kernels, or their relaxed-SIMD build, are not in use. */
  note?: string;
}

/**
 * Assembles and instantiates the kernels on `backend`'s memory (once per backend), with
 * `threads - 1` workers where that memory is shared: the relaxed-SIMD build where the runtime has
 * it, else (or where that build fails) the plain one. Not ready, leaving the composite kernels in
 * charge, where the backend has no wasm memory or neither build loads; never throws.
 */
export async function prepareSimdKernels(
  backend: KernelBackend,
  threads: number,
  assemble = assembleSimdModule,
): Promise<SimdPreparation> {
  const done = prepared.get(backend);
  if (done !== undefined) return { ready: true, fma: done.kernels.fusedMultiplyAdd };
  const memory = wasmMemoryOf(backend);
  if (memory === undefined) return { ready: false, fma: false, note: "the backend exposes no wasm memory" };
  const shared = typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
  const wasmBackend = backend as unknown as WasmBackendMemory;
  const scratch: ScratchAllocator = (n) => {
    const t = wasmBackend.makeOutput([n], "float32");
    return { offset: memoryOffsetOf(backend, t), free: () => backend.disposeData(t.dataId) };
  };
  const notes: string[] = [];
  let builds: boolean[] = [false];
  try {
    if (await relaxedSimdAvailable()) builds = [true, false];
  } catch (err) {
    notes.push(`relaxed SIMD probe failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  for (const fma of builds) {
    try {
      const pool = await SimdPool.start(await assemble(shared, fma), memory, shared ? threads : 1);
      prepared.set(backend, { kernels: simdKernelsOn(memory, pool, scratch, SPLIT_MIN_MACS, fma), pool });
      return { ready: true, fma, note: notes.length > 0 ? notes.join("; ") : undefined };
    } catch (err) {
      notes.push(`${fma ? "relaxed-SIMD" : "SIMD"} build failed: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return { ready: false, fma: false, note: notes.join("; ") };
}

/** The kernels prepared for `backend`, or undefined (then callers use their composite path). */
export function simdKernelsOf(backend: KernelBackend): SimdKernels | undefined {
  return disabled.has(backend) ? undefined : prepared.get(backend)?.kernels;
}

/** Runs `fn` with the composite kernels in charge (tests compare both paths). */
export async function withoutSimdKernels<T>(backend: KernelBackend, fn: () => Promise<T>): Promise<T> {
  disabled.add(backend);
  try {
    return await fn();
  } finally {
    disabled.delete(backend);
  }
}

/** The wasm backend's WebAssembly.Memory, or undefined for other backends. */
export function wasmMemoryOf(backend: KernelBackend): WebAssembly.Memory | undefined {
  const wasm = (backend as unknown as Partial<WasmBackendMemory>).wasm;
  const memory = wasm?.wasmMemory ?? wasm?.asm?.memory;
  return memory instanceof WebAssembly.Memory ? memory : undefined;
}

/** Byte offset of a tensor's data in the wasm backend's memory. */
export function memoryOffsetOf(backend: KernelBackend, t: tf.TensorInfo): number {
  const entry = (backend as unknown as WasmBackendMemory).dataIdMap.get(t.dataId);
  if (entry === undefined) throw new Error("simd kernels: the tensor is not on this backend");
  return entry.memoryOffset;
}

/** The batch × output-row loops of a kernel around `body`. */
function rowLoops(body: string): string {
  const rows = forLoop("oy", "$oy", "(i32.const 0)", "(local.get $OH)", "(i32.const 1)", body);
  return forLoop("b", "$b", "(local.get $b0)", "(local.get $b1)", "(i32.const 1)", rows);
}

/** The batch × output-row × output-column loops of a kernel around `body`. */
function pixelLoops(body: string): string {
  return rowLoops(forLoop("ox", "$ox", "(i32.const 0)", "(local.get $OW)", "(i32.const 1)", body));
}
