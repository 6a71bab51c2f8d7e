/**
 * `cortexloop campaign --serve` feeds the live view: a WebSocket watcher sees each session's events, the retraining
 * job's validation checks and stored model versions, and the proposal, which it approves through the web API as the
 * page's button does; the campaign then runs the approved session. (In-process fake rig, wasm backend.)
 */
import { afterAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { WebSocket } from "ws";
import { runCampaignCommand, type CampaignFlags } from "../../src/main/cli-campaign.js";
import { tokenSubprotocolPrefix } from "../../src/main/api/server.js";
import type { LiveEvent, LiveMessage } from "../../src/main/api/contract.js";
import { readLiveEndpoint, type LiveEndpointLookup } from "../../src/main/live/endpoint-file.js";
import { smallCampaignFlags } from "../helpers/campaign.js";
import { tempDir } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-live-campaign-");
afterAll(() => tmp.cleanup());

function flags(onServing: CampaignFlags["onServing"]): CampaignFlags {
  return smallCampaignFlags(tmp.dir, {
    imagesPerSession: "12",
    testImages: "4",
    cycles: "2",
    steps: "3",
    rig: "fake",
    stimulusMs: "10",
    interStimulusMs: "10",
    compact: false,
    serve: true,
    onServing,
  });
}

describe("campaign --serve and the live view", () => {
  it("pushes sessions, retraining and the proposal; the proposal approved through the web API runs", async () => {
    const events: LiveEvent[] = [];
    let ws: WebSocket | undefined;
    let approved: Promise<Response> | undefined;
    let record: LiveEndpointLookup | undefined;
    let served: { url: string; token: string } | undefined;
    const { results } = await runCampaignCommand(
      flags((server) => {
        // The desktop app finds the campaign through the record beside the database.
        record = readLiveEndpoint(join(tmp.dir, "lab.db"));
        served = server;
        ws = new WebSocket(`${server.url.replace("http", "ws")}/api/ws`, [`${tokenSubprotocolPrefix}${server.token}`]);
        ws.on("open", () => ws!.send(JSON.stringify({ id: 1, subscribe: "live" })));
        ws.on("message", (data) => {
          const m = JSON.parse(String(data)) as { live?: LiveMessage };
          if (m.live?.type !== "batch") return;
          events.push(...m.live.events);
          for (const e of m.live.events) {
            if (e.kind !== "proposal" || e.proposal.decision !== null || approved !== undefined) continue;
            approved = fetch(`${server.url}/api/approveProposal`, {
              method: "POST",
              headers: { Authorization: `Bearer ${server.token}`, "Content-Type": "application/json" },
              body: JSON.stringify({ id: e.proposal.id, decision: "approve" }),
            });
          }
        });
      }),
      () => {},
    );
    ws?.close();
    expect(record).toMatchObject({ state: "running", record: { ...served, kind: "campaign", pid: process.pid } });
    expect(readLiveEndpoint(join(tmp.dir, "lab.db")).state).toBe("none");
    expect(approved).toBeDefined();
    expect((await approved!).status).toBe(200);
    expect(results[0]!.sessions.map((s) => s.state)).toEqual(["completed", "completed"]);
    const started = events.filter((e) => e.kind === "started");
    expect(started.map((e) => (e.kind === "started" ? e.sessionId : 0))).toEqual(
      results[0]!.sessions.map((s) => s.sessionId),
    );
    expect(events.filter((e) => e.kind === "ended").map((e) => (e.kind === "ended" ? e.state : ""))).toEqual([
      "completed",
      "completed",
    ]);
    expect(events.some((e) => e.kind === "counts")).toBe(true);
    const training = events.filter((e) => e.kind === "training");
    expect(training.length).toBeGreaterThan(0);
    expect(training[0]).toMatchObject({ afterSession: 1, cycle: 1 });
    const retrained = events.filter((e) => e.kind === "retrained");
    expect(retrained.map((e) => (e.kind === "retrained" ? e.modelVersionId : 0))).toEqual(
      results[0]!.modelVersionIds.slice(0, retrained.length),
    );
    const proposals = events.flatMap((e) => (e.kind === "proposal" ? [e.proposal] : []));
    expect(proposals.map((p) => p.decision?.decision ?? "waiting")).toEqual(["waiting", "approved"]);
    expect(proposals[0]!.sessionNumber).toBe(2);
    expect(proposals[0]!.stimuli.length).toBeGreaterThan(0);
    // The designing ensemble's predictions, stored with the proposal: one per image of each block, active learning's
    // picks with their disagreement (the selection score), from the model version that designed it.
    const predictions = proposals[0]!.predictions!;
    expect(predictions).toMatchObject({
      modelVersionId: results[0]!.modelVersionIds[0],
      members: 2,
      units: 4,
      readouts: [expect.any(String)],
      scale: "z-scored",
    });
    expect(new Set(predictions.images.map((i) => i.sha256))).toEqual(new Set(proposals[0]!.stimuli));
    for (const b of proposals[0]!.blocks)
      expect(predictions.images.filter((i) => i.block === b.name).length, b.name).toBe(b.images);
    for (const i of predictions.images) {
      expect(Number.isFinite(i.predicted), i.block).toBe(true);
      if (i.block === "active-learning") expect(i.disagreement).toBeGreaterThan(0);
      else expect(i.disagreement).toBeUndefined();
    }
    expect(predictions.images.some((i) => i.block === "active-learning")).toBe(true);
    expect(new Set(predictions.images.map((i) => i.predicted)).size).toBeGreaterThan(1);
  }, 300_000);
});
