import { afterEach, describe, expect, it } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, type RunningServer } from "../../src/main/api/server.js";
import { StoredApproval } from "../../src/main/campaign/stored-approval.js";
import type { Proposal } from "../../src/main/campaign/campaign.js";
import { SessionStore } from "../../src/main/store/index.js";
import { tempDir } from "../helpers/tmp.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(withCampaign: boolean) {
  const tmp = tempDir("cortexloop-api-proposals-");
  const store = SessionStore.open(join(tmp.dir, "lab.db"));
  const rendererDir = join(tmp.dir, "renderer");
  mkdirSync(rendererDir);
  writeFileSync(join(rendererDir, "index.html"), "<!doctype html>");
  const approval = new StoredApproval(store, { pollMs: 20 });
  const server = await startServer({
    store,
    rendererDir,
    port: 0,
    context: withCampaign ? { proposals: approval } : {},
  });
  cleanups.push(() => {
    store.close();
    tmp.cleanup();
  });
  cleanups.push(() => server.close());
  const sha = store.putStimulus(new Uint8Array([1, 2, 3]), { width: 1, height: 1, channels: 3, origin: "test" });
  const proposal: Proposal = {
    label: "campaign 7",
    session: 2,
    protocolFile: "campaign/session-2.json",
    description: "designed after session 1",
    blocks: [{ name: "test", images: 1, repeats: 3 }],
    presentations: 3,
    modelVersionId: undefined,
    protocolText: '{"name":"campaign 7 session 2"}',
    stimuli: [sha],
  };
  return { store, server, approval, proposal };
}

async function call(
  server: RunningServer,
  channel: string,
  request: unknown,
): Promise<{ status: number; body: { ok: boolean; code?: string; message?: string; value?: unknown } }> {
  const res = await fetch(`${server.url}/api/${channel}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${server.token}`, "Content-Type": "application/json" },
    body: JSON.stringify(request),
  });
  return {
    status: res.status,
    body: (await res.json()) as { ok: boolean; code?: string; message?: string; value?: unknown },
  };
}

describe("approving a proposal through the web API, as the app does", () => {
  it(
    "the campaign waits on its proposal until approveProposal decides it; a second approval is a 409 and changes " +
      "nothing",
    async () => {
      const { server, approval, proposal } = await setup(true);
      const decided = approval.approve(proposal);
      let waiting: { id: number }[] = [];
      while (waiting.length === 0) {
        const list = await call(server, "proposals", {});
        waiting = (list.body.value as { id: number; decision: unknown }[]).filter((p) => p.decision === null);
      }
      expect(approval.pending()?.id).toBe(waiting[0]!.id);
      const ok = await call(server, "approveProposal", { id: waiting[0]!.id, decision: "approve" });
      expect(ok.status).toBe(200);
      expect(ok.body.value).toMatchObject({
        id: waiting[0]!.id,
        sessionNumber: 2,
        decision: { decision: "approved", via: "web" },
      });
      await expect(decided).resolves.toBe(true);
      const twice = await call(server, "approveProposal", { id: waiting[0]!.id, decision: "approve" });
      expect(twice.status).toBe(409);
      expect(twice.body).toMatchObject({
        ok: false,
        code: "conflict",
        message: expect.stringMatching(/already approved .*nothing was done/),
      });
      const unknown = await call(server, "approveProposal", { id: 999, decision: "approve" });
      expect(unknown.status).toBe(404);
      const bad = await call(server, "approveProposal", { id: "1; DROP TABLE", decision: "yes" });
      expect(bad.status).toBe(400);
      // The server is still up and the store unchanged.
      const list = await call(server, "proposals", {});
      expect((list.body.value as { decision: { decision: string } }[]).map((p) => p.decision.decision)).toEqual([
        "approved",
      ]);
    },
  );

  it("a declined proposal stops the campaign (approve resolves false)", async () => {
    const { server, approval, proposal } = await setup(true);
    const decided = approval.approve(proposal);
    while (approval.pending() === undefined) await new Promise((r) => setTimeout(r, 10));
    expect((await call(server, "approveProposal", { id: approval.pending()!.id, decision: "decline" })).status).toBe(
      200,
    );
    await expect(decided).resolves.toBe(false);
    expect(approval.pending()).toBeUndefined();
  });

  it("the proposals reply carries the models' predicted responses where the designer stored them", async () => {
    const { server, approval, proposal } = await setup(true);
    const predictions = {
      modelVersionId: 3,
      readouts: ["session 1"],
      units: 5,
      members: 3,
      scale: "z-scored" as const,
      images: [{ block: "test", sha256: proposal.stimuli[0]!, predicted: 0.75, disagreement: 0.5 }],
    };
    // One stored without predictions (as before they existed), then one with them.
    const first = approval.approve(proposal);
    while (approval.pending() === undefined) await new Promise((r) => setTimeout(r, 10));
    approval.decide(approval.pending()!.id, "declined", "program");
    await first;
    const second = approval.approve({ ...proposal, session: 3, predictions });
    while (approval.pending() === undefined) await new Promise((r) => setTimeout(r, 10));
    const list = await call(server, "proposals", {});
    expect(list.status).toBe(200);
    const [older, newer] = list.body.value as { sessionNumber: number; predictions?: unknown }[];
    expect(older!.sessionNumber).toBe(2);
    expect(older).not.toHaveProperty("predictions");
    expect(newer).toMatchObject({ sessionNumber: 3, predictions });
    approval.decide(approval.pending()!.id, "declined", "program");
    await expect(second).resolves.toBe(false);
  });

  it("without a campaign waiting, approveProposal is a clear not-found", async () => {
    const { server } = await setup(false);
    const r = await call(server, "approveProposal", { id: 1, decision: "approve" });
    expect(r.status).toBe(404);
    expect(r.body.message).toMatch(/No campaign is waiting for approval here; nothing was decided/);
  });
});
