import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freeLoopbackPorts, listeningPortRange } from "../../src/main/rig/ports.js";

/**
 * A random free port whose next `span - 1` ports are free too (the rig's heartbeat port is data port + 1): below
 * the kernel's ephemeral range, as the app's own ports (listeningPortRange), and in this vitest worker's share of
 * it, so two files running at once never draw the same port.
 */
export async function freePorts(span = 1): Promise<number> {
  const [low, high] = listeningPortRange();
  const workers = 16;
  const width = Math.floor((high - low) / workers);
  const worker = (Number(process.env.VITEST_POOL_ID ?? "1") - 1 + workers) % workers;
  return freeLoopbackPorts(span, "127.0.0.1", new Set(), [low + worker * width, low + (worker + 1) * width]);
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `cortexloop-${prefix}-`));
}

export function writeJson(path: string, value: unknown): string {
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
  return path;
}

export const socatAvailable = spawnSync("socat", ["-V"], { stdio: "ignore" }).status === 0;
if (!socatAvailable) console.warn("socat is not installed (apt-get install -y socat): serial pty tests are skipped");

export async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`waitFor: ${what} did not happen within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A socat pty pair on stable link paths, so it can be killed and started again on the same paths. */
export class PtyPair {
  private child: ChildProcess | undefined;
  constructor(
    readonly controllerPath: string,
    readonly rigPath: string,
  ) {}

  async start(): Promise<void> {
    const child = spawn(
      "socat",
      ["-d", "-d", `pty,raw,echo=0,link=${this.controllerPath}`, `pty,raw,echo=0,link=${this.rigPath}`],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    this.child = child;
    let stderr = "";
    child.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
    await waitFor(
      () => /starting data transfer loop/.test(stderr) || child.exitCode !== null,
      5000,
      "socat to create the pty pair",
    );
    if (child.exitCode !== null) throw new Error(`socat exited with ${child.exitCode}: ${stderr}`);
    await waitFor(() => existsSync(this.controllerPath) && existsSync(this.rigPath), 2000, "the pty links");
  }

  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (child === undefined || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    await exited;
  }
}
