/**
 * The desktop's Live view attaching to a session in another process: the liveEndpoint channel (through the IPC guard,
 * as the desktop's main process answers it) reads the record `run --serve` writes beside the database, and the
 * renderer's socket transport (openLiveSocket, what DesktopLive.tsx opens; here with the `ws` package as its
 * WebSocket, sending the desktop renderer's Origin) receives the running session's live state from a real
 * `run --serve` child and calls the contract over the same socket. The record is gone once the child ends.
 */
import { afterAll, describe, expect, it } from "vitest";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { WebSocket } from "ws";
import { guardIpcCall, rendererOrigin } from "../../src/main/api/ipc-guard.js";
import { dispatch } from "../../src/main/api/handlers.js";
import type { ApiReply, LiveEndpointReply, LiveMessage, LiveState } from "../../src/main/api/contract.js";
import { emptyLiveState, reduceLive } from "../../src/main/api/live-state.js";
import { writeLiveEndpoint } from "../../src/main/live/endpoint-file.js";
import { SessionStore } from "../../src/main/store/index.js";
import { liveSocketUrl, openLiveSocket, parseLiveUrl, type SocketLike } from "../../src/renderer/transport.js";
import { repoRoot, tempDir, writeQuickProtocol } from "../helpers/tmp.js";

const tmp = tempDir("cortexloop-live-attach-");
afterAll(() => tmp.cleanup());

/** The desktop renderer's WebSocket, as Chromium opens it from cortexloop://app. */
const desktopSocket =
  (origin: string) =>
  (url: string, protocols: string[]): SocketLike =>
    new WebSocket(url, protocols, { origin }) as unknown as SocketLike;

async function endpointOf(store: SessionStore): Promise<LiveEndpointReply> {
  const reply = (await guardIpcCall(store, {
    senderUrl: `${rendererOrigin}/index.html`,
    isMainFrame: true,
    channel: "liveEndpoint",
    request: {},
  })) as ApiReply<LiveEndpointReply>;
  if (!reply.ok) throw new Error(reply.message);
  return reply.value;
}

describe("liveEndpoint channel", () => {
  it("says none, then the record's URL and token, then none again when the record is stale", async () => {
    const db = join(tmp.dir, "handler.db");
    const store = SessionStore.open(db);
    try {
      const none = await endpointOf(store);
      expect(none.state).toBe("none");
      if (none.state === "none") expect(none.message).toContain("No session runs with --serve");
      const handle = writeLiveEndpoint(db, { url: "http://127.0.0.1:45678", token: "t0k", kind: "campaign" })!;
      expect(await endpointOf(store)).toMatchObject({
        state: "running",
        url: "http://127.0.0.1:45678",
        token: "t0k",
        pid: process.pid,
        kind: "campaign",
      });
      handle.remove();
      const dead = Number(spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"]).stdout);
      writeFileSync(
        `${db}.live.json`,
        JSON.stringify({ url: "http://127.0.0.1:1", token: "x", pid: dead, startedAt: "2026-01-01", kind: "run" }),
      );
      const stale = await endpointOf(store);
      expect(stale.state === "none" && stale.message).toContain("stale");
      // Arguments are checked like every channel's.
      const bad = await dispatch(store, "liveEndpoint", { db: "/elsewhere.db" });
      expect(bad.ok === false && bad.code).toBe("bad-request");
    } finally {
      store.close();
    }
  });

  it("a pasted live URL gives the base URL and token; others are refused with the reason", () => {
    expect(parseLiveUrl(" http://127.0.0.1:4321/#/live&token=a%2Bb ")).toEqual({
      ok: true,
      url: "http://127.0.0.1:4321",
      token: "a+b",
    });
    expect(parseLiveUrl("http://127.0.0.1:4321/#token=abc")).toMatchObject({ ok: true, token: "abc" });
    expect(parseLiveUrl("http://127.0.0.1:4321/#/live")).toMatchObject({ ok: false, message: /no token/ });
    expect(parseLiveUrl("http://lab-pc.example:4321/#token=a")).toMatchObject({ ok: false, message: /this machine/ });
    expect(parseLiveUrl("not a url")).toMatchObject({ ok: false });
    expect(liveSocketUrl("http://127.0.0.1:4321")).toBe("ws://127.0.0.1:4321/api/ws");
  });
});

describe("desktop attach to a run --serve child", () => {
  it("finds the record, gets the session's live state over the socket, sees the record go at the end", async () => {
    const db = join(tmp.dir, "lab.db");
    const protocol = writeQuickProtocol(tmp.dir, { count: 8, repeats: 3, stimulusMs: 60, interStimulusMs: 60 });
    const child = spawn(
      process.execPath,
      [join(repoRoot, "bin", "cortexloop.js"), "run", protocol, "--db", db, "--serve"],
      {
        cwd: repoRoot,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    try {
      await expect.poll(() => existsSync(`${db}.live.json`), { timeout: 30_000, interval: 100 }).toBe(true);
      const store = SessionStore.open(db, { readonly: true });
      try {
        const found = await endpointOf(store);
        expect(found.state, stderr).toBe("running");
        if (found.state !== "running") return;
        expect(found.pid).toBe(child.pid);
        expect(found.kind).toBe("run");

        // A page of another origin is refused; the desktop renderer's is let in (the token still decides).
        const foreign = new WebSocket(liveSocketUrl(found.url), [`cortexloop.token.${found.token}`], {
          origin: "http://evil.example",
        });
        const refused = await new Promise<number>((resolve) =>
          foreign.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0)),
        );
        expect(refused).toBe(403);

        let state: LiveState = emptyLiveState();
        let batches = 0;
        const statuses: string[] = [];
        const socket = openLiveSocket({
          url: liveSocketUrl(found.url),
          token: found.token,
          socket: desktopSocket(rendererOrigin),
          onMessage: (m: LiveMessage) => {
            if (m.type === "snapshot") state = m.state;
            else {
              state = reduceLive(state, m.events);
              batches += 1;
            }
          },
          onStatus: (s) => statuses.push(s),
        });
        try {
          await expect.poll(() => statuses.at(-1), { timeout: 10_000 }).toBe("open");
          await expect.poll(() => state.committed, { timeout: 30_000 }).toBeGreaterThan(2);
          expect(batches).toBeGreaterThan(0);
          expect(state.session?.total).toBe(48);
          // The contract over the same socket: the controls' channel reaches that session's controller.
          const snap = await socket.api.liveState({});
          expect(snap.ok).toBe(true);
          if (snap.ok) expect(snap.value.session?.name).toBe(state.session?.name);
          await expect.poll(() => state.phase, { timeout: 30_000 }).toBe("ended");
          expect(state.ended?.presented).toBe(48);
        } finally {
          socket.close();
        }
        expect(await exited).toBe(0);
        expect(existsSync(`${db}.live.json`)).toBe(false);
        expect((await endpointOf(store)).state).toBe("none");
      } finally {
        store.close();
      }
    } finally {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    }
  });
});
