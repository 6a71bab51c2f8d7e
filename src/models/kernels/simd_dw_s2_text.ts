// WebAssembly text of the two depthwise kernels of a compact model's stride-2 layers (5x5 filter,
// stride 2, TensorFlow 'same' on an even size: one row and column of padding before, two after).
// The runtime's depthwise convolution took about 0.9 ms for the first of them (112 x 112 x 47 in,
// 3.7 M multiply-adds) and the generic gather kernel about 1.2 ms for its input gradient; both
// spend most of their instructions on addresses, not on arithmetic. Here:
//
// - dwS2Forward: one output pixel at a time, a channel quad at a time, the 25 taps summed in a
//   register; the filter comes packed so every tap's weights sit at a constant offset.
// - dwS2InputGrad: the four input pixels (2i + py, 2j + px) whose gradient reads the same 3 x 3
//   dy pixels (i - 1 .. i + 1, j - 1 .. j + 1): between them they use each of the 25 taps exactly
//   once (for n = 2i + p, dx[n] = sum over o of dy[o] w[n + 1 - 2o]: p = 0 takes w[3], w[1] at
//   o = i - 1, i; p = 1 takes w[4], w[2], w[0] at o = i - 1, i, i + 1), so each quad is 9 loads of
//   dy and 25 multiply-adds, optionally masked by the ReLU derivative of the layer below.
//
// Borders need no branches: a row or column that falls outside is read at a clamped (valid)
// address and multiplied by weights that are zero there. The filter is packed in 9 variants
// (top, middle, bottom row of the output by left, middle, right column), each with the taps that
// would read outside set to zero; see packStride2Filter.
import { forLoop, madd } from "./wat.js";

const get = (v: string): string => `(local.get $${v})`;
const add = (a: string, b: string): string => `(i32.add ${a} ${b})`;
const mul = (a: string, b: string): string => `(i32.mul ${a} ${b})`;
const sub = (a: string, b: string): string => `(i32.sub ${a} ${b})`;
const c = (n: number): string => `(i32.const ${n})`;

/** Bytes of one packed channel quad: 25 taps of 4 floats. */
export const S2_QUAD_BYTES = 25 * 16;
export const S2_VARIANTS = 9;

/** The kind of kernel a packed filter is for: the taps that read outside differ. */
export type Stride2Kind = "forward" | "inputGradient";

/**
 * `v` clamped to [0, hi] (i32; `v` may be negative), as a WAT expression over the local `v`.
 */
function clamp(v: string, hi: string): string {
  return (
    `(select (i32.const 0) (select ${get(v)} ${hi} (i32.lt_s ${get(v)} ${hi})) (i32.lt_s ${get(v)} (i32.const ` + `0)))`
  );
}

/** Border class of position `p` in [0, n): 0 first, 2 last, 1 between. */
function borderClass(p: string, n: string): string {
  return `(select (i32.const 0) (select (i32.const 2) (i32.const 1) (i32.eq ${p} ${sub(n, c(1))})) (i32.eqz ${p}))`;
}

/** The channel-quad loop: full quads at k = 0, 16, ..., then the last quad at ktail if C is not a multiple of 4. */
function quads(label: string, body: (k: string) => string): string {
  return `(local.set $fq ${get("fv")})
      ${forLoop(
        label,
        "$k",
        c(0),
        get("kfull"),
        c(16),
        `${body(get("k"))}
        (local.set $fq ${add(get("fq"), c(S2_QUAD_BYTES))})`,
      )}
      (if (i32.lt_u ${get("kfull")} ${get("cb")}) (then ${body(get("ktail"))}))`;
}

const COMMON_LOCALS =
  "(local $row i32) (local $b i32) (local $k i32) (local $cb i32) (local $kfull i32) (local $ktail i32) (local $vb " +
  "i32) (local $fv i32) (local $fq i32) (local $t i32) (local $cls i32)";

const COMMON_SETUP = `(local.set $cb (i32.shl ${get("C")} (i32.const 2)))
    (local.set $kfull (i32.shl (i32.shr_u ${get("C")} (i32.const 2)) (i32.const 4)))
    (local.set $ktail (i32.shl ${sub(get("C"), c(4))} (i32.const 2)))
    ;; bytes of one packed variant: all quads
    (local.set $vb ${mul(`(i32.shr_u ${add(get("C"), c(3))} (i32.const 2))`, c(S2_QUAD_BYTES))})`;

/**
 * dwS2Forward(y, x, w, tab, B, H, W, C, r0, r1): y [B, H/2, W/2, C] = the depthwise convolution of
 * x [B, H, W, C] with the packed filter w (kind "forward"), for output rows [r0, r1) of the B * H/2;
 * tab: 5 i32 of this thread's own (an output row's 5 input-row pointers).
 */
export function dwS2ForwardText(fma: boolean): string {
  const rows = [0, 1, 2, 3, 4];
  // A loop over the 5 filter rows (row pointers in the thread's table at $tab), not unrolled: V8
  // would hoist every load of the unrolled rows ahead of the multiply-adds and spill them.
  const overRows = (label: string, k: string, body: string): string => `(local.set $fr ${get("fq")})
        ${forLoop(
          label,
          "$ri",
          c(0),
          c(20),
          c(4),
          `(local.set $p ${add(`(i32.load ${add(get("tab"), get("ri"))})`, k)})
          ${body}
          (local.set $fr ${add(get("fr"), c(80))})`,
        )}`;
  const single = (k: string): string => {
    const L = [`(local.set $acc (v128.const i32x4 0 0 0 0))`];
    const R: string[] = [];
    for (const j of rows)
      R.push(
        `(local.set $acc ` +
          `${madd(
            fma,
            `(v128.load align=4 ${add(get("p"), get(`c${j}`))})`,
            `(v128.load offset=${j * 16} align=4 ` + `${get("fr")})`,
            get("acc"),
          )})`,
      );
    L.push(overRows(`fr1${k.length}`, k, R.join("\n          ")));
    L.push(`(v128.store align=4 ${add(get("out"), k)} ${get("acc")})`);
    return L.join("\n        ");
  };
  // Two neighbouring pixels: pixel B reads pixel A's columns shifted by 2, so a row is 7 loads and each weight serves
  // both.
  const pair = (k: string): string => {
    const L = [`(local.set $acc (v128.const i32x4 0 0 0 0))`, `(local.set $acc2 (v128.const i32x4 0 0 0 0))`];
    const R: string[] = [];
    for (let j = 0; j < 7; j++) R.push(`(local.set $x${j} (v128.load align=4 ${add(get("p"), get(`c${j}`))}))`);
    for (const j of rows) {
      R.push(`(local.set $wt (v128.load offset=${j * 16} align=4 ${get("fr")}))`);
      R.push(`(local.set $acc ${madd(fma, get(`x${j}`), get("wt"), get("acc"))})`);
      R.push(`(local.set $acc2 ${madd(fma, get(`x${j + 2}`), get("wt"), get("acc2"))})`);
    }
    L.push(overRows(`fr2${k.length}`, k, R.join("\n          ")));
    L.push(`(v128.store align=4 ${add(get("out"), k)} ${get("acc")})`);
    L.push(`(v128.store align=4 ${add(add(get("out"), get("cb")), k)} ${get("acc2")})`);
    return L.join("\n        ");
  };
  const rowPtrs = rows
    .map(
      (i) => `(local.set $t ${add(sub(mul(get("oy"), c(2)), c(1)), c(i))})
      (i32.store offset=${4 * i} ${get("tab")}
      ${add(get("x"), mul(mul(add(mul(get("b"), get("H")), clamp("t", sub(get("H"), c(1)))), get("W")), get("cb")))})`,
    )
    .join("\n      ");
  const clampedCols = rows
    .map(
      (j) => `(local.set $t ${add(sub(mul(get("ox"), c(2)), c(1)), c(j))})
        (local.set $c${j} ${mul(clamp("t", sub(get("W"), c(1))), get("cb"))})`,
    )
    .join("\n        ");
  const pairCols = [0, 1, 2, 3, 4, 5, 6]
    .map((j) => `(local.set $c${j} ${mul(add(sub(mul(get("ox"), c(2)), c(1)), c(j)), get("cb"))})`)
    .join("\n        ");
  const singleStep = `${clampedCols}
        (local.set $fv ${add(get("w"), mul(add(get("cls"), borderClass(get("ox"), get("OW"))), get("vb")))})
        ${quads("fq1", single)}
        (local.set $out ${add(get("out"), get("cb"))})
        (local.set $ox ${add(get("ox"), c(1))})`;
  return `
  (func (export "dwS2Forward") (param $y i32) (param $x i32) (param $w i32) (param $tab i32) (param $B i32) (param $H
  i32) (param $W i32) (param $C i32) (param $r0 i32) (param $r1 i32)
    ${COMMON_LOCALS} (local $OH i32) (local $OW i32) (local $oy i32) (local $ox i32) (local $out i32) (local $p i32)
    (local $acc v128) (local $acc2 v128) (local $wt v128) (local $ri i32) (local $fr i32)
    ${[0, 1, 2, 3, 4, 5, 6].map((j) => `(local $c${j} i32) (local $x${j} v128)`).join(" ")}
    ${COMMON_SETUP}
    (local.set $OH (i32.shr_u ${get("H")} (i32.const 1)))
    (local.set $OW (i32.shr_u ${get("W")} (i32.const 1)))
    ${forLoop(
      "frow",
      "$row",
      get("r0"),
      get("r1"),
      c(1),
      `(local.set $b (i32.div_u ${get("row")} ${get("OH")}))
      (local.set $oy (i32.rem_u ${get("row")} ${get("OH")}))
      (local.set $cls (i32.mul ${borderClass(get("oy"), get("OH"))} (i32.const 3)))
      ${rowPtrs}
      (local.set $out ${add(get("y"), mul(mul(get("row"), get("OW")), get("cb")))})
      ;; the first pixel (left border), pairs of inner pixels, then the rest one by one (the last is the right border)
      (local.set $ox (i32.const 0))
      ${singleStep}
      (block $pairs_done (loop $pairs
        (br_if $pairs_done (i32.ge_u ${add(get("ox"), c(1))} ${sub(get("OW"), c(1))}))
        ${pairCols}
        (local.set $fv ${add(get("w"), mul(add(get("cls"), c(1)), get("vb")))})
        ${quads("fq2", pair)}
        (local.set $out ${add(get("out"), mul(get("cb"), c(2)))})
        (local.set $ox ${add(get("ox"), c(2))})
        (br $pairs)))
      (block $rest_done (loop $rest
        (br_if $rest_done (i32.ge_u ${get("ox")} ${get("OW")}))
        ${singleStep.replace(/fq1/g, "fq3")}
        (br $rest)))`,
    )})`;
}

/** Filter row (or column) tap used by output parity p at dy offset a (o = i - 1 + a), or undefined. */
export const S2_GRADIENT_TAP: readonly (readonly (number | undefined)[])[] = [
  [3, 1, undefined],
  [4, 2, 0],
];

/**
 * dwS2InputGrad(dx, dy, w, mask, B, OH, OW, C, r0, r1): dx [B, 2 OH, 2 OW, C], the input gradient of
 * the stride-2 depthwise convolution for dy [B, OH, OW, C] and the packed filter w (kind
 * "inputGradient"), times (mask > 0) when mask (an activation shaped as dx) is not 0; for dy rows
 * [r0, r1) of the B * OH (each writes two rows of dx).
 */
export function dwS2InputGradText(fma: boolean): string {
  const three = [0, 1, 2];
  const out = (py: number, px: number): string => `$o${2 * py + px}`;
  const body = (k: string): string => {
    const L: string[] = [];
    for (let q = 0; q < 4; q++) L.push(`(local.set $a${q} (v128.const i32x4 0 0 0 0))`);
    for (const da of three) {
      L.push(`(local.set $p ${add(get(`dr${da}`), k)})`);
      for (const db of three) {
        L.push(`(local.set $d (v128.load align=4 ${add(get("p"), get(`c${db}`))}))`);
        for (const py of [0, 1]) {
          const u = S2_GRADIENT_TAP[py]![da];
          if (u === undefined) continue;
          for (const px of [0, 1]) {
            const v = S2_GRADIENT_TAP[px]![db];
            if (v === undefined) continue;
            const a = `$a${2 * py + px}`;
            L.push(
              `(local.set ${a} ` +
                `${madd(
                  fma,
                  get("d"),
                  `(v128.load offset=${(u * 5 + v) * 16} align=4 ` + `${get("fq")})`,
                  `(local.get ${a})`,
                )})`,
            );
          }
        }
      }
    }
    for (let q = 0; q < 4; q++) {
      const o = `(local.get ${out(q >> 1, q & 1)})`;
      L.push(`(if ${get("mask")} (then (local.set $a${q} (v128.and (local.get $a${q})
          (f32x4.gt (v128.load align=4 ${add(add(sub(o, get("dx")), get("mask")), k)}) (v128.const i32x4 0 0 0 0))))))
        (v128.store align=4 ${add(o, k)} (local.get $a${q}))`);
    }
    return L.join("\n        ");
  };
  const clampedRow = add(mul(get("b"), get("OH")), clamp("t", sub(get("OH"), c(1))));
  const rowPtrs = three
    .map(
      (a) => `(local.set $t ${add(sub(get("i"), c(1)), c(a))})
      (local.set $dr${a} ${add(get("dy"), mul(mul(clampedRow, get("OW")), get("cb")))})`,
    )
    .join("\n      ");
  const colOffs = three
    .map(
      (a) => `(local.set $t ${add(sub(get("j"), c(1)), c(a))})
        (local.set $c${a} ${mul(clamp("t", sub(get("OW"), c(1))), get("cb"))})`,
    )
    .join("\n        ");
  return `
  (func (export "dwS2InputGrad") (param $dx i32) (param $dy i32) (param $w i32) (param $mask i32) (param $B i32) (param
  $OH i32) (param $OW i32) (param $C i32) (param $r0 i32) (param $r1 i32)
    ${COMMON_LOCALS} (local $i i32) (local $j i32) (local $p i32) (local $xrow i32) (local $d v128)
    ${three.map((a) => `(local $dr${a} i32) (local $c${a} i32)`).join(" ")} (local $o0 i32) (local $o1 i32) (local $o2
    i32) (local $o3 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    ${COMMON_SETUP}
    (local.set $xrow ${mul(mul(get("OW"), c(2)), get("cb"))})
    ${forLoop(
      "grow",
      "$row",
      get("r0"),
      get("r1"),
      c(1),
      `(local.set $b (i32.div_u ${get("row")} ${get("OH")}))
      (local.set $i (i32.rem_u ${get("row")} ${get("OH")}))
      (local.set $cls (i32.mul ${borderClass(get("i"), get("OH"))} (i32.const 3)))
      ${rowPtrs}
      ;; dx rows 2 row and 2 row + 1 (row = b OH + i, so 2 row = b H + 2 i)
      (local.set $o0 ${add(get("dx"), mul(mul(get("row"), c(2)), get("xrow")))})
      ${forLoop(
        "gcol",
        "$j",
        c(0),
        get("OW"),
        c(1),
        `${colOffs}
        (local.set $o1 ${add(get("o0"), get("cb"))})
        (local.set $o2 ${add(get("o0"), get("xrow"))})
        (local.set $o3 ${add(get("o2"), get("cb"))})
        (local.set $fv ${add(get("w"), mul(add(get("cls"), borderClass(get("j"), get("OW"))), get("vb")))})
        ${quads("gq", body)}
        (local.set $o0 ${add(get("o0"), mul(get("cb"), c(2)))})`,
      )}`,
    )})`;
}

/**
 * Whether tap (u, v) of border variant (ry, rx) reads inside: for the forward kernel, input row
 * 2 oy - 1 + u (outside at u = 0 on the first output row, u >= 3 on the last); for the input
 * gradient, dy row i - 1 + a with a the dy offset tap u is used at (S2_GRADIENT_TAP).
 */
function tapInside(kind: Stride2Kind, cls: number, u: number): boolean {
  if (kind === "forward") return !((cls === 0 && u === 0) || (cls === 2 && u >= 3));
  const a = u >= 3 ? 0 : u >= 1 ? 1 : 2;
  return !((cls === 0 && a === 0) || (cls === 2 && a === 2));
}

/** Floats of a packed filter for C channels. */
export function packedStride2Floats(channels: number): number {
  return S2_VARIANTS * Math.ceil(channels / 4) * 100;
}

/**
 * Packs a [5, 5, C, 1] depthwise filter (C >= 4) into `out` (packedStride2Floats(C) floats):
 * [variant 3 ry + rx][quad][tap 5 u + v][lane], quad j holding channels 4j .. 4j + 3, the last one
 * channels C - 4 .. C - 1; taps that read outside in that variant are zero.
 */
export function packStride2Filter(filter: Float32Array, channels: number, kind: Stride2Kind, out: Float32Array): void {
  if (channels < 4) throw new Error(`packStride2Filter: needs at least 4 channels, got ${channels}`);
  const q = Math.ceil(channels / 4);
  const full = channels >> 2;
  const variant = q * 100;
  for (let j = 0; j < q; j++) {
    const first = j < full ? 4 * j : channels - 4;
    for (let t = 0; t < 25; t++)
      for (let l = 0; l < 4; l++) out[j * 100 + t * 4 + l] = filter[t * channels + first + l]!;
  }
  for (let cls = 1; cls < S2_VARIANTS; cls++) out.copyWithin(cls * variant, 0, variant);
  for (let cls = 0; cls < S2_VARIANTS; cls++) {
    const ry = Math.floor(cls / 3);
    const rx = cls % 3;
    for (let u = 0; u < 5; u++) {
      for (let v = 0; v < 5; v++) {
        if (tapInside(kind, ry, u) && tapInside(kind, rx, v)) continue;
        for (let j = 0; j < q; j++)
          out.fill(0, cls * variant + j * 100 + (u * 5 + v) * 4, cls * variant + j * 100 + (u * 5 + v) * 4 + 4);
      }
    }
  }
}
