// Runs other kernels of the same backend directly (no engine, no tape) and frees intermediates.
import { backend_util, getKernel } from "@tensorflow/tfjs";
import type { KernelBackend, NamedAttrMap, NamedTensorInfoMap, TensorInfo } from "@tensorflow/tfjs";

/** Like tf.util.assert, but narrows types for TypeScript. */
export function assert(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new Error(message());
}

export type ExplicitPad = [[number, number], [number, number], [number, number], [number, number]];
export type PadAttr = "valid" | "same" | number | ExplicitPad;

/**
 * A kernel-level `tf.tidy`: every tensor made through `run` is disposed by `finish` except the
 * result, so composite kernels leak nothing even when a step throws.
 */
export class KernelScope {
  private readonly temps: TensorInfo[] = [];

  constructor(
    readonly backend: KernelBackend,
    readonly backendName: string,
    readonly where: string,
  ) {}

  run(kernelName: string, inputs: NamedTensorInfoMap, attrs: NamedAttrMap = {}): TensorInfo {
    const config = getKernel(kernelName, this.backendName);
    assert(config !== undefined, () => `${this.where}: backend ${this.backendName} has no ${kernelName} kernel`);
    const out = config.kernelFunc({ inputs, backend: this.backend, attrs });
    const one = Array.isArray(out) ? out[0] : out;
    assert(one !== undefined, () => `${this.where}: ${kernelName} returned no tensor`);
    this.temps.push(one);
    return one;
  }

  /** Frees `t` with the other intermediates (for tensors made outside `run`). */
  track(t: TensorInfo): TensorInfo {
    this.temps.push(t);
    return t;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run("Reshape", { x }, { shape });
  }

  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run("Transpose", { x }, { perm });
  }

  /** Slices `x` to `size` starting at `begin` unless that is the whole tensor. */
  slice(x: TensorInfo, begin: number[], size: number[]): TensorInfo {
    if (begin.every((b) => b === 0) && size.every((s, i) => s === x.shape[i])) return x;
    return this.run("Slice", { x }, { begin, size });
  }

  /** Disposes every intermediate except `result`. */
  finish(result: TensorInfo): TensorInfo {
    this.dispose(result);
    return result;
  }

  dispose(keep?: TensorInfo): void {
    for (const t of this.temps) {
      if (t !== keep) this.backend.disposeData(t.dataId);
    }
    this.temps.length = 0;
  }
}

/** Runs `body` in a scope; on error every intermediate is freed before rethrowing. */
export function withScope(backend: KernelBackend, where: string, body: (scope: KernelScope) => TensorInfo): TensorInfo {
  const scope = new KernelScope(backend, backendNameOf(backend), where);
  try {
    return scope.finish(body(scope));
  } catch (err) {
    scope.dispose();
    throw err;
  }
}

const names = new WeakMap<KernelBackend, string>();

/** Records which registered name a backend instance has, so kernels can look up siblings. */
export function setBackendName(backend: KernelBackend, name: string): void {
  names.set(backend, name);
}

export function backendNameOf(backend: KernelBackend): string {
  const name = names.get(backend);
  if (name !== undefined) return name;
  const ctor = backend.constructor.name;
  if (ctor === "BackendWasm") return "wasm";
  if (ctor === "MathBackendCPU") return "cpu";
  throw new Error(`kernels: unknown backend ${ctor}; call setBackendName(backend, name) first`);
}

export function pair(v: number | [number, number]): [number, number] {
  return typeof v === "number" ? [v, v] : v;
}

export function assertNoDilation(where: string, dilations: number | [number, number] | undefined): void {
  if (dilations === undefined) return;
  const [dh, dw] = pair(dilations);
  assert(dh === 1 && dw === 1, () => `${where}: only dilation 1 is supported, got [${dh}, ${dw}]`);
}

/**
 * Padding that makes a stride-1 correlation over an axis of length `len` return `outLen` values,
 * given `before` zeros wanted in front (negative: crop). Returns the crop start, kept length and
 * explicit pads to pass to the convolution.
 */
export function padOrCrop(
  len: number,
  before: number,
  windowLen: number,
  outLen: number,
): {
  start: number;
  keep: number;
  padBefore: number;
  padAfter: number;
} {
  const start = Math.max(0, -before);
  const padBefore = Math.max(0, before);
  const after = outLen + windowLen - 1 - padBefore - (len - start);
  const keep = len - start + Math.min(0, after);
  return { start, keep, padBefore, padAfter: Math.max(0, after) };
}

export type ConvInfo = backend_util.Conv2DInfo;
