// Reads .npy files, including NumPy object arrays of ndarrays (which NumPy stores as a pickle).
import { readFile } from "node:fs/promises";

export interface NdArray {
  shape: number[];
  /** NumPy type code without byte order, e.g. "f4", "f8", "i4". */
  dtype: string;
  data: Float32Array | Float64Array | Int32Array | Uint8Array;
}

export type NpyValue = NdArray | NdArray[];

class NpyError extends Error {}

function fail(path: string, what: string): never {
  throw new NpyError(`npy: ${path}: ${what}`);
}

/** Parses a .npy file: a numeric array, or an object array whose items are numeric arrays. */
export async function readNpy(path: string): Promise<NpyValue> {
  return parseNpy(new Uint8Array(await readFile(path)), path);
}

export function parseNpy(bytes: Uint8Array, path = "<buffer>"): NpyValue {
  const magic = String.fromCharCode(...bytes.subarray(1, 6));
  if (bytes[0] !== 0x93 || magic !== "NUMPY") fail(path, "not a .npy file (bad magic)");
  const major = bytes[6]!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const headerStart = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLen));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined)
    fail(path, `unreadable header ${header.trim()}`);
  if (fortran === "True") fail(path, "Fortran-order arrays are not supported");
  const shape = shapeText
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "")
    .map(Number);
  const body = bytes.subarray(headerStart + headerLen);
  if (descr === "|O") {
    const value = unpickle(body, path);
    if (!(value instanceof PyNdArray)) fail(path, "object array pickle did not hold an ndarray");
    const items = value.items;
    if (items === undefined) fail(path, "object array pickle held a numeric array");
    return items.map((item, i) => {
      if (!(item instanceof PyNdArray) || item.array === undefined) fail(path, `item ${i} is not a numeric ndarray`);
      return item.array;
    });
  }
  return toNdArray(descr, shape, body, path);
}

function toNdArray(descr: string, shape: number[], raw: Uint8Array, path: string): NdArray {
  const order = descr[0];
  const code = descr.slice(1);
  if (order === ">") fail(path, `big-endian ${descr} is not supported`);
  const count = shape.reduce((a, b) => a * b, 1);
  // Copy: pickled bytes are not aligned for typed-array views.
  const copy = raw.slice(0, count * itemSize(code, path)).buffer;
  switch (code) {
    case "f4":
      return { shape, dtype: code, data: new Float32Array(copy) };
    case "f8":
      return { shape, dtype: code, data: new Float64Array(copy) };
    case "i4":
      return { shape, dtype: code, data: new Int32Array(copy) };
    case "u1":
    case "b1":
      return { shape, dtype: code, data: new Uint8Array(copy) };
    default:
      fail(path, `dtype ${descr} is not supported`);
  }
}

function itemSize(code: string, path: string): number {
  const size = Number(code.slice(1));
  if (!Number.isInteger(size) || size <= 0) fail(path, `bad dtype ${code}`);
  return size;
}

// ---- minimal unpickler: exactly what numpy writes for object arrays of ndarrays ----

class PyGlobal {
  constructor(readonly name: string) {}
}
class PyDtype {
  order = "<";
  constructor(readonly code: string) {}
}
class PyNdArray {
  array?: NdArray;
  items?: unknown[];
}
const MARK = Symbol("mark");

type PyValue = unknown;

function unpickle(b: Uint8Array, path: string): PyValue {
  const view = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const stack: PyValue[] = [];
  const memo = new Map<number, PyValue>();
  const text = new TextDecoder();
  let i = 0;
  const popMark = (): PyValue[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) fail(path, "pickle: MARK missing");
    const items = stack.splice(at);
    return items.slice(1);
  };
  const pop = (): PyValue => {
    if (stack.length === 0) fail(path, `pickle: stack empty at byte ${i}`);
    return stack.pop();
  };
  const readLine = (): string => {
    const end = b.indexOf(0x0a, i);
    const s = text.decode(b.subarray(i, end));
    i = end + 1;
    return s;
  };
  while (i < b.length) {
    const op = b[i++]!;
    switch (op) {
      case 0x80:
        i += 1;
        break; // PROTO
      case 0x95:
        i += 8;
        break; // FRAME
      case 0x2e:
        return pop(); // STOP
      case 0x28:
        stack.push(MARK);
        break;
      case 0x63: {
        const mod = readLine();
        const name = readLine();
        stack.push(new PyGlobal(`${mod}.${name}`));
        break;
      } // GLOBAL
      case 0x93: {
        const name = pop() as string;
        const mod = pop() as string;
        stack.push(new PyGlobal(`${mod}.${name}`));
        break;
      } // STACK_GLOBAL
      case 0x71:
        memo.set(b[i++]!, stack[stack.length - 1]);
        break; // BINPUT
      case 0x72:
        memo.set(view.getUint32(i, true), stack[stack.length - 1]);
        i += 4;
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, stack[stack.length - 1]);
        break; // MEMOIZE
      case 0x68:
        stack.push(memo.get(b[i++]!));
        break; // BINGET
      case 0x6a:
        stack.push(memo.get(view.getUint32(i, true)));
        i += 4;
        break; // LONG_BINGET
      case 0x4b:
        stack.push(b[i++]!);
        break; // BININT1
      case 0x4d:
        stack.push(view.getUint16(i, true));
        i += 2;
        break; // BININT2
      case 0x4a:
        stack.push(view.getInt32(i, true));
        i += 4;
        break; // BININT
      case 0x47:
        stack.push(view.getFloat64(i, false));
        i += 8;
        break; // BINFLOAT
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x58: {
        const n = view.getUint32(i, true);
        i += 4;
        stack.push(text.decode(b.subarray(i, i + n)));
        i += n;
        break;
      } // BINUNICODE
      case 0x8c: {
        const n = b[i++]!;
        stack.push(text.decode(b.subarray(i, i + n)));
        i += n;
        break;
      } // SHORT_BINUNICODE
      case 0x43: {
        const n = b[i++]!;
        stack.push(b.subarray(i, i + n));
        i += n;
        break;
      } // SHORT_BINBYTES
      case 0x42: {
        const n = view.getUint32(i, true);
        i += 4;
        stack.push(b.subarray(i, i + n));
        i += n;
        break;
      } // BINBYTES
      case 0x29:
        stack.push([]);
        break; // EMPTY_TUPLE
      case 0x85:
        stack.push([pop()]);
        break; // TUPLE1
      case 0x86: {
        const y = pop();
        const x = pop();
        stack.push([x, y]);
        break;
      } // TUPLE2
      case 0x87: {
        const z = pop();
        const y = pop();
        const x = pop();
        stack.push([x, y, z]);
        break;
      } // TUPLE3
      case 0x74:
        stack.push(popMark());
        break; // TUPLE
      case 0x5d:
        stack.push([]);
        break; // EMPTY_LIST
      case 0x61: {
        const v = pop();
        (stack[stack.length - 1] as PyValue[]).push(v);
        break;
      } // APPEND
      case 0x65: {
        const items = popMark();
        (stack[stack.length - 1] as PyValue[]).push(...items);
        break;
      } // APPENDS
      case 0x52: {
        const args = pop() as PyValue[];
        const fn = pop();
        stack.push(reduce(fn, args, path));
        break;
      } // REDUCE
      case 0x62: {
        const state = pop();
        build(stack[stack.length - 1], state, path);
        break;
      } // BUILD
      default:
        fail(path, `pickle opcode 0x${op.toString(16)} at byte ${i - 1} is not supported by this reader`);
    }
  }
  fail(path, "pickle ended without STOP");
}

function reduce(fn: PyValue, args: PyValue[], path: string): PyValue {
  if (!(fn instanceof PyGlobal)) fail(path, "pickle: REDUCE of a non-callable");
  if (fn.name === "numpy.core.multiarray._reconstruct" || fn.name === "numpy._core.multiarray._reconstruct")
    return new PyNdArray();
  if (fn.name === "numpy.dtype") return new PyDtype(String(args[0]));
  fail(path, `pickle: ${fn.name} is not an allowed constructor`);
}

function build(target: PyValue, state: PyValue, path: string): void {
  if (target instanceof PyDtype) {
    const s = state as PyValue[];
    if (typeof s[1] === "string") target.order = s[1];
    return;
  }
  if (target instanceof PyNdArray) {
    const [, shape, dtype, fortran, data] = state as [number, number[], PyDtype, boolean, PyValue];
    if (fortran) fail(path, "pickle: Fortran-order array");
    if (dtype.code === "O8" || dtype.code === "O4") {
      target.items = data as PyValue[];
      return;
    }
    const order = dtype.order === "|" ? "<" : dtype.order;
    target.array = toNdArray(`${order}${dtype.code}`, shape, data as Uint8Array, path);
    return;
  }
  fail(path, "pickle: BUILD on an unknown object");
}
