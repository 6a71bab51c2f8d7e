/**
 * Browser mode: the built renderer and the same contract over HTTP (POST /api/<channel>) and a
 * WebSocket (/api/ws), for one person on this machine. Loopback by default, a random token on
 * every API request, Origin and Host checked, request bodies capped, no CORS.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { createReadStream } from "node:fs";
import type { AddressInfo, Socket } from "node:net";
import { hostname, networkInterfaces } from "node:os";
import { WebSocketServer, type WebSocket } from "ws";
import type { SessionStore } from "../store/index.js";
import { maxRequestBytes, type ApiErrorCode, type ApiReply } from "./contract.js";
import { dispatch, type HandlerContext } from "./handlers.js";
import { parseRequestTarget } from "./request-target.js";
import { rendererOrigin } from "./ipc-guard.js";
import type { LiveMessage } from "./live-contract.js";
import { contentTypeOf, rendererCsp, resolveStaticPath } from "./static-files.js";

export interface ServerOptions {
  store: SessionStore;
  /** Folder of the built renderer (index.html and assets). */
  rendererDir: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Fixed token (tests); a random 32-byte one otherwise. */
  token?: string;
  maxBodyBytes?: number;
  log?: (line: string) => void;
  /** The stimulus window's host while a session or calibration runs with one (the contract's stimulus channels). */
  context?: HandlerContext;
}

export interface RunningServer {
  /** Base URL, e.g. http://127.0.0.1:5123 */
  url: string;
  /** The URL to open: base URL with the token in the fragment (never sent to the server). */
  openUrl: string;
  token: string;
  port: number;
  host: string;
  close(): Promise<void>;
}

/** A page this far behind on live pushes is dropped rather than buffered without end. */
const liveBacklogBytes = 4 * 1024 * 1024;

/** WebSocket subprotocol prefix carrying the token (browsers cannot set headers on a WebSocket). */
export const tokenSubprotocolPrefix = "cortexloop.token.";

const statusByCode: Record<ApiErrorCode, number> = {
  "unknown-channel": 404,
  "bad-request": 400,
  "not-found": 404,
  conflict: 409,
  forbidden: 403,
  unauthorized: 401,
  "too-large": 413,
  internal: 500,
};

export function isLoopbackHost(host: string): boolean {
  return (
    host === "127.0.0.1" ||
    host === "localhost" ||
    host === "::1" ||
    host === "[::1]" ||
    /^127\.\d+\.\d+\.\d+$/.test(host)
  );
}

function sameToken(given: string | undefined, token: string): boolean {
  if (given === undefined) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function securityHeaders(res: ServerResponse): void {
  res.setHeader("X-Content-Type-Options", "nosniff");
  res.setHeader("X-Frame-Options", "DENY");
  res.setHeader("Referrer-Policy", "no-referrer");
  res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
  res.setHeader("Cross-Origin-Resource-Policy", "same-origin");
  res.setHeader("Cache-Control", "no-store");
}

function sendReply(res: ServerResponse, reply: ApiReply<unknown>): void {
  const status = reply.ok ? 200 : statusByCode[reply.code];
  const body = JSON.stringify(reply);
  securityHeaders(res);
  res.writeHead(status, {
    "Content-Type": "application/json; charset=utf-8",
    "Content-Length": Buffer.byteLength(body),
  });
  res.end(body);
}

function refuse(res: ServerResponse, code: ApiErrorCode, message: string): void {
  sendReply(res, { ok: false, code, message });
}

function readBody(
  req: IncomingMessage,
  limit: number,
): Promise<{ ok: true; text: string } | { ok: false; tooLarge: true }> {
  return new Promise((resolveBody, rejectBody) => {
    const declared = Number(req.headers["content-length"] ?? "0");
    if (Number.isFinite(declared) && declared > limit) {
      resolveBody({ ok: false, tooLarge: true });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        done = true;
        cleanup();
        req.resume();
        resolveBody({ ok: false, tooLarge: true });
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      if (done) return;
      done = true;
      cleanup();
      resolveBody({ ok: true, text: Buffer.concat(chunks).toString("utf8") });
    };
    const onError = (err: Error): void => {
      if (done) return;
      done = true;
      cleanup();
      rejectBody(err);
    };
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onError);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
  });
}

/** Starts the server; resolves once it listens. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  const token = options.token ?? randomBytes(32).toString("base64url");
  const limit = options.maxBodyBytes ?? maxRequestBytes;
  const log = options.log ?? (() => {});
  const { store, rendererDir } = options;
  let port = 0;

  const bracket = (h: string): string => (h.includes(":") && !h.startsWith("[") ? `[${h}]` : h);
  const wildcard = host === "0.0.0.0" || host === "::" || host === "[::]";
  // A wildcard bind is reached through this machine's own addresses; a local browser uses loopback.
  const hostForUrl = wildcard ? "127.0.0.1" : bracket(host);
  const allowedHosts = (): Set<string> => {
    const names = new Set(["127.0.0.1", "localhost", "[::1]", hostForUrl]);
    if (wildcard) {
      for (const list of Object.values(networkInterfaces()))
        for (const a of list ?? []) names.add(bracket(a.address.split("%")[0]));
      names.add(hostname());
    }
    return new Set([...names].map((n) => `${n}:${port}`.toLowerCase()));
  };
  const allowedOrigins = (): Set<string> => new Set([...allowedHosts()].map((h) => `http://${h}`));

  /**
   * Host (DNS rebinding) and Origin (other sites) checks; a missing Origin is a non-browser client. The WebSocket also
   * admits the desktop app's own renderer (its Live view attaches to a session served here; the token still decides).
   */
  const originProblem = (req: IncomingMessage, desktop = false): string | undefined => {
    const hostHeader = (req.headers.host ?? "").toLowerCase();
    if (!allowedHosts().has(hostHeader)) return `the Host header "${hostHeader.slice(0, 80)}" is not this server`;
    const origin = req.headers.origin;
    if (desktop && origin?.toLowerCase() === rendererOrigin) return undefined;
    if (origin !== undefined && !allowedOrigins().has(origin.toLowerCase()))
      return `requests from the origin "${origin.slice(0, 80)}" are not allowed`;
    return undefined;
  };

  const bearer = (req: IncomingMessage): string | undefined => {
    const h = req.headers.authorization;
    if (typeof h !== "string") return undefined;
    const m = /^Bearer\s+(\S+)$/i.exec(h);
    return m?.[1];
  };

  async function handleApi(req: IncomingMessage, res: ServerResponse, channel: string): Promise<void> {
    if (req.method !== "POST") {
      res.setHeader("Allow", "POST");
      securityHeaders(res);
      res.writeHead(405, { "Content-Type": "application/json; charset=utf-8" });
      res.end(
        JSON.stringify({ ok: false, code: "bad-request", message: `Use POST for /api/${channel}; nothing was done.` }),
      );
      return;
    }
    if (!sameToken(bearer(req), token)) {
      refuse(
        res,
        "unauthorized",
        "The request has no valid token; nothing was read. Open the URL that `cortexloop serve` printed (it " +
          "carries the token after #token=).",
      );
      return;
    }
    const type = String(req.headers["content-type"] ?? "");
    if (!/^application\/json\b/i.test(type)) {
      refuse(res, "bad-request", "API requests must be JSON (Content-Type: application/json); nothing was read.");
      return;
    }
    const body = await readBody(req, limit);
    if (!body.ok) {
      res.setHeader("Connection", "close");
      refuse(
        res,
        "too-large",
        `The request body is larger than ${limit} bytes and was not read; send a smaller request.`,
      );
      return;
    }
    let parsed: unknown;
    try {
      parsed = body.text.length === 0 ? {} : (JSON.parse(body.text) as unknown);
    } catch {
      refuse(res, "bad-request", "The request body is not valid JSON; nothing was read.");
      return;
    }
    sendReply(res, await dispatch(store, channel, parsed, log, options.context));
  }

  function handleStatic(req: IncomingMessage, res: ServerResponse, path: string): void {
    if (req.method !== "GET" && req.method !== "HEAD") {
      securityHeaders(res);
      res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" });
      res.end("Method not allowed.\n");
      return;
    }
    const file = resolveStaticPath(rendererDir, path);
    securityHeaders(res);
    if (file === undefined) {
      res.writeHead(404, { "Content-Type": "text/plain; charset=utf-8" });
      res.end(`Not found. If this is the first run, build the renderer: npm run build:renderer\n`);
      return;
    }
    res.setHeader("Content-Security-Policy", rendererCsp());
    res.writeHead(200, { "Content-Type": contentTypeOf(file) });
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const stream = createReadStream(file);
    stream.on("error", () => res.destroy());
    stream.pipe(res);
  }

  const server: Server = createServer((req, res) => {
    try {
      route(req, res);
    } catch (err) {
      log(`request: ${err instanceof Error ? err.message : String(err)}`);
      if (!res.headersSent) refuse(res, "internal", "The request could not be handled; nothing was done. Try again.");
      else res.destroy();
    }
  });

  function route(req: IncomingMessage, res: ServerResponse): void {
    const target = parseRequestTarget(req.url);
    if (!target.ok) {
      refuse(res, "bad-request", `Refused: ${target.reason}. Nothing was read; request a path such as /api/<channel>.`);
      return;
    }
    const path = target.pathname;
    const problem = originProblem(req);
    if (problem !== undefined) {
      refuse(
        res,
        "forbidden",
        `Refused: ${problem}. Nothing was read. Open the URL that \`cortexloop serve\` printed.`,
      );
      return;
    }
    const api = /^\/api\/([A-Za-z0-9_-]{1,64})$/.exec(path);
    if (api !== null && api[1] !== "ws") {
      handleApi(req, res, api[1]).catch((err: unknown) => {
        log(`api ${api[1]}: ${err instanceof Error ? err.message : String(err)}`);
        if (!res.headersSent) refuse(res, "internal", "The request could not be read; nothing was done. Try again.");
        else res.destroy();
      });
      return;
    }
    if (path.startsWith("/api/")) {
      refuse(res, "unknown-channel", `There is no API route ${path.slice(0, 80)}; nothing was done.`);
      return;
    }
    handleStatic(req, res, path);
  }

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: limit,
    handleProtocols: (protocols) => {
      for (const p of protocols) if (p.startsWith(tokenSubprotocolPrefix)) return p;
      return false;
    },
  });

  /** Live batches to one page; a page that cannot keep up is closed (it reconnects and gets a fresh snapshot). */
  const pushLive = (ws: WebSocket, message: LiveMessage): void => {
    if (ws.readyState !== ws.OPEN) return;
    if (ws.bufferedAmount > liveBacklogBytes) {
      ws.close(1013, "the live view fell behind; reconnect for a fresh snapshot");
      return;
    }
    ws.send(JSON.stringify({ live: message }));
  };

  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });

  server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
    try {
      upgrade(req, socket, head);
    } catch (err) {
      log(`websocket upgrade: ${err instanceof Error ? err.message : String(err)}`);
      socket.destroy();
    }
  });

  function upgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const reject = (status: number, text: string): void => {
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    const target = parseRequestTarget(req.url);
    if (!target.ok) return reject(400, "Bad Request");
    if (target.pathname !== "/api/ws") return reject(404, "Not Found");
    if (originProblem(req, true) !== undefined) return reject(403, "Forbidden");
    const offered = String(req.headers["sec-websocket-protocol"] ?? "")
      .split(",")
      .map((p) => p.trim())
      .find((p) => p.startsWith(tokenSubprotocolPrefix));
    // Only the subprotocol carries the token: a URL query ends up in logs and history, and HTTP refuses it too.
    const given = offered?.slice(tokenSubprotocolPrefix.length);
    if (!sameToken(given, token)) return reject(401, "Unauthorized");
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
  }

  wss.on("connection", (ws: WebSocket) => {
    let unsubscribe: (() => void) | undefined;
    ws.on("close", () => unsubscribe?.());
    ws.on("message", (data, isBinary) => {
      let id: unknown = null;
      let reply: Promise<ApiReply<unknown>>;
      try {
        const msg = JSON.parse(isBinary ? "" : String(data)) as {
          id?: unknown;
          channel?: unknown;
          request?: unknown;
          subscribe?: unknown;
        };
        id = typeof msg.id === "number" || typeof msg.id === "string" ? msg.id : null;
        if (msg.subscribe === "live") {
          const live = options.context?.live;
          if (live !== undefined) unsubscribe ??= live.subscribe((m) => pushLive(ws, m));
          reply = Promise.resolve(
            live === undefined
              ? {
                  ok: false,
                  code: "not-found",
                  message:
                    "No session runs in this controller; nothing live to watch. Start one with `cortexloop run " +
                    "<protocol> --serve` and open the URL it prints.",
                }
              : { ok: true, value: { subscribed: "live" } },
          );
        } else reply = dispatch(store, msg.channel, msg.request, log, options.context);
      } catch {
        const message = "A WebSocket message must be JSON text: {id, channel, request}; nothing was done.";
        reply = Promise.resolve({ ok: false, code: "bad-request", message });
      }
      void reply.then((r) => ws.send(JSON.stringify({ id, reply: r })));
    });
    ws.on("error", (err) => log(`websocket: ${err.message}`));
  });

  await new Promise<void>((resolveListen, rejectListen) => {
    const onError = (err: Error): void => {
      server.off("listening", onListening);
      rejectListen(err);
    };
    const onListening = (): void => {
      server.off("error", onError);
      resolveListen();
    };
    server.once("error", onError);
    server.once("listening", onListening);
    server.listen(options.port ?? 0, host);
  });
  port = (server.address() as AddressInfo).port;
  const baseUrl = `http://${hostForUrl}:${port}`;

  let closing: Promise<void> | undefined;
  return {
    url: baseUrl,
    openUrl: `${baseUrl}/#token=${token}`,
    token,
    port,
    host,
    close() {
      closing ??= new Promise<void>((resolveClose) => {
        for (const client of wss.clients) client.terminate();
        wss.close();
        server.close(() => resolveClose());
        for (const s of sockets) s.destroy();
      });
      return closing;
    },
  };
}
