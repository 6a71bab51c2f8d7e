// Chooses the fastest TensorFlow.js backend that loads on this machine and completes it for training.
import { createRequire } from "node:module";
import { Worker as NodeWorker, type WorkerOptions } from "node:worker_threads";
import os, { cpus } from "node:os";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { getThreadsCount, setThreadsCount, setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { registerWasmGradientKernels } from "./kernels/register.js";
import { prepareSimdKernels } from "./kernels/simd_module.js";

export type BackendName = "tfjs-node-gpu" | "tfjs-node" | "wasm" | "cpu";

export const BACKEND_ORDER: readonly BackendName[] = ["tfjs-node-gpu", "tfjs-node", "wasm", "cpu"];

export interface BackendInfo {
  /** Backend we asked for (package-level name). */
  name: BackendName;
  /** Name tf.getBackend() reports ("tensorflow", "wasm", "cpu"). */
  tfName: string;
  threads: number;
  simd: boolean;
  /** wasm: the gradient kernels of src/models/kernels/simd_module.ts run (false: the composite ones). */
  simdKernels: boolean;
  /** wasm: those kernels use relaxed SIMD's fused multiply-add. */
  relaxedSimd: boolean;
  reason: string;
}

export interface SelectBackendOptions {
  prefer?: BackendName;
  threads?: number;
  log?: (msg: string) => void;
}

export function isBackendName(value: string): value is BackendName {
  return (BACKEND_ORDER as readonly string[]).includes(value);
}

function errorText(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split("\n")[0] ?? text;
}

/** Loads an optional native binding; the specifier is a variable so TypeScript needs no types for it. */
async function tryNative(pkg: string): Promise<void> {
  const specifier: string = pkg;
  await import(specifier);
}

/** Directory holding the backend's .wasm binaries, found the way Node resolves the package. */
export function wasmBinaryDir(): string {
  const require = createRequire(import.meta.url);
  return path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm")) + path.sep;
}

let wasmConfigured = false;
let workerShimInstalled = false;

/**
 * The threaded wasm build starts its pthreads from blob: URLs, which Node's Worker rejects
 * (tfjs#3830). Emscripten assigns `global.Worker` before creating them, so we intercept that
 * assignment and start the same worker code with `eval: true`, pointing its `load` message at the
 * factory script on disk instead of a Blob.
 */
function installNodeWorkerShim(): void {
  if (workerShimInstalled) return;
  workerShimInstalled = true;
  const require = createRequire(import.meta.url);
  const workerFile =
    require.resolve("@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js");
  const factoryFile = require.resolve("@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js");
  const loaded: unknown = require(workerFile);
  const contents = (loaded as { wasmWorkerContents?: unknown }).wasmWorkerContents;
  if (typeof contents !== "string") throw new Error(`wasm worker shim: ${workerFile} has no wasmWorkerContents string`);
  // Same escaping tfjs applies before making its Blob: the contents hold raw newlines inside string literals.
  const code = contents.replace(/\n/g, "\\n");
  class PthreadWorker extends NodeWorker {
    constructor(url: string | URL, options?: WorkerOptions) {
      if (typeof url === "string" && url.startsWith("blob:")) super(code, { eval: true });
      else super(url, options);
      this.unref();
    }
    // XNNPACK's pool threads live forever; a ref'd worker would keep Node from exiting.
    override ref(): void {}
    override postMessage(value: unknown, transferList?: Parameters<NodeWorker["postMessage"]>[1]): void {
      const msg = value as { cmd?: unknown; urlOrBlob?: unknown } | null;
      if (msg !== null && typeof msg === "object" && msg.cmd === "load" && typeof msg.urlOrBlob !== "string") {
        msg.urlOrBlob = factoryFile;
      }
      super.postMessage(value, transferList);
    }
  }
  Object.defineProperty(globalThis, "Worker", {
    configurable: true,
    get: () => PthreadWorker,
    // Emscripten overwrites global.Worker with worker_threads.Worker; keep our subclass instead.
    set: () => undefined,
  });
}

interface Loaded {
  threads: number;
  simd: boolean;
  simdKernels: boolean;
  relaxedSimd: boolean;
  /** Said in the log line: how the SIMD kernels went. */
  kernelNote?: string;
}

async function tryWasm(threads: number): Promise<Loaded> {
  if (!wasmConfigured) {
    // The package disables threads under Node (tfjs#3830); the threaded build works with worker_threads.
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", threads > 1);
    if (threads > 1) installNodeWorkerShim();
    setWasmPaths(wasmBinaryDir());
    setThreadsCount(threads);
    wasmConfigured = true;
  }
  // The wasm runtime caps its pool at (os.cpus().length / 2) threads, assuming hyperthreading; report
  // 2 x threads logical cores while it starts so it uses exactly `threads`.
  const realCpus = os.cpus;
  if (threads > 1) os.cpus = () => Array.from({ length: 2 * threads }, (_, i) => realCpus()[i % realCpus().length]!);
  let ok: boolean;
  try {
    ok = await tf.setBackend("wasm");
    await tf.ready();
  } finally {
    os.cpus = realCpus;
  }
  if (!ok) throw new Error("tf.setBackend('wasm') returned false");
  registerWasmGradientKernels();
  const simd = Boolean(await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT"));
  // Without SIMD the wasm runtime cannot run them either; the composite kernels stay in charge.
  if (!simd)
    return {
      threads: getThreadsCount(),
      simd,
      simdKernels: false,
      relaxedSimd: false,
      kernelNote: "composite gradient kernels: no wasm SIMD",
    };
  const prep = await prepareSimdKernels(tf.backend(), getThreadsCount());
  const kernelNote = prep.ready
    ? `SIMD gradient kernels${prep.fma ? " with relaxed-SIMD multiply-add" : ""}` +
      `${prep.note === undefined ? "" : ` (${prep.note})`}`
    : `composite gradient kernels: ${prep.note ?? "SIMD kernels did not load"}`;
  return { threads: getThreadsCount(), simd, simdKernels: prep.ready, relaxedSimd: prep.fma, kernelNote };
}

async function tryOne(name: BackendName, threads: number): Promise<Loaded> {
  switch (name) {
    case "tfjs-node-gpu":
    case "tfjs-node": {
      await tryNative(name === "tfjs-node-gpu" ? "@tensorflow/tfjs-node-gpu" : "@tensorflow/tfjs-node");
      const ok = await tf.setBackend("tensorflow");
      if (!ok) throw new Error("tf.setBackend('tensorflow') returned false");
      await tf.ready();
      return { threads, simd: true, simdKernels: false, relaxedSimd: false };
    }
    case "wasm":
      return tryWasm(threads);
    case "cpu": {
      const ok = await tf.setBackend("cpu");
      if (!ok) throw new Error("tf.setBackend('cpu') returned false");
      await tf.ready();
      return { threads: 1, simd: false, simdKernels: false, relaxedSimd: false };
    }
  }
}

/** Threads from env CORTEXLOOP_THREADS (a whole number ≥ 1), else undefined; anything else is refused. */
export function threadsFromEnv(value = process.env.CORTEXLOOP_THREADS): number | undefined {
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`CORTEXLOOP_THREADS must be a whole number ≥ 1, got "${value}"`);
  return n;
}

/**
 * Tries tfjs-node-gpu, tfjs-node, wasm, cpu in that order (or the preferred one first, from
 * `prefer` or env CORTEXLOOP_BACKEND) and keeps the first that loads. Logs one line per backend.
 * Threads: `threads`, else env CORTEXLOOP_THREADS, else the cores (at most 4).
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendInfo> {
  const log = options.log ?? ((msg: string) => console.error(msg));
  const threads = Math.max(1, options.threads ?? threadsFromEnv() ?? Math.min(cpus().length, 4));
  const fromEnv = process.env.CORTEXLOOP_BACKEND;
  let prefer = options.prefer;
  let preferSource = "option prefer";
  if (prefer === undefined && fromEnv !== undefined && fromEnv !== "") {
    if (!isBackendName(fromEnv)) {
      throw new Error(
        `CORTEXLOOP_BACKEND=${fromEnv} is not a backend; use one of ${BACKEND_ORDER.join(", ")}, or unset it to ` +
          `pick automatically.`,
      );
    }
    prefer = fromEnv;
    preferSource = "env CORTEXLOOP_BACKEND";
  }
  const order = prefer === undefined ? [...BACKEND_ORDER] : [prefer, ...BACKEND_ORDER.filter((b) => b !== prefer)];
  const skipped: string[] = [];
  for (const name of order) {
    try {
      const got = await tryOne(name, threads);
      const reason =
        prefer === name
          ? `requested by ${preferSource}`
          : skipped.length === 0
            ? "first in order"
            : `first that loaded (${skipped.join("; ")})`;
      log(
        `backend: using ${name} (threads ${got.threads}, simd ${got.simd}` +
          `${got.kernelNote === undefined ? "" : `, ${got.kernelNote}`}): ${reason}`,
      );
      return {
        name,
        tfName: tf.getBackend(),
        threads: got.threads,
        simd: got.simd,
        simdKernels: got.simdKernels,
        relaxedSimd: got.relaxedSimd,
        reason,
      };
    } catch (err) {
      const why = errorText(err);
      skipped.push(`${name}: ${why}`);
      log(`backend: skipped ${name}: ${why}`);
    }
  }
  throw new Error(`No TensorFlow.js backend loaded: ${skipped.join("; ")}`);
}
