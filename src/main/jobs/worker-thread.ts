// Starts a job's worker thread, from the compiled .js or (tsx, vitest) from the TypeScript source.
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

/** tsx's ESM register API (the package's "import" export of tsx/esm/api). */
function tsxEsmApi(): string {
  const pkg = createRequire(import.meta.url).resolve("tsx/package.json");
  return pathToFileURL(path.join(path.dirname(pkg), "dist", "esm", "api", "index.mjs")).href;
}

/** A worker running `entry` (a module path without extension, relative to this folder). */
export function startJobWorker(entry: string, workerData: unknown): Worker {
  const fromSource = import.meta.url.endsWith(".ts");
  const url = new URL(`${entry}${fromSource ? ".ts" : ".js"}`, import.meta.url);
  // Running from TypeScript sources: register tsx's loader inside the worker first.
  return fromSource
    ? new Worker(
        `import(${JSON.stringify(tsxEsmApi())}).then((m) => { m.register(); return import(` +
          `${JSON.stringify(url.href)}); });`,
        { eval: true, workerData },
      )
    : new Worker(url, { workerData });
}

/** The final message of any job: done, cancelled or failed (a crash or an early exit is a failure). */
export function watchJobWorker<M extends { type: string }>(
  worker: Worker,
  jobId: number,
  onMessage: (m: M | { type: "failed"; message: string }) => void,
): Promise<M | { type: "failed"; message: string }> {
  let final: M | { type: "failed"; message: string } | undefined;
  return new Promise((resolve) => {
    worker.on("message", (m: M) => {
      onMessage(m);
      if (m.type === "done" || m.type === "cancelled" || m.type === "failed") final = m;
    });
    worker.on("error", (err) => {
      final = { type: "failed", message: `worker crashed: ${err.message}` };
      onMessage(final);
    });
    worker.on("exit", (code) =>
      resolve(
        final ?? {
          type: "failed",
          message: `worker exited with code ${code} before finishing; resume job ${jobId} from its last checkpoint`,
        },
      ),
    );
  });
}
