import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { WebSocket } from "ws";
import { startServer, tokenSubprotocolPrefix, type RunningServer } from "../../src/main/api/server.js";
import { tempDir } from "../helpers/tmp.js";
import { quickStore } from "./fixture.js";

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP request (fetch would not let us set Host or Origin freely). */
function call(
  server: RunningServer,
  path: string,
  options: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${server.url}${path}`,
      { method: options.method ?? "GET", headers: options.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }),
        );
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

function api(
  server: RunningServer,
  channel: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Answer> {
  return call(server, `/api/${channel}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${server.token}`, "Content-Type": "application/json", ...headers },
    body: JSON.stringify(body),
  });
}

let fx: Awaited<ReturnType<typeof quickStore>>;
let server: RunningServer;
const tmp = tempDir("cortexloop-srv-");

beforeAll(async () => {
  fx = await quickStore();
  const rendererDir = join(tmp.dir, "renderer");
  mkdirSync(rendererDir);
  writeFileSync(join(rendererDir, "index.html"), "<!doctype html><title>t</title>");
  server = await startServer({ store: fx.store, rendererDir, port: 0 });
});
afterAll(async () => {
  await server?.close();
  fx?.cleanup();
  tmp.cleanup();
});

describe("web API", () => {
  it("listens on loopback with a long random token, printed as a #token URL", () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(server.token.length).toBeGreaterThanOrEqual(40);
    expect(server.openUrl).toBe(`${server.url}/#token=${server.token}`);
  });

  it("answers a valid call with the contract's reply", async () => {
    const r = await api(server, "listSessions", {});
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ ok: true, value: [{ id: fx.sessionId }] });
    expect(r.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("refuses a missing or wrong token with 401", async () => {
    const none = await call(server, "/api/listSessions", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: "{}",
    });
    expect(none.status).toBe(401);
    expect(JSON.parse(none.body)).toMatchObject({ ok: false, code: "unauthorized" });
    const wrong = await api(server, "listSessions", {}, { Authorization: `Bearer ${server.token.slice(0, -2)}xx` });
    expect(wrong.status).toBe(401);
    const short = await api(server, "listSessions", {}, { Authorization: "Bearer x" });
    expect(short.status).toBe(401);
  });

  it("refuses other origins and foreign Host headers with 403", async () => {
    const evil = await api(server, "listSessions", {}, { Origin: "https://evil.example" });
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body)).toMatchObject({ ok: false, code: "forbidden" });
    const nullOrigin = await api(server, "listSessions", {}, { Origin: "null" });
    expect(nullOrigin.status).toBe(403);
    const rebinding = await api(server, "listSessions", {}, { Host: `evil.example:${server.port}` });
    expect(rebinding.status).toBe(403);
    const same = await api(server, "listSessions", {}, { Origin: server.url });
    expect(same.status).toBe(200);
    const viaLocalhost = await api(
      server,
      "listSessions",
      {},
      { Origin: `http://localhost:${server.port}`, Host: `localhost:${server.port}` },
    );
    expect(viaLocalhost.status).toBe(200);
  });

  it("refuses bodies over 64 KiB with 413, declared or streamed", async () => {
    const big = JSON.stringify({ session: 1, pad: "x".repeat(70 * 1024) });
    const declared = await call(server, "/api/getSession", {
      method: "POST",
      headers: {
        Authorization: `Bearer ${server.token}`,
        "Content-Type": "application/json",
        "Content-Length": String(Buffer.byteLength(big)),
      },
      body: big,
    });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body)).toMatchObject({ ok: false, code: "too-large" });
    const chunked = await call(server, "/api/getSession", {
      method: "POST",
      headers: {
        Authorization: `Bearer ${server.token}`,
        "Content-Type": "application/json",
        "Transfer-Encoding": "chunked",
      },
      body: big,
    });
    expect(chunked.status).toBe(413);
  });

  it("maps contract errors to HTTP statuses", async () => {
    expect((await api(server, "dropTables", {})).status).toBe(404);
    expect(JSON.parse((await api(server, "dropTables", {})).body)).toMatchObject({ code: "unknown-channel" });
    expect((await api(server, "getSession", { session: "zz" })).status).toBe(400);
    expect((await api(server, "getSession", { session: 999 })).status).toBe(404);
    expect(
      (await call(server, "/api/listSessions", { method: "GET", headers: { Authorization: `Bearer ${server.token}` } }))
        .status,
    ).toBe(405);
    const form = await call(server, "/api/listSessions", {
      method: "POST",
      headers: { Authorization: `Bearer ${server.token}`, "Content-Type": "text/plain" },
      body: "{}",
    });
    expect(form.status).toBe(400);
    const notJson = await call(server, "/api/listSessions", {
      method: "POST",
      headers: { Authorization: `Bearer ${server.token}`, "Content-Type": "application/json" },
      body: "{",
    });
    expect(notJson.status).toBe(400);
  });

  it("serves the renderer with a strict CSP and no traversal", async () => {
    const page = await call(server, "/");
    expect(page.status).toBe(200);
    expect(String(page.headers["content-security-policy"])).toMatch(/default-src 'self'.*img-src 'self' data:/);
    expect(page.headers["x-frame-options"]).toBe("DENY");
    // A route without an extension is the one-page app; nothing outside the renderer folder is ever read.
    const traversal = await call(server, "/../../etc/passwd");
    expect(traversal.body).toBe("<!doctype html><title>t</title>");
    expect((await call(server, "/..%2f..%2fetc%2fhostname.txt")).status).toBe(404);
    expect((await call(server, "/%2e%2e/%2e%2e/etc/os-release.txt")).status).toBe(404);
    expect((await call(server, "/", { method: "POST" })).status).toBe(405);
  });
});

/** Sends one request line as given (no client library normalizes it) and reads the status line back. */
function rawStatus(server: RunningServer, requestLine: string, headers: string[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(server.port, "127.0.0.1");
    let text = "";
    socket.on("data", (d: Buffer) => (text += d.toString("latin1")));
    socket.on("error", reject);
    socket.on("close", () => {
      const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
      if (m === null)
        reject(new Error(`no HTTP answer to ${JSON.stringify(requestLine)}: ${JSON.stringify(text.slice(0, 80))}`));
      else resolve(Number(m[1]));
    });
    const host = new URL(server.url).host;
    socket.write(
      `${requestLine}\r\nHost: ${host}\r\nConnection: close\r\n${headers.map((h) => `${h}\r\n`).join("")}\r\n`,
    );
  });
}

describe("malformed request targets", () => {
  const targets = [
    "//",
    "//evil.example/x",
    "///",
    "//?token=x",
    "http://[bad/",
    "*",
    "nonsense",
    "http://127.0.0.1//x",
  ];

  it.each(targets)("answers %s with 400 and stays up", async (target) => {
    expect(await rawStatus(server, `GET ${target} HTTP/1.1`)).toBe(400);
    // The same server still answers, API and static alike.
    expect((await api(server, "listSessions", {})).status).toBe(200);
    expect(await rawStatus(server, "GET / HTTP/1.1")).toBe(200);
  });

  it("answers a malformed target with a JSON error that says what to do", async () => {
    const body = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, "127.0.0.1");
      let text = "";
      socket.on("data", (d: Buffer) => (text += d.toString("utf8")));
      socket.on("error", reject);
      socket.on("close", () => resolve(text.slice(text.indexOf("\r\n\r\n") + 4)));
      socket.write(
        `POST //api/listSessions HTTP/1.1\r\nHost: ${new URL(server.url).host}\r\nConnection: ` +
          `close\r\nContent-Length: 0\r\n\r\n`,
      );
    });
    expect(JSON.parse(body)).toMatchObject({
      ok: false,
      code: "bad-request",
      message: expect.stringMatching(/starts with "\/\/".*Nothing was read/),
    });
  });

  it("accepts the absolute form of a valid target", async () => {
    expect(await rawStatus(server, `GET ${server.url}/ HTTP/1.1`)).toBe(200);
  });

  it("refuses a WebSocket upgrade to a malformed target with 400 and stays up", async () => {
    const upgrade = [
      "Upgrade: websocket",
      "Connection: Upgrade",
      "Sec-WebSocket-Version: 13",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
    ];
    expect(await rawStatus(server, "GET // HTTP/1.1", upgrade)).toBe(400);
    expect(
      await rawStatus(server, "GET //api/ws HTTP/1.1", [
        ...upgrade,
        `Sec-WebSocket-Protocol: ${tokenSubprotocolPrefix}${server.token}`,
      ]),
    ).toBe(400);
    expect((await api(server, "listSessions", {})).status).toBe(200);
  });
});

describe("WebSocket", () => {
  function open(url: string, protocols?: string[], headers?: Record<string, string>): Promise<WebSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, protocols, { headers });
      ws.once("open", () => resolve(ws));
      ws.once("error", reject);
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
  }
  const wsUrl = (): string => `${server.url.replace("http", "ws")}/api/ws`;

  it("answers calls when the token comes as a subprotocol", async () => {
    const ws = await open(wsUrl(), [`${tokenSubprotocolPrefix}${server.token}`]);
    try {
      const reply = await new Promise<unknown>((resolve) => {
        ws.once("message", (data) => resolve(JSON.parse(String(data))));
        ws.send(JSON.stringify({ id: 7, channel: "getSession", request: { session: fx.sessionId } }));
      });
      expect(reply).toMatchObject({ id: 7, reply: { ok: true, value: { id: fx.sessionId } } });
      const bad = await new Promise<unknown>((resolve) => {
        ws.once("message", (data) => resolve(JSON.parse(String(data))));
        ws.send(JSON.stringify({ id: 8, channel: "nope" }));
      });
      expect(bad).toMatchObject({ id: 8, reply: { ok: false, code: "unknown-channel" } });
    } finally {
      ws.close();
    }
  });

  it("refuses upgrades without the token, with a wrong one, or from another origin", async () => {
    await expect(open(wsUrl())).rejects.toThrow(/401/);
    await expect(open(wsUrl(), [`${tokenSubprotocolPrefix}nope`])).rejects.toThrow(/401/);
    await expect(open(`${wsUrl()}?token=nope`)).rejects.toThrow(/401/);
    // The right token in the URL query is refused too: HTTP refuses it there, and so does the WebSocket.
    await expect(open(`${wsUrl()}?token=${encodeURIComponent(server.token)}`)).rejects.toThrow(/401/);
    await expect(
      open(wsUrl(), [`${tokenSubprotocolPrefix}${server.token}`], { Origin: "https://evil.example" }),
    ).rejects.toThrow(/403/);
  });
});
