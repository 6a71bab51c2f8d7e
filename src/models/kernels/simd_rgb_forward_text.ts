// WebAssembly text of a first layer's forward convolution with its bias and ReLU (3 image channels
// in, K feature channels out, 5x5, stride 1, 'same'): y = max(0, b + sum over u, v, c of
// x[y + u - 2, x + v - 2, c] w[u, v, c, :]). The largest single kernel of a synthesis step
// (88 MFLOP at 112 x 112 x 47) and of inference.
//
// A block is P neighbouring pixels by Q channel quads of accumulators. Image pixels are 12 bytes
// and the filter is packed per group of Q quads as [tap 25][channel 3][quad Q][4], so every load of
// the fully unrolled 75-tap body has a constant offset from one of two pointers: per tap, Q weight
// loads and P broadcast pixel values feed P * Q multiply-adds. Rows outside the image are skipped
// (the same for the whole block); pixels within two columns of the edges take a single-pixel body
// that skips the columns outside.
//
// The packed filter (packRgbForward in rgb_conv.ts) holds, after the G groups of weights, the bias
// as [G][Q][4] and each quad's byte offset within an output pixel as [G][Q] i32: quads are the
// channel quads 0, 4, ..., the last one at K - 4 when K is not a multiple of 4, repeated to fill the
// last group (a repeated quad stores the same values twice).
import { forLoop, madd } from "./wat.js";

const get = (v: string): string => `(local.get $${v})`;
const add = (a: string, b: string): string => `(i32.add ${a} ${b})`;
const mul = (a: string, b: string): string => `(i32.mul ${a} ${b})`;
const sub = (a: string, b: string): string => `(i32.sub ${a} ${b})`;
const c = (n: number): string => `(i32.const ${n})`;

/** Pixels and channel quads per block (measured best on a 2-core x86; 9 accumulators, 3 weights, 1 broadcast). */
export const RGB_FORWARD_PIXELS = 3;
export const RGB_FORWARD_QUADS = 3;

/** Bytes of one packed group of weights. */
export function rgbForwardGroupBytes(quads = RGB_FORWARD_QUADS): number {
  return 75 * quads * 16;
}

/**
 * The body of one block: P pixels from column `xc`, the group's Q quads. `checked`: one pixel whose
 * taps outside the image's columns are skipped.
 */
function block(P: number, Q: number, checked: boolean, fma: boolean): string {
  const a = (p: number, q: number): string => `$a${p * Q + q}`;
  const L: string[] = [];
  for (let q = 0; q < Q; q++) L.push(`(local.set $w${q} (v128.load offset=${16 * q} align=4 ${get("bias")}))`);
  for (let p = 0; p < P; p++) for (let q = 0; q < Q; q++) L.push(`(local.set ${a(p, q)} ${get(`w${q}`)})`);
  // One tap: Q weight quads, P broadcast pixel values. A loop, not unrolled: V8 would hoist every
  // load of an unrolled row ahead of its multiply-adds and spill them all to the stack.
  const tap: string[] = [];
  for (let q = 0; q < Q; q++) tap.push(`(local.set $w${q} (v128.load offset=${16 * q} align=4 ${get("wp")}))`);
  for (let p = 0; p < P; p++) {
    tap.push(`(local.set $s (v128.load32_splat offset=${p * 12} align=4 ${get("xp")}))`);
    for (let q = 0; q < Q; q++)
      tap.push(`(local.set ${a(p, q)} ${madd(fma, get("s"), get(`w${q}`), `(local.get ${a(p, q)})`)})`);
  }
  const step = `(local.set $xp ${add(get("xp"), c(4))})
          (local.set $wp ${add(get("wp"), c(Q * 16))})`;
  const label = `${checked ? "c" : "b"}${P}`;
  // Taps of a row in (column v, channel) order: 15 in a row, 4 bytes apart in the image, Q quads apart in the filter.
  const rowTaps = checked
    ? forLoop(
        `${label}v`,
        "$v",
        c(0),
        c(5),
        c(1),
        `(if (i32.lt_u ${sub(add(get("xc"), get("v")), c(2))} ${get("W")})
          (then ${tap.join("\n          ")} ${step} ${tap.join("\n          ")} ${step} ${tap.join("\n          ")}
          ${step})
          (else (local.set $xp ${add(get("xp"), c(12))}) (local.set $wp ${add(get("wp"), c(3 * Q * 16))})))`,
      )
    : forLoop(
        `${label}t`,
        "$v",
        c(0),
        c(15),
        c(1),
        `${tap.join("\n          ")}
          ${step}`,
      );
  L.push(
    forLoop(
      `${label}u`,
      "$u",
      c(0),
      c(5),
      c(1),
      `(local.set $t ${sub(add(get("yy"), get("u")), c(2))})
      (if (i32.lt_u ${get("t")} ${get("H")}) (then
        ;; the block's first pixel, two columns left, on row t (it may lie outside: only in-bounds offsets are read)
        (local.set $xp ${sub(add(get("ximg"), mul(add(mul(get("t"), get("W")), get("xc")), c(12))), c(24))})
        (local.set $wp ${add(get("wg"), mul(get("u"), c(15 * Q * 16)))})
        ${rowTaps}))`,
    ),
  );
  for (let p = 0; p < P; p++) {
    for (let q = 0; q < Q; q++) {
      L.push(
        `(v128.store align=4 ${add(get("op"), `(i32.load offset=${4 * q} ${get("offs")})`)} (f32x4.max ` +
          `${`(local.get ${a(p, q)})`} (v128.const i32x4 0 0 0 0)))`,
      );
    }
    if (p + 1 < P) L.push(`(local.set $op ${add(get("op"), get("kb"))})`);
  }
  return L.join("\n    ");
}

/**
 * rgbForward(y, x, w, B, H, W, K, G, r0, r1): y [B, H, W, K] for x [B, H, W, 3] and w packed in G
 * groups, for rows [r0, r1) of the B * H image rows.
 */
export function rgbForwardText(fma: boolean, P = RGB_FORWARD_PIXELS, Q = RGB_FORWARD_QUADS): string {
  const acc = Array.from({ length: P * Q }, (_, i) => `(local $a${i} v128)`).join(" ");
  const ws = Array.from({ length: Q }, (_, i) => `(local $w${i} v128)`).join(" ");
  const gb = rgbForwardGroupBytes(Q);
  const pixelOut = `${add(get("y"), mul(add(mul(get("row"), get("W")), get("xc")), get("kb")))}`;
  return `
  (func (export "rgbForward") (param $y i32) (param $x i32) (param $w i32) (param $B i32) (param $H i32) (param $W i32)
  (param $K i32) (param $G i32) (param $r0 i32) (param $r1 i32)
    (local $row i32) (local $b i32) (local $yy i32) (local $t i32) (local $xc i32) (local $g i32) (local $kb i32)
    (local $ximg i32)
    (local $wg i32) (local $wp i32) (local $u i32) (local $v i32) (local $bias i32) (local $offs i32) (local $xp i32)
    (local $op i32) (local $s v128) ${ws} ${acc}
    (local.set $kb (i32.shl ${get("K")} (i32.const 2)))
    ${forLoop(
      "frow",
      "$row",
      get("r0"),
      get("r1"),
      c(1),
      `(local.set $b (i32.div_u ${get("row")} ${get("H")}))
      (local.set $yy (i32.rem_u ${get("row")} ${get("H")}))
      (local.set $ximg ${add(get("x"), mul(mul(mul(get("b"), get("H")), get("W")), c(12)))})
      ${forLoop(
        "fgrp",
        "$g",
        c(0),
        get("G"),
        c(1),
        `(local.set $wg ${add(get("w"), mul(get("g"), c(gb)))})
        (local.set $bias ${add(add(get("w"), mul(get("G"), c(gb))), mul(get("g"), c(Q * 16)))})
        (local.set $offs
        ${add(add(add(get("w"), mul(get("G"), c(gb))), mul(get("G"), c(Q * 16))), mul(get("g"), c(Q * 4)))})
        (local.set $xc (i32.const 0))
        (block $cols_done (loop $cols
          (br_if $cols_done (i32.ge_u ${get("xc")} ${get("W")}))
          (local.set $op ${pixelOut})
          (if (i32.and (i32.ge_u ${get("xc")} (i32.const 2)) (i32.le_u ${add(get("xc"), c(P + 2))} ${get("W")}))
            (then ${block(P, Q, false, fma)}
              (local.set $xc ${add(get("xc"), c(P))}))
            (else ${block(1, Q, true, fma)}
              (local.set $xc ${add(get("xc"), c(1))})))
          (br $cols)))`,
      )}`,
    )})`;
}
