// WebAssembly text of the input gradient of a first layer's convolution (3 image channels in, K
// feature channels out, stride 1, 'same' zero padding), directly: XNNPACK runs it as a GEMM with 3
// output channels (or 6 on column pairs), a shape its microkernels fit badly (about 1.6 ms of a
// synthesis step's 5 at 112 x 112 x 47); here registers hold 3 channels of a block of pixels, each
// summing K lanes in channel quads (0.8 ms). (A forward kernel of the same kind measured slower
// than XNNPACK's, 1.7 against 1.3 ms; the forward kernel, simd_rgb_forward_text.ts, keeps quads of
// output channels instead.)
//
// The filter comes packed as [KH, KW, 3, 4 * ceil(K / 4)] (packRgbFilter): channel quads, the last
// one covering channels K - 4 .. K - 1 so that no load reaches past a pixel's K channels.
import { forLoop, laneSum, madd } from "./wat.js";

const SHAPE =
  "(param $B i32) (param $H i32) (param $W i32) (param $K i32) (param $KH i32) (param $KW i32) (param $pt i32) " +
  "(param $pl i32)";
const get = (v: string): string => `(local.get $${v})`;
const add = (a: string, b: string): string => `(i32.add ${a} ${b})`;
const mul = (a: string, b: string): string => `(i32.mul ${a} ${b})`;
const sub = (a: string, b: string): string => `(i32.sub ${a} ${b})`;

/** Row `row` of the B * H rows: its image b and row y. */
const ROW_START = `(local.set $b (i32.div_u ${get("row")} ${get("H")}))
   (local.set $y (i32.rem_u ${get("row")} ${get("H")}))`;

/** Walks the columns of a row: blocks of `p` pixels where every tap is inside, single checked pixels elsewhere. */
function columns(p: number, inside: string, blockP: string, block1: string): string {
  return `(local.set $xc (i32.const 0))
   (block $xc_done (loop $xc_loop
     (br_if $xc_done (i32.ge_u ${get("xc")} ${get("W")}))
     (if ${inside}
       (then ${blockP} (local.set $xc ${add(get("xc"), `(i32.const ${p})`)}))
       (else ${block1} (local.set $xc ${add(get("xc"), "(i32.const 1)")})))
     (br $xc_loop)))`;
}

/**
 * Input gradient: dx[b, y, x, c] = sum over u, v, k of g[b, y - u + pt, x - v + pl, k] w[u, v, c, k].
 * A block is P pixels by the 3 channels, each accumulating K lanes in a quad, summed across at the end.
 */
function gradientBlock(P: number, checked: boolean, fma: boolean): string {
  const a = (p: number, c: number): string => `$a${3 * p + c}`;
  const L: string[] = [];
  for (let p = 0; p < P; p++) for (let c = 0; c < 3; c++) L.push(`(local.set ${a(p, c)} (v128.const i32x4 0 0 0 0))`);
  const quad = (gOff: string, wOff: string): string => {
    const q: string[] = [0, 1, 2].map(
      (c) => `(local.set $w${c} (v128.load align=4 ${add(get(c === 0 ? "wp" : `wp${c}`), wOff)}))`,
    );
    for (let p = 0; p < P; p++) {
      q.push(`(local.set $t (v128.load align=4 ${add(get(`g${p}`), gOff)}))`);
      for (let c = 0; c < 3; c++)
        q.push(`(local.set ${a(p, c)} ${madd(fma, "(local.get $t)", `(local.get $w${c})`, `(local.get ${a(p, c)})`)})`);
    }
    return q.join("\n          ");
  };
  const pointers = [`(local.set $g0 ${add(get("grow"), mul(get("gx"), get("gb")))})`];
  for (let p = 1; p < P; p++) pointers.push(`(local.set $g${p} ${add(get(`g${p - 1}`), get("gb"))})`);
  const label = `g${P}${checked ? "c" : ""}`;
  const tap = `${pointers.join("\n        ")}
        (local.set $wp ${add(get("w"), mul(mul(add(mul(get("u"), get("KW")), get("v")), "(i32.const 3)"), get("kb")))})
        (local.set $wp1 ${add(get("wp"), get("kb"))})
        (local.set $wp2 ${add(get("wp1"), get("kb"))})
        ${forLoop(`${label}k`, "$k", "(i32.const 0)", get("kfull"), "(i32.const 16)", quad(get("k"), get("k")))}
        ;; the last quad: channels K - 4 .. K - 1 of g, weights zero where the full quads had them
        (if (i32.lt_u ${get("kfull")} ${get("kb")}) (then ${quad(get("ktail"), get("kfull"))}))`;
  L.push(
    forLoop(
      `${label}u`,
      "$u",
      "(i32.const 0)",
      get("KH"),
      "(i32.const 1)",
      `(local.set $iy ${add(sub(get("y"), get("u")), get("pt"))})
    (if (i32.lt_u ${get("iy")} ${get("H")}) (then
      (local.set $grow ${add(get("g"), mul(mul(add(mul(get("b"), get("H")), get("iy")), get("W")), get("gb")))})
      ${forLoop(
        `${label}v`,
        "$v",
        "(i32.const 0)",
        get("KW"),
        "(i32.const 1)",
        `(local.set $gx ${add(sub(get("xc"), get("v")), get("pl"))})
        ${checked ? `(if (i32.lt_u ${get("gx")} ${get("W")}) (then ${tap}))` : tap}`,
      )}))`,
    ),
  );
  L.push(`(local.set $op ${add(get("dx"), mul(add(mul(get("row"), get("W")), get("xc")), "(i32.const 12)"))})`);
  for (let p = 0; p < P; p++)
    for (let c = 0; c < 3; c++)
      L.push(`(f32.store offset=${4 * (3 * p + c)} align=4 ${get("op")} ${laneSum(`(local.get ${a(p, c)})`, "$t")})`);
  return L.join("\n    ");
}

/** Pixels per block (measured best): with a fused multiply-add no product needs a register of its own. */
export function rgbBlockPixels(fma: boolean): number {
  return fma ? 3 : 2;
}

/** rgbInputGrad (dx, g, w, shape, rows [r0, r1) of the B * H image rows). */
export function rgbInputGradText(fma: boolean): string {
  const P = rgbBlockPixels(fma);
  const acc = Array.from({ length: P * 3 }, (_, i) => `(local $a${i} v128)`).join(" ");
  const ptrs = Array.from({ length: P }, (_, i) => `(local $g${i} i32)`).join(" ");
  // Bytes: kb of a packed filter row (all quads), kfull of its full quads, ktail the last quad's channel offset in g.
  return `
  (func (export "rgbInputGrad") (param $dx i32) (param $g i32) (param $w i32) ${SHAPE} (param $r0 i32) (param $r1 i32)
    (local $row i32) (local $b i32) (local $y i32) (local $xc i32) (local $u i32) (local $v i32) (local $iy i32)
    (local $kb i32) (local $ktail i32) (local $kfull i32) (local $wp i32) (local $wp1 i32) (local $wp2 i32) (local $op
    i32)
    (local $k i32) (local $gb i32) (local $gx i32) (local $grow i32) ${ptrs} ${acc} (local $w0 v128) (local $w1 v128)
    (local $w2 v128) (local $t v128)
    (local.set $kb (i32.shl (i32.shr_u ${add(get("K"), "(i32.const 3)")} (i32.const 2)) (i32.const 4)))
    (local.set $kfull (i32.shl (i32.shr_u ${get("K")} (i32.const 2)) (i32.const 4)))
    (local.set $ktail (i32.shl ${sub(get("K"), "(i32.const 4)")} (i32.const 2)))
    (local.set $gb (i32.shl ${get("K")} (i32.const 2)))
    ${forLoop(
      "grow_",
      "$row",
      get("r0"),
      get("r1"),
      "(i32.const 1)",
      `${ROW_START}
   ${columns(
     P,
     `(i32.and (i32.ge_s ${add(get("xc"), get("pl"))} ${sub(get("KW"), "(i32.const 1)")}) (i32.le_s ` +
       `${add(add(get("xc"), `(i32.const ${P})`), get("pl"))} ${get("W")}))`,
     gradientBlock(P, false, fma),
     gradientBlock(1, true, fma),
   )}`,
    )})`;
}
