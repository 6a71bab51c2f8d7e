// Runs the SIMD module's functions on the calling thread and on worker threads that share its
// memory. A call's parts go in a shared job table; the calling thread and the workers it wakes take
// parts from it one at a time until none are left, then the caller waits for the workers it woke:
// the kernels stay synchronous, as tfjs kernels must be. Taking parts from a table rather than one
// fixed share each means a worker that wakes late (or shares its core with the runtime's own
// threads) leaves its work to the caller instead of keeping it waiting.
import { Worker } from "node:worker_threads";

/** Int32 slots per worker: state, the part that failed. */
const SLOT = 16;
const IDLE = 0;
const RUN = 1;
const STOP = 2;
const FAILED = 3;
/** A worker has taken the call (RUN -> BUSY): the caller must wait for it. */
const BUSY = 4;
/** The job table: next part, parts, function index, arguments per part, then the parts' arguments. */
const JOB_HEAD = 4;
const JOB_INTS = 8192;

/** The worker's loop (CommonJS, run with eval): wait for RUN, take it, take parts until none are left. */
const WORKER_SOURCE = `
const { workerData, parentPort } = require("node:worker_threads");
const { module, memory, control, job, slot, names } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const fns = names.map((n) => instance.exports[n]);
const ctl = new Int32Array(control);
const jobs = new Int32Array(job);
const base = slot * ${SLOT};
parentPort.postMessage("ready");
let last = ${IDLE};
for (;;) {
  // Sleeps while the state is still the one this worker last saw.
  Atomics.wait(ctl, base, last);
  const state = Atomics.load(ctl, base);
  if (state === ${STOP}) break;
  // The caller may have taken the call back before this worker woke.
  if (state !== ${RUN} || Atomics.compareExchange(ctl, base, ${RUN}, ${BUSY}) !== ${RUN}) { last = Atomics.load(ctl,
  base); continue; }
  const fn = fns[jobs[2]];
  const argc = jobs[3];
  last = ${IDLE};
  for (;;) {
    const k = Atomics.add(jobs, 0, 1);
    if (k >= jobs[1]) break;
    const args = [];
    for (let i = 0; i < argc; i++) args.push(jobs[${JOB_HEAD} + k * argc + i]);
    try { fn(...args); } catch { ctl[base + 1] = k; last = ${FAILED}; }
  }
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
    private readonly jobs: Int32Array,
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
    const names = WebAssembly.Module.exports(module)
      .filter((e) => e.kind === "function")
      .map((e) => e.name);
    const fns = new Map(names.map((name, index) => [name, { index, fn: instance.exports[name] as WasmFunction }]));
    const shared = typeof SharedArrayBuffer !== "undefined" && memory.buffer instanceof SharedArrayBuffer;
    const count = shared ? Math.max(0, threads - 1) : 0;
    const control = new Int32Array(new SharedArrayBuffer(Math.max(1, count) * SLOT * 4));
    const jobs = new Int32Array(new SharedArrayBuffer(JOB_INTS * 4));
    const workers = await Promise.all(
      Array.from(
        { length: count },
        (_, slot) =>
          new Promise<Worker>((resolve, reject) => {
            const w = new Worker(WORKER_SOURCE, {
              eval: true,
              workerData: { module, memory, control: control.buffer, job: jobs.buffer, slot, names },
            });
            w.once("message", () => {
              w.unref();
              resolve(w);
            });
            w.once("error", reject);
          }),
      ),
    );
    return new SimdPool(fns, workers, control, jobs);
  }

  /**
   * Calls `name` once per argument list, in parallel: this thread and up to `threads - 1` workers
   * take lists from a shared table until every one has run, in no fixed order, so the lists must
   * write disjoint memory. More lists than threads balance better (a part is a function call of
   * overhead, well under a microsecond). `floats` are passed after the integers of a single list,
   * which runs on this thread (workers take integers).
   */
  run(name: string, argLists: readonly (readonly number[])[], floats: readonly number[] = []): void {
    const entry = this.fns.get(name);
    if (entry === undefined) throw new Error(`SimdPool: the module has no function ${name}`);
    if (floats.length > 0 && argLists.length > 1) throw new Error("SimdPool: float arguments run on this thread only");
    const parts = argLists.length;
    if (parts <= 1 || this.workers.length === 0) {
      argLists.forEach((args, k) => this.call(entry.fn, name, k, parts, [...args, ...floats]));
      return;
    }
    const argc = argLists[0]!.length;
    if (argLists.some((a) => a.length !== argc))
      throw new Error(`SimdPool: the parts of a ${name} call have different argument counts`);
    if (JOB_HEAD + parts * argc > JOB_INTS)
      throw new Error(`SimdPool: ${parts} parts of ${argc} arguments do not fit the job table`);
    const jobs = this.jobs;
    jobs[1] = parts;
    jobs[2] = entry.index;
    jobs[3] = argc;
    argLists.forEach((args, k) => args.forEach((a, i) => (jobs[JOB_HEAD + k * argc + i] = a | 0)));
    // The store of the counter publishes the table to the workers it wakes.
    Atomics.store(jobs, 0, 0);
    const woken = Math.min(this.workers.length, parts - 1);
    for (let w = 0; w < woken; w++) {
      Atomics.store(this.control, w * SLOT, RUN);
      Atomics.notify(this.control, w * SLOT);
    }
    let failure: unknown;
    for (;;) {
      const k = Atomics.add(jobs, 0, 1);
      if (k >= parts) break;
      try {
        this.call(entry.fn, name, k, parts, argLists[k]!);
      } catch (err) {
        failure ??= err;
      }
    }
    // Every worker that took the call must be idle again before anything reads or frees the memory
    // it writes; one that has not woken yet is told the call is over.
    for (let w = 0; w < woken; w++) {
      const base = w * SLOT;
      if (Atomics.compareExchange(this.control, base, RUN, IDLE) === RUN) continue;
      while (Atomics.load(this.control, base) === BUSY) Atomics.wait(this.control, base, BUSY);
      if (Atomics.load(this.control, base) === FAILED) {
        failure ??= new Error(
          `SimdPool: ${name} failed on part ${this.control[base + 1]! + 1} of ${parts} (worker ${w + 1})`,
        );
        Atomics.store(this.control, base, IDLE);
      }
    }
    if (failure !== undefined) throw failure;
  }

  private call(fn: WasmFunction, name: string, k: number, parts: number, args: readonly number[]): void {
    try {
      fn(...args);
    } catch (err) {
      throw new Error(
        `SimdPool: ${name} failed on part ${k + 1} of ${parts} (this thread): ` +
          `${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
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
