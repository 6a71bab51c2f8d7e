// Writes object-array .npy files as NumPy does (a pickle: the opcodes numpy's np.save emits for the
// published compact models, without the memo). Numeric arrays: src/models/data/npy-numeric.ts.
import type { NdArray } from "./npy.js";

/** The .npy header for a descr and shape, padded (as NumPy pads) so the data starts at a multiple of 64. */
function npyHeader(descr: string, shape: readonly number[]): Uint8Array {
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 10 + dict.length + 1;
  const total = Math.ceil(unpadded / 64) * 64;
  const text = `${dict}${" ".repeat(total - unpadded)}\n`;
  const out = new Uint8Array(total);
  out.set([0x93, ...new TextEncoder().encode("NUMPY"), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, text.length, true);
  out.set(new TextEncoder().encode(text), 10);
  return out;
}

function descrOf(a: NdArray): string {
  switch (a.dtype) {
    case "f4":
    case "f8":
    case "i4":
      return `<${a.dtype}`;
    case "u1":
      return "|u1";
    default:
      throw new Error(`npy: cannot write dtype ${a.dtype}`);
  }
}

function checkSize(a: NdArray, what: string): void {
  const count = a.shape.reduce((x, y) => x * y, 1);
  if (count !== a.data.length)
    throw new Error(`npy: ${what} has shape (${a.shape.join(",")}) = ${count} values but ${a.data.length} were given`);
}

function dataBytes(a: NdArray): Uint8Array {
  return new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
}

/** Pickle protocol 3, only the opcodes numpy uses for ndarrays (and that ./npy.ts reads back). */
class PickleWriter {
  private readonly parts: Uint8Array[] = [];
  private readonly text = new TextEncoder();

  op(...bytes: number[]): void {
    this.parts.push(Uint8Array.from(bytes));
  }
  global(module: string, name: string): void {
    this.op(0x63);
    this.parts.push(this.text.encode(`${module}\n${name}\n`));
  }
  int(n: number): void {
    if (n >= 0 && n < 256) this.op(0x4b, n);
    else if (n >= 0 && n < 65536) this.op(0x4d, n & 0xff, n >> 8);
    else {
      const b = new Uint8Array(5);
      b[0] = 0x4a;
      new DataView(b.buffer).setInt32(1, n, true);
      this.parts.push(b);
    }
  }
  unicode(s: string): void {
    const bytes = this.text.encode(s);
    const head = new Uint8Array(5);
    head[0] = 0x58;
    new DataView(head.buffer).setUint32(1, bytes.length, true);
    this.parts.push(head, bytes);
  }
  bytes(data: Uint8Array): void {
    if (data.length < 256) this.op(0x43, data.length);
    else {
      const head = new Uint8Array(5);
      head[0] = 0x42;
      new DataView(head.buffer).setUint32(1, data.length, true);
      this.parts.push(head);
    }
    this.parts.push(data.slice());
  }
  tuple(items: (() => void)[]): void {
    if (items.length === 0) return this.op(0x29);
    if (items.length > 3) this.op(0x28);
    for (const item of items) item();
    this.op([0x74, 0x85, 0x86, 0x87][items.length > 3 ? 0 : items.length]!);
  }
  /** numpy.dtype(code, False, True) with its state tuple: what np.save pickles for a dtype. */
  dtype(code: string, order: string, flags: number): void {
    this.global("numpy", "dtype");
    this.tuple([() => this.unicode(code), () => this.op(0x89), () => this.op(0x88)]);
    this.op(0x52);
    this.tuple([
      () => this.int(3),
      () => this.unicode(order),
      () => this.op(0x4e),
      () => this.op(0x4e),
      () => this.op(0x4e),
      () => this.int(-1),
      () => this.int(-1),
      () => this.int(flags),
    ]);
    this.op(0x62);
  }
  /** numpy.core.multiarray._reconstruct(ndarray, (0,), b'b') then BUILD with (1, shape, dtype, False, data). */
  ndarray(shape: readonly number[], dtype: () => void, data: () => void): void {
    this.global("numpy.core.multiarray", "_reconstruct");
    this.tuple([
      () => this.global("numpy", "ndarray"),
      () => this.tuple([() => this.int(0)]),
      () => this.bytes(Uint8Array.of(0x62)),
    ]);
    this.op(0x52);
    this.tuple([
      () => this.int(1),
      () => this.tuple(shape.map((d) => () => this.int(d))),
      dtype,
      () => this.op(0x89),
      data,
    ]);
    this.op(0x62);
  }
  finish(): Uint8Array {
    this.op(0x2e);
    const total = this.parts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(total);
    let at = 0;
    for (const p of this.parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }
}

/**
 * An object array of numeric arrays as .npy bytes, as `np.save(path, np.array(arrays, dtype=object))`
 * writes it: `np.load(path, allow_pickle=True)` reads it back.
 */
export function npyObjectArrayBytes(arrays: readonly NdArray[]): Uint8Array {
  arrays.forEach((a, i) => checkSize(a, `item ${i}`));
  const w = new PickleWriter();
  w.op(0x80, 3);
  w.ndarray(
    [arrays.length],
    () => w.dtype("O8", "|", 63),
    () => {
      w.op(0x5d, 0x28);
      for (const a of arrays) {
        const descr = descrOf(a);
        w.ndarray(
          a.shape,
          () => w.dtype(a.dtype, descr[0]!, 0),
          () => w.bytes(dataBytes(a)),
        );
      }
      w.op(0x65);
    },
  );
  const pickle = w.finish();
  const header = npyHeader("|O", [arrays.length]);
  const out = new Uint8Array(header.length + pickle.length);
  out.set(header, 0);
  out.set(pickle, header.length);
  return out;
}
