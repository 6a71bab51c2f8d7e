// Helpers for the WebAssembly text the SIMD module is generated from.

/** `(block (loop ...))` counting `v` from `from` while below `to` (unsigned). */
export function forLoop(label: string, v: string, from: string, to: string, step: string, body: string): string {
  return `(local.set ${v} ${from})
    (block $${label}_done (loop $${label}
      (br_if $${label}_done (i32.ge_u (local.get ${v}) ${to}))
      ${body}
      (local.set ${v} (i32.add (local.get ${v}) ${step}))
      (br $${label})))`;
}

/**
 * a * b + c on float quads: one relaxed fused multiply-add where the runtime has relaxed SIMD
 * (rounded once or twice, as the hardware does it), else a multiply and an add.
 */
export function madd(fma: boolean, a: string, b: string, c: string): string {
  return fma ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add (f32x4.mul ${a} ${b}) ${c})`;
}

/** The sum of a float quad's four lanes, through `tmp` (a v128 local). */
export function laneSum(v: string, tmp: string): string {
  return `(local.set ${tmp} (f32x4.add ${v} (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${v} ${v})))
    (f32x4.extract_lane 0 (f32x4.add (local.get ${tmp}) (i8x16.shuffle 4 5 6 7 0 1 2 3 12 13 14 15 8 9 10 11 (local.get
    ${tmp}) (local.get ${tmp}))))`;
}
