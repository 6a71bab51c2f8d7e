import { readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { encodeNumericNpy, parseNumericNpy } from "./npy-numeric.js";

const shared = process.env.CORTEXLOOP_SHARED ?? path.resolve(import.meta.dirname, "..", "..", "..", "..", "shared");

describe("parseNumericNpy", () => {
  it("round-trips float64 with NaN", () => {
    const a = parseNumericNpy(encodeNumericNpy([2, 3], [1, 2, Number.NaN, 4, 5, 6]));
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual([1, 2, Number.NaN, 4, 5, 6]);
  });
  it("refuses bad magic, truncated data and object arrays with a clear reason", () => {
    expect(() => parseNumericNpy(new Uint8Array(20), "x.npy")).toThrow(/x\.npy .*magic/);
    const good = encodeNumericNpy([4], [1, 2, 3, 4]);
    expect(() => parseNumericNpy(good.subarray(0, good.length - 3), "t.npy")).toThrow(/needs 32 data bytes/);
    const obj = good.slice();
    const at = new TextDecoder("latin1").decode(good).indexOf("<f8");
    obj.set([0x7c, 0x4f, 0x20], at); // "|O "
    expect(() => parseNumericNpy(obj)).toThrow(/object/);
  });
  it("reads a real responses file when the shared data is present", (ctx) => {
    const file = path.join(shared, "data", "v4", "responses", "responses_190925.npy");
    if (!existsSync(file)) {
      console.log(`skipped: ${file} not found (set CORTEXLOOP_SHARED)`);
      ctx.skip();
    }
    const a = parseNumericNpy(readFileSync(file), file);
    expect(a.shape).toEqual([36, 1200]);
    expect(a.data.every((v) => Number.isFinite(v))).toBe(true);
  });
});
