import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { runCampaignCommand, type CampaignFlags } from "../../src/main/cli-campaign.js";
import type { Proposal } from "../../src/main/campaign/index.js";
import { describeProposal, terminalApproval } from "../../src/main/campaign/approve-prompt.js";
import { SessionStore } from "../../src/main/store/index.js";
import { listProposals } from "../../src/main/store/proposals.js";
import { smallCampaignFlags } from "../helpers/campaign.js";
import { tempDir } from "../helpers/tmp.js";
import { networkRigFile, SimRigProcess } from "../rig/session-harness.js";

const tmp = tempDir("cortexloop-rigfile-campaign-");
afterAll(() => tmp.cleanup());
const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function flags(name: string, rigFile: string): CampaignFlags {
  return smallCampaignFlags(tmp.dir, {
    imagesPerSession: "20",
    testImages: "6",
    db: join(tmp.dir, `${name}.db`),
    out: join(tmp.dir, name),
    candidates: "40",
    rig: "sim",
    rigFile,
    stimulusMs: "30",
    interStimulusMs: "30",
    compact: false,
  });
}

async function simRig(name: string): Promise<string> {
  const dir = join(tmp.dir, `${name}-rig`);
  mkdirSync(dir, { recursive: true });
  const rigFile = await networkRigFile(dir);
  const sim = new SimRigProcess();
  cleanups.push(() => sim.stop());
  await sim.start(["--rig", rigFile, "--seed", "9"]);
  return rigFile;
}

describe(
  "cortexloop campaign --rig-file: the closed loop on the rig a rig file names (here cortexloop sim-rig as " +
    "its own process)",
  () => {
    it("records each session on that rig and runs a designed session only once it is approved", async () => {
      const rigFile = await simRig("approved");
      const asked: Proposal[] = [];
      const lines: string[] = [];
      const { results } = await runCampaignCommand(
        flags("approved", rigFile),
        (l) => lines.push(l),
        async (p) => {
          asked.push(p);
          return true;
        },
      );
      const result = results[0]!;
      expect(result.sessions.map((s) => s.state)).toEqual(["completed", "completed"]);
      // One proposal, session 2, designed by the model trained on session 1: its blocks add up to what was run.
      expect(asked.map((p) => p.session)).toEqual([2]);
      expect(asked[0]!.modelVersionId).toBe(result.modelVersionIds[0]);
      expect(asked[0]!.blocks.map((b) => b.name)).toEqual(["test", "active-learning", "gaudy", "normal"]);
      expect(result.sessions[1]!.presented).toBe(asked[0]!.presentations);
      expect(describeProposal(asked[0]!).join("\n")).toMatch(
        /proposed session 2 .*\n.*held-out test \(6 images × 2\)[\s\S]*presentations in all/,
      );
      const store = SessionStore.open(flags("approved", rigFile).db);
      try {
        // Recorded on the rig file's rig (its name and text are stored with each session), not a simulator of the
        // campaign's.
        for (const s of result.sessions)
          expect(JSON.parse(store.rigText(store.findSession(s.sessionId)!.rigId))).toMatchObject({
            name: "test-sim-network",
          });
        expect(store.listSessions().length).toBe(2);
      } finally {
        store.close();
      }
      expect(lines.some((l) => l.startsWith("rig: test-sim-network from "))).toBe(true);
      expect(result.curve.length).toBe(2);
    }, 300_000);

    it("with --serve, each proposal is stored and approved through the local web API as the app does", async () => {
      const rigFile = await simRig("served");
      let served: { url: string; token: string } | undefined;
      const approvedIds: number[] = [];
      let done = false;
      const post = async (channel: string, request: unknown): Promise<{ status: number; value: unknown }> => {
        const res = await fetch(`${served!.url}/api/${channel}`, {
          method: "POST",
          headers: { Authorization: `Bearer ${served!.token}`, "Content-Type": "application/json" },
          body: JSON.stringify(request),
        });
        return { status: res.status, value: ((await res.json()) as { value?: unknown }).value };
      };
      // The app: lists the proposals, approves the one waiting.
      const app = (async () => {
        while (!done) {
          await new Promise((r) => setTimeout(r, 100));
          if (served === undefined) continue;
          // A call that fails (the server closing at the campaign's end, a connection reset on a loaded machine) is
          // tried again on the next round until the campaign has returned.
          const listed = await post("proposals", {}).catch(() => undefined);
          if (listed === undefined) continue;
          const list = listed.value as { id: number; decision: unknown }[];
          for (const p of list.filter((x) => x.decision === null)) {
            const r = await post("approveProposal", { id: p.id, decision: "approve" }).catch(() => undefined);
            if (r === undefined) continue;
            expect(r.status).toBe(200);
            approvedIds.push(p.id);
          }
        }
      })();
      const lines: string[] = [];
      try {
        const { results } = await runCampaignCommand(
          { ...flags("served", rigFile), serve: true, onServing: (s) => (served = s) },
          (l) => lines.push(l),
        );
        expect(results[0]!.sessions.map((x) => x.state)).toEqual(["completed", "completed"]);
      } finally {
        done = true;
        await app;
      }
      expect(approvedIds.length).toBe(1);
      expect(lines.some((l) => /^approve proposals in the app: http:\/\/127\.0\.0\.1:\d+\/#token=/.test(l))).toBe(true);
      const store = SessionStore.open(flags("served", rigFile).db);
      try {
        expect(listProposals(store.db)).toMatchObject([
          { id: approvedIds[0], sessionNumber: 2, decision: { decision: "approved", via: "web" } },
        ]);
      } finally {
        store.close();
      }
    }, 300_000);

    it(
      "stops before a session that is not approved, keeping its protocol written and stored; an unattended prompt " +
        "answers no",
      async () => {
        const rigFile = await simRig("declined");
        const lines: string[] = [];
        // No terminal: the prompt cannot ask, so nothing unapproved is recorded.
        const noTerminal = Object.assign(Readable.from([]), { isTTY: false });
        const { results } = await runCampaignCommand(
          flags("declined", rigFile),
          (l) => lines.push(l),
          terminalApproval((l) => lines.push(l), noTerminal),
        );
        const result = results[0]!;
        expect(result.sessions.length).toBe(1);
        expect(result.proposedProtocolFile).toBeDefined();
        expect(existsSync(result.proposedProtocolFile!)).toBe(true);
        expect(lines.some((l) => /no terminal to ask on: session 2 is not run/.test(l))).toBe(true);
        expect(lines.some((l) => /session 2 was not approved; the campaign stops here/.test(l))).toBe(true);
        const store = SessionStore.open(flags("declined", rigFile).db);
        try {
          expect(store.listSessions().length).toBe(1);
          const names = (store.db.prepare("SELECT name FROM protocols").all() as { name: string }[]).map((r) => r.name);
          expect(names.some((n) => n.endsWith("session 2 (proposed)"))).toBe(true);
        } finally {
          store.close();
        }
      },
      300_000,
    );
  },
);
