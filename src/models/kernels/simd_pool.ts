// Runs the SIMD module's functions on the calling thread and on worker threads that share its
// memory. A call hands each worker its arguments through a shared control block, runs the first
// part itself, then waits: the kernels stay synchronous, as tfjs kernels must be.
import { Worker } from "node:worker_threads";

/** Int32 slots per worker: state, function index, argument count, arguments. */
const SLOT = 32;
const IDLE = 0;
const RUN = 1;
const STOP = 2;
const FAILED = 3;

/** The worker's loop (CommonJS, run with eval): wait for RUN, call, report IDLE or FAILED. */
const WORKER_SOURCE = `
const { workerData, parentPort } = require("node:worker_threads");
const { module, memory, control, slot, names } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const fns = names.map((n) => instance.exports[n]);
const ctl = new Int32Array(control);
const base = slot * ${SLOT};
parentPort.postMessage("ready");
let last = ${IDLE};
for (;;) {
  // Sleeps while the state is still the one this worker last wrote.
  Atomics.wait(ctl, base, last);
  const state = Atomics.load(ctl, base);
  if (state === ${STOP}) break;
  if (state !== ${RUN}) { last = state; continue; }
  const args = [];
  for (let i = 0; i < ctl[base + 2]; i++) args.push(ctl[base + 3 + i]);
  last = ${IDLE};
  try { fns[ctl[base + 1]](...args); } catch { last = ${FAILED}; }
  Atomics.store(ctl, base, last);
  Atomics.notify(ctl, base);
}
`;

type WasmFunction = (...args: number[]) => void;

export class SimdPool {
  private constructor(
    private readonly fns: Map<string, { index: number; fn: WasmFunction }>,
    private readonly workers: Worker[],
    private readonly control: Int32Array,
  ) {}

  /** Threads a call can use: this one and the workers. */
  get threads(): number {
    return this.workers.length + 1;
  }

  /**
   * Instantiates `module` here and, when `memory` is shared, on `threads - 1` workers; resolves once
   * every worker is ready. The workers do not keep the process alive.
   */
  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, threads: number): Promise<SimdPool> {
    const instance = new WebAssembly.Instance(module, { env: { memory } });
    const names = WebAssembly.Module.exports(module).filter((e) => e.kind === "function").map((e) => e.name);
    const fns = new Map(names.map((name, index) => [name, { index, fn: instance.exports[name] as WasmFunction }]));
    const shared = typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
    const count = shared ? Math.max(0, threads - 1) : 0;
    const control = new Int32Array(new SharedArrayBuffer(Math.max(1, count) * SLOT * 4));
    const workers = await Promise.all(
      Array.from({ length: count }, (_, slot) =>
        new Promise<Worker>((resolve, reject) => {
          const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, control: control.buffer, slot, names } });
          w.once("message", () => {
            w.unref();
            resolve(w);
          });
          w.once("error", reject);
        }),
      ),
    );
    return new SimdPool(fns, workers, control);
  }

  /**
   * Calls `name` once per argument list, in parallel: the first here, the others on workers.
   * `floats` are passed after each list's integers, on this thread only (workers take integers).
   */
  run(name: string, argLists: readonly (readonly number[])[], floats: readonly number[] = []): void {
    const entry = this.fns.get(name);
    if (entry === undefined) throw new Error(`SimdPool: the module has no function ${name}`);
    if (floats.length > 0 && argLists.length > 1) throw new Error("SimdPool: float arguments run on this thread only");
    const remote = argLists.slice(1);
    if (remote.length > this.workers.length) throw new Error(`SimdPool: ${argLists.length} parts for ${this.threads} threads`);
    remote.forEach((args, w) => {
      const base = w * SLOT;
      if (args.length > SLOT - 3) throw new Error(`SimdPool: ${args.length} arguments do not fit a slot`);
      this.control[base + 1] = entry.index;
      this.control[base + 2] = args.length;
      args.forEach((a, i) => (this.control[base + 3 + i] = a | 0));
      Atomics.store(this.control, base, RUN);
      Atomics.notify(this.control, base);
    });
    let failure: unknown;
    try {
      if (argLists[0] !== undefined) entry.fn(...argLists[0], ...floats);
    } catch (err) {
      failure = err;
    }
    // Every worker must be idle again before anything reads or frees the memory it writes.
    remote.forEach((_, w) => {
      const base = w * SLOT;
      while (Atomics.load(this.control, base) === RUN) Atomics.wait(this.control, base, RUN);
      if (Atomics.load(this.control, base) === FAILED) {
        failure ??= new Error(`SimdPool: ${name} failed on worker ${w + 1}`);
        Atomics.store(this.control, base, IDLE);
      }
    });
    if (failure !== undefined) throw failure;
  }

  /** Stops the workers (tests; a process exits without this). */
  async close(): Promise<void> {
    this.workers.forEach((_, w) => {
      Atomics.store(this.control, w * SLOT, STOP);
      Atomics.notify(this.control, w * SLOT);
    });
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
