// Ridge's dense solves on every core: the Cholesky factorizations of the skip readout's fit (its
// choice of weighting and λ, then every member's ridge) are independent, so worker threads run them
// side by side. The workers run the very functions of ridge.ts (their source), so a result does not
// depend on where it was computed; with one core they run inline.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { cholesky, choleskySolve, solveFor, weightingErrors } from "./ridge.js";

export interface RidgeRunner {
  /** weightingErrors(g, n, order, folds, lambdas, y, units), possibly on another thread. */
  weightingErrors(...args: Parameters<typeof weightingErrors>): Promise<Float64Array>;
  /** The dual solution on every row: solveFor(g, n, 0…n-1, lambda, y, m). */
  solve(g: Float64Array, n: number, lambda: number, y: Float64Array, m: number): Promise<Float64Array>;
  readonly threads: number;
  close(): Promise<void>;
}

const allRows = (n: number): number[] => Array.from({ length: n }, (_, i) => i);

/** Runs on the calling thread. */
export const inlineRidgeRunner: RidgeRunner = {
  threads: 1,
  weightingErrors: async (...args) => weightingErrors(...args),
  solve: async (g, n, lambda, y, m) => solveFor(g, n, allRows(n), lambda, y, m),
  close: async () => {},
};

function workerSource(): string {
  return [
    'const { parentPort } = require("node:worker_threads");',
    // esbuild (tsx, vitest) wraps named inner functions in __name(); compiled output has none.
    "const __name = (f) => f;",
    cholesky.toString(),
    choleskySolve.toString(),
    solveFor.toString(),
    weightingErrors.toString(),
    "const allRows = (n) => Array.from({ length: n }, (_, i) => i);",
    'parentPort.on("message", ({ id, job, args }) => {',
    "  try {",
    "    const out = job === 'errors' ? weightingErrors(...args) :",
    "      solveFor(args[0], args[1], allRows(args[1]), args[2], args[3], args[4]);",
    "    parentPort.postMessage({ id, out }, [out.buffer]);",
    "  } catch (err) {",
    "    parentPort.postMessage({ id, error: err instanceof Error ? err.message : String(err) });",
    "  }",
    "});",
  ].join("\n");
}

interface Pending {
  resolve: (v: Float64Array) => void;
  reject: (e: Error) => void;
}

/**
 * A runner on `threads` worker threads (default: the machine's cores, at most 4); one thread or
 * fewer runs inline. Close it when done (its workers keep the process alive otherwise).
 */
export function ridgeRunner(threads = Math.min(4, availableParallelism())): RidgeRunner {
  if (threads <= 1) return inlineRidgeRunner;
  const source = workerSource();
  const workers = Array.from({ length: threads }, () => new Worker(source, { eval: true }));
  const idle = [...workers];
  const queue: { job: string; args: unknown[]; pending: Pending }[] = [];
  const running = new Map<Worker, Map<number, Pending>>(workers.map((w) => [w, new Map()]));
  let nextId = 0;
  let failure: Error | undefined;
  const dispatch = (): void => {
    while (idle.length > 0 && queue.length > 0) {
      const w = idle.pop()!;
      const { job, args, pending } = queue.shift()!;
      const id = nextId++;
      running.get(w)!.set(id, pending);
      w.postMessage({ id, job, args });
    }
  };
  const fail = (w: Worker, err: Error): void => {
    failure = err;
    for (const p of running.get(w)!.values()) p.reject(err);
    running.get(w)!.clear();
    for (const q of queue.splice(0)) q.pending.reject(err);
  };
  for (const w of workers) {
    w.on("message", (m: { id: number; out?: Float64Array; error?: string }) => {
      const p = running.get(w)!.get(m.id);
      running.get(w)!.delete(m.id);
      idle.push(w);
      if (m.error !== undefined) p?.reject(new Error(m.error));
      else p?.resolve(m.out!);
      dispatch();
    });
    w.on("error", (err) => fail(w, err));
    w.on("exit", (code) => {
      if (running.get(w)!.size > 0) fail(w, new Error(`ridge worker exited (code ${code}) during a solve`));
    });
  }
  const call = (job: string, args: unknown[]): Promise<Float64Array> =>
    new Promise((resolve, reject) => {
      if (failure !== undefined) return reject(failure);
      queue.push({ job, args, pending: { resolve, reject } });
      dispatch();
    });
  return {
    threads,
    weightingErrors: (...args) => call("errors", args),
    solve: (g, n, lambda, y, m) => call("solve", [g, n, lambda, y, m]),
    close: async () => {
      await Promise.all(workers.map((w) => w.terminate()));
    },
  };
}
