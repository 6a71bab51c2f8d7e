import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseNpy, type NdArray } from "./npy.js";
import { npyObjectArrayBytes } from "./npy-write.js";
import { pythonWithNumpy } from "./test-python.js";

const arrays: NdArray[] = [
  { shape: [5, 5, 3, 4], dtype: "f4", data: Float32Array.from({ length: 300 }, (_, i) => Math.sin(i) * 3) },
  { shape: [4], dtype: "f4", data: Float32Array.of(1.5, -2, 0, 1e-8) },
  { shape: [300, 1], dtype: "f4", data: Float32Array.from({ length: 300 }, (_, i) => i / 7) },
  { shape: [1], dtype: "f4", data: Float32Array.of(-0.25) },
  { shape: [70000], dtype: "f4", data: Float32Array.from({ length: 70000 }, (_, i) => (i % 13) - 6) },
];

describe("npy writer", () => {
  it("writes an object array that the project's reader reads back exactly, its header padded to 64 bytes", () => {
    const bytes = npyObjectArrayBytes(arrays);
    expect((10 + new DataView(bytes.buffer).getUint16(8, true)) % 64).toBe(0);
    const back = parseNpy(bytes);
    expect(Array.isArray(back)).toBe(true);
    if (!Array.isArray(back)) return;
    expect(back.map((a) => a.shape)).toEqual(arrays.map((a) => a.shape));
    back.forEach((a, i) => expect(Array.from(a.data)).toEqual(Array.from(arrays[i]!.data)));
  });

  it("refuses an array whose data does not fill its shape", () => {
    expect(() => npyObjectArrayBytes([{ shape: [2, 2], dtype: "f4", data: new Float32Array(3) }])).toThrow(
      /item 0 has shape \(2,2\) = 4 values but 3/,
    );
  });

  it("is read by NumPy's own np.load(allow_pickle=True) with the same shapes and values", (ctx) => {
    const py = pythonWithNumpy();
    if (py === undefined) {
      console.log("npy-write.test: NumPy cross-check skipped: no python3 with numpy (apt-get install python3-numpy)");
      ctx.skip();
      return;
    }
    const dir = mkdtempSync(path.join(tmpdir(), "npy-write-"));
    try {
      const file = path.join(dir, "model.npy");
      writeFileSync(file, npyObjectArrayBytes(arrays));
      const script = [
        "import sys,json,numpy as np",
        "a=np.load(sys.argv[1],allow_pickle=True)",
        "f=lambda x: float(np.asarray(x,dtype=np.float64).sum())",
        "items=[[list(x.shape),str(x.dtype),f(x),float(x.ravel()[-1])] for x in a]",
        "print(json.dumps({'dtype':str(a.dtype),'shape':list(a.shape),'items':items}))",
      ].join("\n");
      const ref = JSON.parse(execFileSync(py, ["-c", script, file], { encoding: "utf8" })) as {
        dtype: string;
        shape: number[];
        items: [number[], string, number, number][];
      };
      expect(ref.dtype).toBe("object");
      expect(ref.shape).toEqual([arrays.length]);
      ref.items.forEach(([shape, dtype, sum, last], i) => {
        const a = arrays[i]!;
        expect(shape).toEqual(a.shape);
        expect(dtype).toBe("float32");
        let s = 0;
        for (const v of a.data) s += v;
        expect(Math.abs(sum - s)).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(s)));
        expect(last).toBe(a.data[a.data.length - 1]);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
