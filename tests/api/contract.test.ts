import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { apiErrorCodes, channels, parseRequest, type ApiReply, type Replies } from "../../src/main/api/contract.js";
import { channelNames } from "../../src/main/api/channels.js";
import { dispatch, r2erOf } from "../../src/main/api/handlers.js";
import { guardIpcCall, isTrustedSenderUrl } from "../../src/main/api/ipc-guard.js";
import { resolveStaticPath } from "../../src/main/api/static-files.js";
import { sessionCsvFiles } from "../../src/main/export/index.js";
import type { SessionStore } from "../../src/main/store/index.js";
import { tempDir } from "../helpers/tmp.js";
import { quickStore } from "./fixture.js";

async function valueOf<T>(pending: Promise<ApiReply<unknown>>): Promise<T> {
  const reply = await pending;
  if (!reply.ok) throw new Error(`expected ok, got ${reply.code}: ${reply.message}`);
  return reply.value as T;
}

let fx: Awaited<ReturnType<typeof quickStore>>;
let store: SessionStore;
beforeAll(async () => {
  fx = await quickStore();
  store = fx.store;
});
afterAll(() => fx?.cleanup());

describe("contract", () => {
  it("lists the same channels as the dependency-free name list the preload uses", () => {
    expect([...channels].sort()).toEqual([...channelNames].sort());
  });

  it("refuses unknown fields, wrong types and bad hashes with bad-request", () => {
    expect(parseRequest("getSession", { session: 1 }).ok).toBe(true);
    expect(parseRequest("getSession", { session: "35c4b4b5" }).ok).toBe(true);
    for (const [channel, raw] of [
      ["getSession", {}],
      ["getSession", { session: -1 }],
      ["getSession", { session: "1; DROP TABLE" }],
      ["getSession", { session: 1, extra: true }],
      ["stimulus", { sha256: "abc" }],
      ["listSessions", { x: 1 }],
      ["listSessions", [1, 2]],
    ] as const) {
      const r = parseRequest(channel, raw);
      expect(r.ok, `${channel} ${JSON.stringify(raw)}`).toBe(false);
      if (!r.ok) {
        expect(r.code).toBe("bad-request");
        expect(r.message).toMatch(/nothing was read/);
      }
    }
  });
});

describe("ipc guard", () => {
  const good = "cortexloop://app/index.html";

  it("trusts only our renderer origin (and the dev server when configured)", () => {
    expect(isTrustedSenderUrl(good)).toBe(true);
    expect(isTrustedSenderUrl("cortexloop://app/assets/x.js#a")).toBe(true);
    expect(isTrustedSenderUrl("cortexloop://evil/index.html")).toBe(false);
    expect(isTrustedSenderUrl("file:///tmp/evil.html")).toBe(false);
    expect(isTrustedSenderUrl("https://example.org/")).toBe(false);
    expect(isTrustedSenderUrl("http://localhost:5173/")).toBe(false);
    expect(isTrustedSenderUrl("")).toBe(false);
    expect(isTrustedSenderUrl(undefined)).toBe(false);
    expect(isTrustedSenderUrl("not a url")).toBe(false);
    const dev = { devServerUrl: "http://localhost:5173" };
    expect(isTrustedSenderUrl("http://localhost:5173/index.html", dev)).toBe(true);
    expect(isTrustedSenderUrl("http://localhost:5174/", dev)).toBe(false);
    expect(isTrustedSenderUrl("http://localhost.evil.com:5173/", dev)).toBe(false);
  });

  it("refuses a wrong sender with forbidden, before looking at the channel", async () => {
    const logs: string[] = [];
    const r = await guardIpcCall(
      store,
      { senderUrl: "https://example.org/x", channel: "listSessions", request: {} },
      {},
      (l) => logs.push(l),
    );
    expect(r).toMatchObject({ ok: false, code: "forbidden" });
    expect(logs[0]).toMatch(/refused an IPC call from https:\/\/example.org/);
    expect(await guardIpcCall(store, { senderUrl: undefined, channel: "listSessions", request: {} })).toMatchObject({
      ok: false,
      code: "forbidden",
    });
    expect(
      await guardIpcCall(store, { senderUrl: good, isMainFrame: false, channel: "listSessions", request: {} }),
    ).toMatchObject({ ok: false, code: "forbidden" });
  });

  it("refuses unknown channels and bad arguments from our own renderer", async () => {
    expect(await guardIpcCall(store, { senderUrl: good, channel: "deleteEverything", request: {} })).toMatchObject({
      ok: false,
      code: "unknown-channel",
    });
    expect(await guardIpcCall(store, { senderUrl: good, channel: "__proto__", request: {} })).toMatchObject({
      ok: false,
      code: "unknown-channel",
    });
    expect(await guardIpcCall(store, { senderUrl: good, channel: 42, request: {} })).toMatchObject({
      ok: false,
      code: "unknown-channel",
    });
    expect(
      await guardIpcCall(store, { senderUrl: good, channel: "getSession", request: { session: { $gt: 0 } } }),
    ).toMatchObject({ ok: false, code: "bad-request" });
  });

  it("passes a valid call from our renderer through to the handler", async () => {
    const sessions = await valueOf<Replies["listSessions"]>(
      guardIpcCall(store, { senderUrl: good, isMainFrame: true, channel: "listSessions", request: {} }),
    );
    expect(sessions.map((s) => s.id)).toEqual([fx.sessionId]);
  });
});

describe("handlers", () => {
  it("every error code used is in the closed set", async () => {
    const codes = new Set<string>(apiErrorCodes);
    for (const r of await Promise.all([
      dispatch(store, "nope", {}),
      dispatch(store, "getSession", { session: 999 }),
      dispatch(store, "getSession", null),
    ])) {
      expect(r.ok).toBe(false);
      if (!r.ok) expect(codes.has(r.code)).toBe(true);
    }
  });

  it("getSession: protocol, rig, state history and counts", async () => {
    const s = await valueOf<Replies["getSession"]>(dispatch(store, "getSession", { session: fx.uuid.slice(0, 8) }));
    expect(s.id).toBe(fx.sessionId);
    expect(JSON.parse(s.protocolText)).toMatchObject({ name: "quick" });
    expect(s.rigText.length).toBeGreaterThan(0);
    expect(s.events.map((e) => e.kind)).toContain("completed");
    expect(s.state).toBe("completed");
    expect(s.counts.presentations).toBe(24);
    expect(s.counts.shown + s.counts.unconfirmed + s.counts.skipped).toBe(24);
    expect(await dispatch(store, "getSession", { session: 999 })).toMatchObject({ ok: false, code: "not-found" });
  });

  it("presentations carry stimulus hashes whose images can be fetched", async () => {
    const rows = await valueOf<Replies["presentations"]>(dispatch(store, "presentations", { session: fx.sessionId }));
    expect(rows).toHaveLength(24);
    expect(rows[0].stimulusSha256).toMatch(/^[0-9a-f]{64}$/);
    const img = await valueOf<Replies["stimulus"]>(dispatch(store, "stimulus", { sha256: rows[0].stimulusSha256 }));
    expect(img.dataUrl.startsWith("data:image/png;base64,iVBORw0KGgo")).toBe(true);
    expect(await dispatch(store, "stimulus", { sha256: "0".repeat(64) })).toMatchObject({
      ok: false,
      code: "not-found",
    });
  });

  it("unitResponses: means per stimulus match the stored counts; matrix is unit × presentation", async () => {
    const r = await valueOf<Replies["unitResponses"]>(dispatch(store, "unitResponses", { session: fx.sessionId }));
    const units = store.units(fx.sessionId);
    expect(r.units.map((u) => u.id)).toEqual(units.map((u) => u.id));
    expect(r.stimuli).toHaveLength(12);
    expect(r.stimuli.every((s) => s.presentations === 2)).toBe(true);
    expect(r.matrix.counts).toHaveLength(units.length);
    expect(r.matrix.counts[0]).toHaveLength(24);
    // Recompute one mean from the raw rows.
    const presentations = store.presentations(fx.sessionId);
    const sha = r.stimuli[3].sha256;
    const idxs = new Set(presentations.filter((p) => p.stimulusSha256 === sha).map((p) => p.idx));
    const u = units[0].id;
    const perPres = new Map<number, number>();
    for (const c of store.spikeCounts(fx.sessionId))
      if (c.unitId === u && idxs.has(c.presentationIdx))
        perPres.set(c.presentationIdx, (perPres.get(c.presentationIdx) ?? 0) + c.count);
    const expected = [...perPres.values()].reduce((a, b) => a + b, 0) / perPres.size;
    expect(r.stimuli[3].meanByUnit[0]).toBeCloseTo(expected, 9);
    expect(r.matrix.max).toBe(Math.max(...r.matrix.counts.flat().map((v) => v ?? 0)));
  });

  it("modelVersions: filtered by session, with r²_ER read from metrics", async () => {
    const forSession = await valueOf<Replies["modelVersions"]>(
      dispatch(store, "modelVersions", { session: fx.sessionId }),
    );
    expect(forSession.map((m) => [m.name, m.r2er])).toEqual([["ensemble-v1", 0.4321]]);
    const all = await valueOf<Replies["modelVersions"]>(dispatch(store, "modelVersions", {}));
    expect(all.map((m) => m.r2er)).toEqual([0.4321, 0.31]);
    expect(r2erOf({ loss: 1 })).toBeNull();
    expect(r2erOf({ r2er: Number.NaN })).toBeNull();
  });

  it("faults and exportCsv reuse the store and the CLI's CSV writer", async () => {
    expect(await valueOf<Replies["faults"]>(dispatch(store, "faults", { session: fx.sessionId }))).toEqual(
      expect.any(Array),
    );
    const csv = await valueOf<Replies["exportCsv"]>(dispatch(store, "exportCsv", { session: fx.sessionId }));
    expect(csv.files.map((f) => f.name)).toEqual([
      "presentations.csv",
      "units.csv",
      "spike_counts.csv",
      "responses.csv",
      "faults.csv",
    ]);
    expect(new Map(csv.files.map((f) => [f.name, f.text]))).toEqual(sessionCsvFiles(store, fx.sessionId));
  });

  it("an unexpected error becomes `internal`, logged in full, one line to the caller", async () => {
    const logs: string[] = [];
    const broken = new Proxy(store, {
      get(target, prop, receiver) {
        if (prop === "listSessions")
          return () => {
            throw new Error("disk I/O error");
          };
        return Reflect.get(target, prop, receiver) as unknown;
      },
    });
    const r = await dispatch(broken, "listSessions", {}, (l) => logs.push(l));
    expect(r).toMatchObject({ ok: false, code: "internal" });
    if (!r.ok) expect(r.message).toMatch(/disk I\/O error.*nothing changed/);
    expect(logs.join("\n")).toMatch(/disk I\/O error/);
  });
});

describe("static files", () => {
  const tmp = tempDir("cortexloop-static-");
  afterAll(() => tmp.cleanup());
  mkdirSync(join(tmp.dir, "r", "assets"), { recursive: true });
  writeFileSync(join(tmp.dir, "r", "index.html"), "<!doctype html>");
  writeFileSync(join(tmp.dir, "r", "assets", "a.js"), "1");
  writeFileSync(join(tmp.dir, "secret.txt"), "no");
  const root = join(tmp.dir, "r");

  it("serves files inside the renderer folder and index.html for routes", () => {
    expect(resolveStaticPath(root, "/")).toBe(join(root, "index.html"));
    expect(resolveStaticPath(root, "/sessions/3")).toBe(join(root, "index.html"));
    expect(resolveStaticPath(root, "/assets/a.js?v=1")).toBe(join(root, "assets", "a.js"));
  });

  it("never leaves the renderer folder", () => {
    for (const p of [
      "/../secret.txt",
      "/assets/../../secret.txt",
      "/%2e%2e/secret.txt",
      "/..%2fsecret.txt",
      "/%00.js",
      "/%E0%A4%A.js",
      "/nope.js",
    ]) {
      expect(resolveStaticPath(root, p), p).toBeUndefined();
    }
  });
});
