/**
 * Replays and dry runs started from the tech view. Each is `cortexloop run` in a child process, so a session that
 * fails cannot take the server down and records exactly as a session from the command line does; on the simulated
 * rig a `cortexloop sim-rig` child is started first on free loopback ports. Progress is the run's `stored <idx>`
 * lines (`--print-stored`): presentations whose counts are committed. One job at a time: a rig runs one session.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { loadRigFile } from "../protocol/load.js";
import type { Protocol } from "../protocol/schema.js";
import { simRigPorts } from "../rig/ports.js";
import { builtinProtocolsDir, projectRoot } from "../paths.js";
import type { SessionStore } from "../store/index.js";
import type { TechJobInfo, TechJobKind, TechJobRig } from "./types.js";

/** How the children are started: this Node (or Electron as Node) running the project's command line. */
export interface CliCommand {
  command: string;
  args: string[];
}

export const defaultCli: CliCommand = { command: process.execPath, args: [join(projectRoot, "bin", "cortexloop.js")] };

export interface TechJobsOptions {
  db: string;
  /** The lab's rig file (`serve --rig`); jobs on "configured" need it. */
  rigFile?: string;
  cli?: CliCommand;
  /** The server's store (read-only is enough): finds the recorded session once a run ends. */
  store?: SessionStore;
  log?: (line: string) => void;
  /** How long a simulated rig may take to say it is ready (default 60 s). */
  simReadyTimeoutMs?: number;
}

export class TechJobError extends Error {
  constructor(
    readonly code: "conflict" | "bad-request" | "not-found" | "forbidden",
    message: string,
  ) {
    super(message);
    this.name = "TechJobError";
  }
}

/** What a job runs: a protocol already written for it, its presentation count, and a title. */
export interface JobPlan {
  kind: TechJobKind;
  rig: TechJobRig;
  title: string;
  protocol: Protocol;
  /** Presentations the protocol asks for (the progress bar's end). */
  total: number;
  sessionName: string;
  /** Runs before the session (after the simulated rig is up): a refusal ends the job as failed, nothing recorded. */
  check?: () => Promise<string | undefined>;
}

interface Job {
  info: TechJobInfo;
  children: ChildProcess[];
  dir: string;
  cancelled: boolean;
  done: Promise<void>;
}

const keptLogLines = 30;

/** The simulated rig's file: the built-in network rig on free loopback ports. */
async function simRigFile(dir: string): Promise<string> {
  const { rig } = loadRigFile(resolve(builtinProtocolsDir, "rigs", "sim-network.json"));
  const { dataPort, eventsPort, displayPort } = await simRigPorts();
  const config = {
    ...rig,
    name: "simulated (tech view)",
    acquisition: { ...rig.acquisition, dataPort },
    // Both ends share this machine's cores with the server: a reply may wait on a busy moment, not a lost rig.
    eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: eventsPort, replyTimeoutMs: 5000 },
    display: { kind: "virtual", endpoint: `tcp://127.0.0.1:${displayPort}` },
  };
  const file = join(dir, "sim-rig.json");
  writeFileSync(file, `${JSON.stringify(config, null, 2)}\n`);
  return file;
}

export class TechJobs {
  private readonly jobs: Job[] = [];
  private nextId = 1;

  constructor(private readonly options: TechJobsOptions) {}

  list(): TechJobInfo[] {
    return this.jobs.map((j) => ({ ...j.info, log: [...j.info.log] })).reverse();
  }

  get(id: number): TechJobInfo {
    const job = this.jobs.find((j) => j.info.id === id);
    if (job === undefined)
      throw new TechJobError("not-found", `There is no job ${id}; the job list shows the ones there are.`);
    return { ...job.info, log: [...job.info.log] };
  }

  /** Resolves when the job has ended (tests, and the server's close). */
  async settled(id: number): Promise<TechJobInfo> {
    const job = this.jobs.find((j) => j.info.id === id);
    if (job !== undefined) await job.done;
    return this.get(id);
  }

  get running(): TechJobInfo | undefined {
    return this.jobs.find((j) => j.info.state === "starting" || j.info.state === "running")?.info;
  }

  start(plan: JobPlan): TechJobInfo {
    const busy = this.running;
    if (busy !== undefined)
      throw new TechJobError(
        "conflict",
        `Job ${busy.id} (${busy.title}) is still running; a rig runs one session at a time. Wait for it or cancel ` +
          "it; nothing was started.",
      );
    if (plan.rig === "configured" && this.options.rigFile === undefined)
      throw new TechJobError(
        "bad-request",
        "No rig file is configured, so nothing can run on the lab's rig; nothing was started. Restart with " +
          "`cortexloop serve --rig <file> --allow-runs`, or run on the simulated rig.",
      );
    const dir = mkdtempSync(join(tmpdir(), "cortexloop-job-"));
    const info: TechJobInfo = {
      id: this.nextId++,
      kind: plan.kind,
      rig: plan.rig,
      title: plan.title,
      rigName: plan.rig === "sim" ? "simulated rig" : loadRigFile(this.options.rigFile!).rig.name,
      state: "starting",
      done: 0,
      total: plan.total,
      startedAt: new Date().toISOString(),
      endedAt: null,
      sessionId: null,
      sessionUuid: null,
      message: plan.rig === "sim" ? "starting the simulated rig" : "starting the session",
      log: [],
    };
    const job: Job = { info, children: [], dir, cancelled: false, done: Promise.resolve() };
    this.jobs.push(job);
    job.done = this.run(job, plan).catch((err: unknown) => {
      this.finish(job, "failed", err instanceof Error ? err.message : String(err));
    });
    return { ...info };
  }

  /** Stops a job: the run ends cleanly (SIGINT: what was recorded is saved, the session is `interrupted`). */
  cancel(id: number): TechJobInfo {
    const job = this.jobs.find((j) => j.info.id === id);
    if (job === undefined) throw new TechJobError("not-found", `There is no job ${id}; nothing was cancelled.`);
    if (job.info.state !== "starting" && job.info.state !== "running")
      throw new TechJobError("conflict", `Job ${id} has already ended (${job.info.state}); nothing was cancelled.`);
    job.cancelled = true;
    job.info.message = "cancelling: the session ends cleanly and keeps what it recorded";
    // The run first: it saves and ends its session; the simulated rig is stopped after it.
    const run = job.children[job.children.length - 1];
    if (run !== undefined) run.kill("SIGINT");
    return { ...job.info };
  }

  /** Cancels whatever runs and waits for it (the server's close). */
  async close(): Promise<void> {
    const busy = this.running;
    if (busy !== undefined) {
      this.cancel(busy.id);
      await this.settled(busy.id);
    }
  }

  private note(job: Job, line: string): void {
    job.info.log.push(line);
    if (job.info.log.length > keptLogLines) job.info.log.splice(0, job.info.log.length - keptLogLines);
  }

  private finish(job: Job, state: TechJobInfo["state"], message: string): void {
    if (job.info.endedAt !== null) return;
    job.info.state = state;
    job.info.message = message;
    job.info.endedAt = new Date().toISOString();
    for (const child of job.children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    rmSync(job.dir, { recursive: true, force: true });
    this.options.log?.(`job ${job.info.id} (${job.info.title}): ${state}: ${message}`);
  }

  private spawnCli(job: Job, args: string[]): ChildProcess {
    const cli = this.options.cli ?? defaultCli;
    const child = spawn(cli.command, [...cli.args, ...args], {
      cwd: projectRoot,
      // Electron's own binary runs the command line as Node.
      env: { ...process.env, ELECTRON_RUN_AS_NODE: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    job.children.push(child);
    createInterface({ input: child.stderr! }).on("line", (line) => this.note(job, line));
    return child;
  }

  private async startSimRig(job: Job): Promise<string> {
    const rigFile = await simRigFile(job.dir);
    const child = this.spawnCli(job, ["sim-rig", "--rig", rigFile]);
    const timeoutMs = this.options.simReadyTimeoutMs ?? 60_000;
    await new Promise<void>((ready, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`the simulated rig did not say it was ready within ${timeoutMs / 1000} s`)),
        timeoutMs,
      );
      createInterface({ input: child.stdout! }).on("line", (line) => {
        if (line.includes('"event":"ready"')) {
          clearTimeout(timer);
          ready();
        }
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        fail(
          new Error(`the simulated rig exited (${code ?? "signal"}) before it was ready: ${job.info.log.at(-1) ?? ""}`),
        );
      });
    });
    return rigFile;
  }

  private async run(job: Job, plan: JobPlan): Promise<void> {
    const protocolFile = join(job.dir, "protocol.json");
    writeFileSync(protocolFile, `${JSON.stringify(plan.protocol, null, 2)}\n`);
    const rigFile = plan.rig === "sim" ? await this.startSimRig(job) : this.options.rigFile!;
    if (job.cancelled) {
      this.finish(job, "cancelled", "cancelled before the session started; nothing was recorded");
      return;
    }
    if (plan.check !== undefined) {
      job.info.message = `pre-flight of ${job.info.rigName}`;
      const refusal = await plan.check();
      if (refusal !== undefined) {
        this.finish(job, "failed", refusal);
        return;
      }
      if (job.cancelled) {
        this.finish(job, "cancelled", "cancelled before the session started; nothing was recorded");
        return;
      }
    }
    job.info.state = "running";
    job.info.message = `running on ${job.info.rigName}`;
    const run = this.spawnCli(job, [
      "run",
      protocolFile,
      "--rig",
      rigFile,
      "--db",
      this.options.db,
      "--name",
      plan.sessionName,
      "--print-stored",
    ]);
    createInterface({ input: run.stdout! }).on("line", (line) => {
      if (/^stored \d+$/.test(line)) {
        job.info.done++;
        job.info.message = `${job.info.done}/${job.info.total} presentations with counts stored`;
      }
    });
    const code = await new Promise<number | null>((exited) => run.once("exit", (c) => exited(c)));
    const summary = [...job.info.log].reverse().find((l) => /^session [0-9a-f-]{36}: /.test(l));
    const uuid = summary === undefined ? undefined : /^session ([0-9a-f-]{36}):/.exec(summary)?.[1];
    if (uuid !== undefined) {
      job.info.sessionUuid = uuid;
      job.info.sessionId = this.options.store?.findSession(uuid)?.id ?? null;
    }
    if (job.cancelled) this.finish(job, "cancelled", summary ?? "cancelled; what was recorded is saved");
    else if (code === 0) this.finish(job, "completed", summary ?? "the session ended");
    else {
      const last = job.info.log
        .filter((l) => l.trim() !== "")
        .slice(-3)
        .join(" ");
      this.finish(job, "failed", summary ?? `cortexloop run exited with ${code ?? "a signal"}: ${last}`);
    }
  }
}
