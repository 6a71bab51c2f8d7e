// A fixed set of worker threads answering requests by id: started together (each posts a ready or an
// error message with id −1), idle ones not keeping the process alive, and any crash failing what is
// pending and every later request with a clear error. The bank scorer and the synthesis pool use it.
import type { Worker } from "node:worker_threads";
import { startJobWorker } from "../jobs/worker-thread.js";

/** What a worker posts: id −1 is its start (ready or error); any other id answers that request. */
export type WorkerReply = { id: number; error: string; code?: string } | { id: number; ready: string } | { id: number };

/** A worker's error, with the code of the error it threw where it had one (a SynthesisInputError's). */
export class WorkerError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
    this.name = "WorkerError";
  }
}

export interface WorkerSet<Reply extends WorkerReply> {
  readonly size: number;
  /** Sends `request` (with an id added) to worker `w`; resolves with its answer, rejects with its error. */
  ask(w: number, request: object, transfer?: ArrayBuffer[]): Promise<Reply>;
  close(): Promise<void>;
}

/** Starts one worker of `entry` (as startJobWorker takes it) per item of `data`; resolves once each is ready. */
export async function startWorkerSet<Reply extends WorkerReply>(
  entry: string,
  data: readonly unknown[],
  label: string,
): Promise<WorkerSet<Reply>> {
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let nextId = 0;
  let failure: Error | undefined;
  const started: Worker[] = [];
  const fail = (err: Error): void => {
    failure ??= err;
    for (const p of pending.values()) p.reject(failure);
    pending.clear();
    started.forEach((w) => w.unref());
  };
  // Idle workers do not keep the process alive (a set never closed does not hang it); busy ones do.
  const hold = (busy: boolean): void => started.forEach((w) => (busy ? w.ref() : w.unref()));
  const ready = data.map((d) => {
    const w = startJobWorker(entry, d);
    started.push(w);
    return new Promise<void>((resolve, reject) => {
      w.on("message", (m: Reply) => {
        if (m.id === -1) {
          if ("error" in m) reject(new Error(`${label} worker: ${m.error}`));
          else resolve();
          return;
        }
        const p = pending.get(m.id);
        if (p === undefined) return;
        pending.delete(m.id);
        if (pending.size === 0) hold(false);
        if ("error" in m)
          p.reject(new WorkerError(m.code === undefined ? `${label} worker: ${m.error}` : m.error, m.code));
        else p.resolve(m);
      });
      w.on("error", (err) => {
        reject(err);
        fail(new Error(`${label} worker crashed: ${err.message}`));
      });
      w.on("exit", (code) => {
        if (code !== 0) fail(new Error(`${label} worker exited with code ${code}`));
      });
    });
  });
  try {
    await Promise.all(ready);
  } catch (err) {
    await Promise.all(started.map((w) => w.terminate()));
    throw err;
  }
  hold(false);
  return {
    size: started.length,
    ask: (w, request, transfer) =>
      new Promise((resolve, reject) => {
        if (failure !== undefined) {
          reject(failure);
          return;
        }
        const id = nextId++;
        if (pending.size === 0) hold(true);
        pending.set(id, { resolve, reject });
        started[w]!.postMessage({ ...request, id }, transfer);
      }),
    async close() {
      fail(new Error(`${label} closed`));
      await Promise.all(started.map((w) => w.terminate()));
    },
  };
}
