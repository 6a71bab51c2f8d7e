/**
 * End to end: a 3-session study records on `cortexloop sim-rig` (its own process, named by a rig
 * file); each proposal is approved through the local web API with the token, as the app does; the
 * controller (`cortexloop campaign` in a child process) is killed between sessions 2 and 3 and the
 * study resumes with one command (`cortexloop campaign --resume`) and completes. A second study is
 * killed in the middle of recording a session: that session is kept, marked interrupted.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { runCampaignCommand, type CampaignFlags } from "../../src/main/cli-campaign.js";
import { SessionStore } from "../../src/main/store/index.js";
import { listProposals } from "../../src/main/store/proposals.js";
import { findStudy, studyState, studySteps } from "../../src/main/store/studies.js";
import { repoRoot, tempDir } from "../helpers/tmp.js";
import { networkRigFile, SimRigProcess } from "../rig/session-harness.js";

const tmp = tempDir("cortexloop-study-resume-");
afterAll(() => tmp.cleanup());
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** `cortexloop campaign ...` as its own process (the controller the test kills). */
class Controller {
  readonly child: ChildProcess;
  stderr = "";
  readonly exited: Promise<number | null>;

  constructor(args: string[]) {
    this.child = spawn(process.execPath, ["--import", "tsx", join(repoRoot, "src/main/cli.ts"), "campaign", ...args], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout!.resume();
    this.child.stderr!.on("data", (d: Buffer) => (this.stderr += d.toString()));
    this.exited = new Promise((resolve) => this.child.once("exit", (code) => resolve(code)));
    cleanups.push(() => this.kill());
  }

  /** The web API's address and token, from the line the command prints for the app. */
  async serving(): Promise<{ url: string; token: string }> {
    const deadline = Date.now() + 120_000;
    for (;;) {
      const m = /approve proposals in the app: (http:\/\/127\.0\.0\.1:\d+)\/#token=(\S+)/.exec(this.stderr);
      if (m !== null) return { url: m[1]!, token: m[2]! };
      if (this.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`the campaign did not serve (exit ${this.child.exitCode}):\n${this.stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    await this.exited;
  }
}

async function post(
  api: { url: string; token: string },
  channel: string,
  request: unknown,
): Promise<{ status: number; body: { ok: boolean; message?: string; value?: unknown } }> {
  const res = await fetch(`${api.url}/api/${channel}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${api.token}`, "Content-Type": "application/json" },
    body: JSON.stringify(request),
  });
  return { status: res.status, body: (await res.json()) as { ok: boolean; message?: string; value?: unknown } };
}

type Listed = { id: number; sessionNumber: number; decision: { decision: string; via: string } | null };

/** Waits (through the API) for the undecided proposal of session `number`. */
async function waitingProposal(api: { url: string; token: string }, number: number, c: Controller): Promise<Listed> {
  const deadline = Date.now() + 240_000;
  for (;;) {
    const list = (await post(api, "proposals", {})).body.value as Listed[];
    const p = list.find((x) => x.sessionNumber === number && x.decision === null);
    if (p !== undefined) return p;
    if (c.child.exitCode !== null || Date.now() > deadline)
      throw new Error(`no proposal for session ${number} (exit ${c.child.exitCode}):\n${c.stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const small = [
  "--images-per-session",
  "12",
  "--test-images",
  "4",
  "--test-repeats",
  "2",
  "--neurons",
  "builtin",
  "--units",
  "4",
  "--members",
  "2",
  "--width",
  "4",
  "--cycles",
  "1",
  "--steps",
  "5",
  "--blocks",
  "1",
  "--candidates",
  "30",
  "--images-dir",
  join(tmp.dir, "no-images-here"),
  "--front-end",
  "gabor-small",
  "--front-end-input",
  "112",
  "--stimulus-ms",
  "30",
  "--inter-stimulus-ms",
  "30",
  "--no-propose",
  "--no-compact",
  "--backend",
  "wasm",
  "--seed",
  "5",
];

async function simRig(name: string): Promise<string> {
  const dir = join(tmp.dir, `${name}-rig`);
  mkdirSync(dir, { recursive: true });
  const rigFile = await networkRigFile(dir);
  const sim = new SimRigProcess();
  cleanups.push(() => sim.stop());
  await sim.start(["--rig", rigFile, "--seed", "9"]);
  return rigFile;
}

/** Only what `--resume` reads from the command line; the rest is the study's own. */
function resumeOnly(db: string, study: string, rigFile?: string): CampaignFlags {
  const flags: Partial<CampaignFlags> = { db, resume: study, rigFile };
  return flags as CampaignFlags;
}

describe("a study on cortexloop sim-rig resumes with one command after its controller is killed", () => {
  const title = "3 sessions, each proposal approved through the web API; killed between sessions 2 and 3; resumed";
  it(`${title}; completes`, async () => {
    const rigFile = await simRig("main");
    const db = join(tmp.dir, "main.db");
    const out = join(tmp.dir, "main");
    const first = new Controller([
      "--db",
      db,
      "--out",
      out,
      "--rig-file",
      rigFile,
      "--serve",
      "--sessions",
      "3",
      "--study",
      "resume e2e",
      ...small,
    ]);
    const api1 = await first.serving();
    const p2 = await waitingProposal(api1, 2, first);
    expect((await post(api1, "approveProposal", { id: p2.id, decision: "approve" })).status).toBe(200);
    // Session 2 runs and the model retrains; the proposal for session 3 appears; the controller dies.
    const p3 = await waitingProposal(api1, 3, first);
    await first.kill();
    expect(first.child.signalCode).toBe("SIGKILL");

    const peek = SessionStore.open(db);
    const stepsBefore = studySteps(peek.db, findStudy(peek.db, "resume e2e")!.id).length;
    try {
      expect(peek.listSessions().map((s) => s.state)).toEqual(["completed", "completed"]);
      expect(listProposals(peek.db).map((p) => [p.sessionNumber, p.decision?.decision ?? null])).toEqual([
        [2, "approved"],
        [3, null],
      ]);
    } finally {
      peek.close();
    }

    // Bad input, refused with nothing done: another rig, an unknown study.
    const otherRig = join(tmp.dir, "other-rig.json");
    const rig = JSON.parse(readFileSync(rigFile, "utf8")) as { acquisition: { dataPort: number } };
    const port = rig.acquisition.dataPort;
    writeFileSync(otherRig, JSON.stringify({ ...rig, acquisition: { ...rig.acquisition, dataPort: port + 100 } }));
    await expect(runCampaignCommand(resumeOnly(db, "resume e2e", otherRig), () => {})).rejects.toThrow(
      new RegExp(`describes a different rig \\(acquisition\\.dataPort: ${port} in the study, ${port + 100} in the`),
    );
    await expect(runCampaignCommand(resumeOnly(db, "no such study"), () => {})).rejects.toThrow(
      /There is no study "no such study" .*nothing was done\. Its studies: 1 "resume e2e"/,
    );
    const check = SessionStore.open(db);
    try {
      expect(studySteps(check.db, 1).length).toBe(stepsBefore);
      expect(check.listSessions().length).toBe(2);
    } finally {
      check.close();
    }

    // The one command: the same study goes on from where it was, waiting on the same proposal.
    const second = new Controller(["--resume", "resume e2e", "--db", db, "--serve", "--backend", "wasm"]);
    const api2 = await second.serving();
    const again = await waitingProposal(api2, 3, second);
    expect(again.id).toBe(p3.id);
    expect((await post(api2, "approveProposal", { id: p3.id, decision: "approve" })).status).toBe(200);
    const twice = await post(api2, "approveProposal", { id: p3.id, decision: "approve" });
    expect(twice.status).toBe(409);
    expect(twice.body.message).toMatch(/already approved .*nothing was done/);
    expect(await second.exited).toBe(0);

    const log = second.stderr;
    expect(log).toMatch(/resuming study 1 "resume e2e"/);
    expect(log).toMatch(/session 1 was recorded before the stop/);
    expect(log).toMatch(/session 2 was recorded before the stop/);
    expect(log).toMatch(/the model after session 2 was trained before the stop/);
    const curve = log.split("\n").find((l) => l.startsWith("active selection: session 1:"));
    expect(curve).toBeDefined();
    // The study's curve, printed: median held-out r²_ER after each session.
    console.log(`study curve: ${curve}`);
    const point = (n: number): string => `session ${n}: \\d+ images → r²_ER -?\\d\\.\\d{3}`;
    expect(curve).toMatch(new RegExp(`${point(1)}.*; ${point(2)}.*; ${point(3)}`));

    const store = SessionStore.open(db);
    try {
      // Nothing redone, nothing lost: three sessions, one full retrain after each, two proposals approved on the web.
      expect(store.listSessions().map((s) => [s.name, s.state])).toEqual([
        ["resume e2e session 1", "completed"],
        ["resume e2e session 2", "completed"],
        ["resume e2e session 3", "completed"],
      ]);
      const retrains = store.listModelVersions().filter((m) => / ensemble after session \d$/.test(m.name));
      expect(retrains.map((m) => m.name)).toEqual([1, 2, 3].map((n) => `resume e2e ensemble after session ${n}`));
      expect(listProposals(store.db).map((p) => [p.sessionNumber, p.decision?.decision, p.decision?.via])).toEqual([
        [2, "approved", "web"],
        [3, "approved", "web"],
      ]);
      // Each proposal the study stored carries the designing ensemble's prediction for every image it shows.
      for (const p of listProposals(store.db)) {
        expect(new Set(p.predictions?.images.map((i) => i.sha256))).toEqual(new Set(p.stimuli));
        expect(p.predictions?.modelVersionId).toBe(p.modelVersionId);
      }
      expect(studyState(studySteps(store.db, 1))).toBe("finished");
    } finally {
      store.close();
    }
    await expect(runCampaignCommand(resumeOnly(db, "resume e2e"), () => {})).rejects.toThrow(
      /finished at .* with 3 sessions recorded; there is nothing to resume and nothing was done/,
    );
  }, 600_000);

  it("a session interrupted mid-recording is kept, marked interrupted, and the study records it again", async () => {
    const rigFile = await simRig("mid");
    const db = join(tmp.dir, "mid.db");
    const out = join(tmp.dir, "mid");
    const controller = new Controller([
      "--db",
      db,
      "--out",
      out,
      "--rig-file",
      rigFile,
      "--sessions",
      "2",
      "--study",
      "mid-recording",
      ...small,
      "--images-per-session",
      "24",
      "--stimulus-ms",
      "50",
      "--inter-stimulus-ms",
      "50",
    ]);
    // Kill it once session 2 has presentations in the store.
    const deadline = Date.now() + 240_000;
    for (;;) {
      let shown = 0;
      try {
        const peek = new Database(db, { readonly: true, fileMustExist: true });
        try {
          shown = (
            peek
              .prepare(
                "SELECT COUNT(*) AS n FROM presentations p JOIN sessions s ON s.id = p.session_id WHERE s.name = ?",
              )
              .get("mid-recording session 2") as { n: number }
          ).n;
        } finally {
          peek.close();
        }
      } catch {
        // Not created yet.
      }
      if (shown >= 3) break;
      if (controller.child.exitCode !== null || Date.now() > deadline)
        throw new Error(`session 2 never started recording (exit ${controller.child.exitCode}):\n${controller.stderr}`);
      await new Promise((r) => setTimeout(r, 30));
    }
    await controller.kill();

    const lines: string[] = [];
    const { results } = await runCampaignCommand(resumeOnly(db, "mid-recording"), (l) => lines.push(l));
    expect(results[0]!.sessions.map((s) => [s.number, s.state])).toEqual([
      [1, "completed"],
      [2, "completed"],
    ]);
    expect(lines.some((l) => /session 2 was interrupted when the controller stopped/.test(l))).toBe(true);
    const store = SessionStore.open(db);
    try {
      const twos = store.listSessions().filter((s) => s.name === "mid-recording session 2");
      expect(twos.map((s) => s.state)).toEqual(["interrupted", "completed"]);
      // The interrupted one keeps what it recorded.
      expect(twos[0]!.presentations).toBeGreaterThanOrEqual(3);
      expect(store.sessionEvents(twos[0]!.id).at(-1)?.detail).toMatch(/stopped while this session was recording/);
      expect(results[0]!.sessions[1]!.sessionId).toBe(twos[1]!.id);
      const steps = studySteps(store.db, findStudy(store.db, "mid-recording")!.id);
      expect(steps.filter((s) => s.kind === "interrupted").map((s) => s.sessionId)).toEqual([twos[0]!.id]);
      expect(studyState(steps)).toBe("finished");
    } finally {
      store.close();
    }
  }, 600_000);
});
