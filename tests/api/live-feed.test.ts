/**
 * The live view's feed and controls over the real web API: a WebSocket client subscribes and gets the state so far,
 * then batches (at most ~10 a second however fast events come); liveControl over HTTP pauses a real session recorded
 * on the in-process rig through the hub, and refuses clearly when nothing runs or no session is hosted here.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { join } from "node:path";
import { WebSocket } from "ws";
import { startServer, tokenSubprotocolPrefix, type RunningServer } from "../../src/main/api/server.js";
import { LiveHub } from "../../src/main/live/hub.js";
import type { LiveMessage } from "../../src/main/api/contract.js";
import { loadProtocolFile, loadRigFile } from "../../src/main/protocol/index.js";
import { createRig, sessionCountWindow } from "../../src/main/rig/index.js";
import { realClock, SessionRunner } from "../../src/main/runner/index.js";
import { SessionStore } from "../../src/main/store/index.js";
import { inProcessRigFile, tempDir, writeQuickProtocol } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-live-feed-");
let store: SessionStore;
let hub: LiveHub;
let server: RunningServer;
let bare: RunningServer;

beforeAll(async () => {
  store = SessionStore.open(join(tmp.dir, "lab.db"));
  hub = new LiveHub();
  server = await startServer({ store, rendererDir: tmp.dir, port: 0, context: { live: hub } });
  bare = await startServer({ store, rendererDir: tmp.dir, port: 0 });
});

afterAll(async () => {
  await server.close();
  await bare.close();
  store.close();
  tmp.cleanup();
});

function watch(s: RunningServer): Promise<{ ws: WebSocket; messages: LiveMessage[]; reply: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${s.url.replace("http", "ws")}/api/ws`, [`${tokenSubprotocolPrefix}${s.token}`]);
    const messages: LiveMessage[] = [];
    ws.on("error", reject);
    ws.on("open", () => ws.send(JSON.stringify({ id: 1, subscribe: "live" })));
    ws.on("message", (data) => {
      const m = JSON.parse(String(data)) as { live?: LiveMessage; id?: number; reply?: unknown };
      if (m.live !== undefined) messages.push(m.live);
      if (m.id === 1) resolve({ ws, messages, reply: m.reply });
    });
  });
}

async function control(s: RunningServer, action: string): Promise<{ status: number; body: { ok: boolean } }> {
  const res = await fetch(`${s.url}/api/liveControl`, {
    method: "POST",
    headers: { Authorization: `Bearer ${s.token}`, "Content-Type": "application/json" },
    body: JSON.stringify({ action }),
  });
  return { status: res.status, body: (await res.json()) as { ok: boolean } };
}

describe("live feed over the WebSocket", () => {
  it("a subscriber gets a snapshot, then coalesced batches at most every 100 ms", async () => {
    const { ws, messages, reply } = await watch(server);
    try {
      expect(reply).toEqual({ ok: true, value: { subscribed: "live" } });
      expect(messages[0]?.type).toBe("snapshot");
      const sha = "d".repeat(64);
      const t0 = Date.now();
      // 2,000 progress reports over about a second, in bursts.
      for (let burst = 0; burst < 20; burst++) {
        for (let k = 0; k < 100; k++) {
          const n = burst * 100 + k + 1;
          hub.publish({ kind: "presented", n, total: 2000, idx: n - 1, sha256: sha });
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 300));
      const seconds = (Date.now() - t0) / 1000;
      const batches = messages.filter((m) => m.type === "batch");
      expect(batches.length).toBeGreaterThan(3);
      expect(batches.length).toBeLessThanOrEqual(Math.ceil(seconds * 10) + 1);
      const last = batches[batches.length - 1]!;
      expect(last.type === "batch" && last.events[last.events.length - 1]).toMatchObject({ n: 2000 });
    } finally {
      ws.close();
    }
    await expect.poll(() => hub.watchers).toBe(0);
  });

  it("a controller hosting no session says so, over the WebSocket and over HTTP", async () => {
    const { ws, reply } = await watch(bare);
    ws.close();
    expect(reply).toMatchObject({ ok: false, code: "not-found" });
    const r = await control(bare, "pause");
    expect(r.status).toBe(404);
  });

  it("refuses a bad action (400) and a pause with no session running (409)", async () => {
    expect((await control(server, "explode")).status).toBe(400);
    expect((await control(server, "pause")).status).toBe(409);
  });

  it("pauses and resumes a real session through liveControl; the feed shows both", async () => {
    const file = writeQuickProtocol(tmp.dir, { count: 6, repeats: 2, stimulusMs: 40, interStimulusMs: 40 });
    const loaded = loadProtocolFile(file);
    const { rig: rigConfig, text } = loadRigFile(inProcessRigFile);
    const countWindow = sessionCountWindow(rigConfig, loaded.protocol.countWindow);
    const rig = await createRig(rigConfig, { countWindow });
    const { ws, messages } = await watch(server);
    let rigClosed = false;
    try {
      const runner = new SessionRunner({ clock: realClock, store, rig, events: hub.sink });
      const done = runner.run({
        protocol: loaded,
        rigName: rigConfig.name,
        rigText: text,
        countWindow,
        graceMs: 50,
        control: hub.control,
      });
      const shown = (): number => (hub.snapshot().phase === "running" ? (hub.snapshot().progress?.n ?? 0) : 0);
      await expect.poll(shown, { timeout: 10_000 }).toBeGreaterThanOrEqual(3);
      expect((await control(server, "pause")).status).toBe(200);
      await expect.poll(() => hub.snapshot().phase, { timeout: 5_000 }).toBe("paused");
      const at = hub.snapshot().progress!.n;
      await new Promise((r) => setTimeout(r, 400));
      expect(hub.snapshot().progress!.n).toBe(at);
      expect((await control(server, "resume")).status).toBe(200);
      const result = await done;
      rigClosed = true;
      expect(result.state).toBe("completed");
      await new Promise((r) => setTimeout(r, 250));
      const kinds = messages.flatMap((m) => (m.type === "batch" ? m.events.map((e) => e.kind) : []));
      expect(kinds).toEqual(expect.arrayContaining(["started", "counts", "paused", "resumed", "ended"]));
      const counted = messages
        .flatMap((m) => (m.type === "batch" ? m.events : []))
        .flatMap((e) => (e.kind === "counts" ? e.counts : [])).length;
      expect(counted).toBe(store.countResults(result.sessionId).length);
      // After the end there is nothing to control.
      expect((await control(server, "stop")).status).toBe(409);
    } finally {
      ws.close();
      // A failed check must not leave the session running on a store about to close.
      if (!rigClosed) hub.control.stop();
      await rig.close();
    }
  });
});
