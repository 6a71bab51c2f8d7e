// Plain numeric .npy files (responses): little-endian float/int arrays in C order.

export interface NumericArray {
  shape: number[];
  /** Values in C (row-major) order, converted to float64. */
  data: Float64Array;
  dtype: string;
}

export class NpyFormatError extends Error {
  readonly code = "npy-format";
  constructor(source: string, reason: string) {
    super(`${source} is not a numeric .npy array this reader understands: ${reason}. Nothing was read from it.`);
    this.name = "NpyFormatError";
  }
}

const readers: Record<string, { bytes: number; get(v: DataView, o: number): number }> = {
  "<f8": { bytes: 8, get: (v, o) => v.getFloat64(o, true) },
  "<f4": { bytes: 4, get: (v, o) => v.getFloat32(o, true) },
  "<i8": { bytes: 8, get: (v, o) => Number(v.getBigInt64(o, true)) },
  "<i4": { bytes: 4, get: (v, o) => v.getInt32(o, true) },
  "<i2": { bytes: 2, get: (v, o) => v.getInt16(o, true) },
  "|u1": { bytes: 1, get: (v, o) => v.getUint8(o) },
  "<u2": { bytes: 2, get: (v, o) => v.getUint16(o, true) },
  "<u4": { bytes: 4, get: (v, o) => v.getUint32(o, true) },
};

/** Parses a numeric .npy (format 1.0–3.0). Object (pickled) and Fortran-order arrays are refused. */
export function parseNumericNpy(bytes: Uint8Array, source = "npy"): NumericArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((b, i) => bytes[i] !== b))
    throw new NpyFormatError(source, "missing the \\x93NUMPY magic bytes");
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let offset: number;
  if (major === 1) {
    headerLen = view.getUint16(8, true);
    offset = 10;
  } else if (major === 2 || major === 3) {
    headerLen = view.getUint32(8, true);
    offset = 12;
  } else throw new NpyFormatError(source, `format version ${major} is unknown`);
  if (offset + headerLen > bytes.length)
    throw new NpyFormatError(source, `header of ${headerLen} bytes runs past the end of the file`);
  const header = new TextDecoder("latin1").decode(bytes.subarray(offset, offset + headerLen));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1]?.trim();
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    throw new NpyFormatError(source, `header ${JSON.stringify(header.trim())} lacks descr, fortran_order or shape`);
  if (descr === "|O") throw new NpyFormatError(source, "it is an object (pickled) array; use the object-array reader");
  if (fortran === "True")
    throw new NpyFormatError(source, "it is in Fortran order; save it with np.ascontiguousarray first");
  const reader = readers[descr === "<u1" ? "|u1" : descr];
  if (reader === undefined)
    throw new NpyFormatError(source, `dtype ${descr} is not supported (little-endian float/int only)`);
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.length > 0)
    .map((s) => Number(s.replace(/L$/, "")));
  if (shape.some((d) => !Number.isInteger(d) || d < 0))
    throw new NpyFormatError(source, `shape (${shapeText}) is not a list of sizes`);
  const count = shape.reduce((a, b) => a * b, 1);
  const start = offset + headerLen;
  const need = count * reader.bytes;
  if (bytes.length - start < need)
    throw new NpyFormatError(
      source,
      `shape (${shape.join(", ")}) needs ${need} data bytes but the file has ${bytes.length - start}`,
    );
  const data = new Float64Array(count);
  if (descr === "<f8" && (bytes.byteOffset + start) % 8 === 0)
    data.set(new Float64Array(bytes.buffer, bytes.byteOffset + start, count));
  else for (let i = 0; i < count; i++) data[i] = reader.get(view, start + i * reader.bytes);
  return { shape, data, dtype: descr };
}

/** Writes a float64 C-order .npy (tests and exports). */
export function encodeNumericNpy(shape: readonly number[], data: ArrayLike<number>): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (data.length !== count)
    throw new Error(`encodeNumericNpy: shape (${shape.join(", ")}) needs ${count} values, got ${data.length}`);
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '<f8', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const total = 10 + header.length + 1;
  header += " ".repeat((64 - (total % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + header.length + count * 8);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  const view = new DataView(out.buffer, 10 + header.length);
  for (let i = 0; i < count; i++) view.setFloat64(i * 8, data[i]!, true);
  return out;
}
