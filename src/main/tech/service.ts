/**
 * The tech view behind the API: the protocol library, pre-flight of the configured rig, the replay protocol of a
 * session, and replays and dry runs as jobs. What the server was not given (a rig file, `--allow-runs`) is refused
 * with the flag that would allow it.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { loadRigFile } from "../protocol/load.js";
import type { SessionStore } from "../store/index.js";
import { protocolLibrary } from "./library.js";
import { TechJobError, TechJobs, type CliCommand, type JobPlan } from "./jobs.js";
import { dryRunPlan, replayOf, replayPlan } from "./plans.js";
import { runPreflight } from "./preflight.js";
import type { LibraryEntry, PreflightReport, TechConfig, TechJobInfo, TechJobRig } from "./types.js";

export interface TechOptions {
  /** The lab database (the file the server's store reads; jobs write to it). */
  db: string;
  /** Folders of protocol files (the project's protocols/ first, then `--protocols`). */
  protocolDirs: string[];
  rigFile?: string;
  /** Replays and dry runs may start (they write sessions to the database). */
  allowRuns: boolean;
  cli?: CliCommand;
  log?: (line: string) => void;
  /** Pre-flight's wait per socket (default 2000 ms). */
  preflightTimeoutMs?: number;
}

export type TechRequest =
  | { kind: "replay"; session: string | number; rig: TechJobRig }
  | { kind: "dry-run"; protocol: string; rig: TechJobRig };

export class TechService {
  private readonly jobs: TechJobs;

  constructor(
    private readonly options: TechOptions,
    store?: SessionStore,
  ) {
    this.jobs = new TechJobs({ db: options.db, rigFile: options.rigFile, cli: options.cli, store, log: options.log });
  }

  config(): TechConfig {
    const notes: string[] = [];
    let rigName: string | null = null;
    if (this.options.rigFile === undefined)
      notes.push(
        "No rig file: pre-flight and runs on the lab's rig need `cortexloop serve --rig <file>`; replays and dry " +
          "runs can use the simulated rig.",
      );
    else {
      try {
        rigName = loadRigFile(this.options.rigFile).rig.name;
      } catch (err) {
        notes.push(err instanceof Error ? err.message : String(err));
      }
    }
    if (!this.options.allowRuns)
      notes.push(
        "Read-only: replays and dry runs write sessions to the database; restart with `cortexloop serve " +
          "--allow-runs` to start them here.",
      );
    return {
      db: resolve(this.options.db),
      protocolDirs: this.options.protocolDirs.map((d) => resolve(d)),
      rigFile: this.options.rigFile === undefined ? null : resolve(this.options.rigFile),
      rigName,
      allowRuns: this.options.allowRuns,
      notes,
    };
  }

  library(store: SessionStore): Promise<LibraryEntry[]> {
    return protocolLibrary({ dirs: this.options.protocolDirs, store });
  }

  async preflight(): Promise<PreflightReport> {
    const rigFile = this.options.rigFile;
    if (rigFile === undefined)
      throw new TechJobError(
        "not-found",
        "No rig file is configured, so there is nothing to check; restart with `cortexloop serve --rig <file>` " +
          "(or run `cortexloop preflight --rig <file>`).",
      );
    const { rig } = this.plainly(() => loadRigFile(rigFile));
    return runPreflight(rig, {
      db: this.options.db,
      rigFile: resolve(rigFile),
      timeoutMs: this.options.preflightTimeoutMs,
    });
  }

  replayFile(store: SessionStore, ref: string | number): { fileName: string; text: string; presentations: number } {
    const session = store.findSession(ref);
    if (session === undefined)
      throw new TechJobError(
        "not-found",
        `No session "${ref}" in this database; the session list shows the ones there are.`,
      );
    const { protocol, presentations } = this.plainly(() => replayOf(store, session.id));
    return {
      fileName: `replay-${session.id}-${session.uuid.slice(0, 8)}.json`,
      text: `${JSON.stringify(protocol, null, 2)}\n`,
      presentations,
    };
  }

  private refuseRuns(): void {
    if (!this.options.allowRuns)
      throw new TechJobError(
        "forbidden",
        "This server was started read-only, so it does not start sessions; nothing was started. Restart with " +
          "`cortexloop serve --db <file> --allow-runs` (and `--rig <file>` for the lab's rig).",
      );
    if (!existsSync(this.options.db))
      throw new TechJobError("not-found", `The database ${this.options.db} is gone; nothing was started.`);
  }

  /** On the lab's rig a run starts only after its pre-flight passes; the failed checks are the refusal. */
  private withPreflight(plan: JobPlan): JobPlan {
    if (plan.rig !== "configured") return plan;
    const check = async (): Promise<string | undefined> => {
      const report = await this.preflight();
      if (report.ok) return undefined;
      const failed = report.checks.filter((c) => c.status === "fail");
      return (
        `Pre-flight failed, so the session was not started and nothing was recorded: ` +
        `${failed.map((c) => `${c.label}: ${c.detail}`).join(" ")}`
      );
    };
    return { ...plan, check };
  }

  /** Plans' own errors (a session with nothing to replay, a rig file that no longer parses) are bad requests. */
  private plainly<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof TechJobError) throw err;
      throw new TechJobError("bad-request", err instanceof Error ? err.message : String(err));
    }
  }

  async start(store: SessionStore, request: TechRequest): Promise<TechJobInfo> {
    this.refuseRuns();
    if (request.kind === "replay") {
      if (store.findSession(request.session) === undefined)
        throw new TechJobError("not-found", `No session "${request.session}" in this database; nothing was started.`);
      const plan = this.plainly(() => replayPlan(store, request.session, request.rig));
      return this.plainly(() => this.jobs.start(this.withPreflight(plan)));
    }
    // Only what the library lists can run: a request cannot name an arbitrary file.
    const entry = (await this.library(store)).find((e) => e.id === request.protocol);
    if (entry === undefined)
      throw new TechJobError(
        "not-found",
        `"${request.protocol.slice(0, 120)}" is not in the protocol library; reload it and pick one. Nothing was ` +
          "started.",
      );
    if (!entry.valid)
      throw new TechJobError(
        "bad-request",
        `${entry.location} is not a valid protocol: ${entry.error} Nothing was started.`,
      );
    const text =
      entry.origin === "file"
        ? readFileSync(entry.location, "utf8")
        : store.protocolText(Number(entry.id.slice("stored:".length)));
    const plan = this.plainly(() => dryRunPlan(entry, text, request.rig));
    return this.plainly(() => this.jobs.start(this.withPreflight(plan)));
  }

  list(): TechJobInfo[] {
    return this.jobs.list();
  }

  cancel(id: number): TechJobInfo {
    return this.jobs.cancel(id);
  }

  settled(id: number): Promise<TechJobInfo> {
    return this.jobs.settled(id);
  }

  close(): Promise<void> {
    return this.jobs.close();
  }
}
