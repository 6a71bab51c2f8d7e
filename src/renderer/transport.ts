/**
 * How the renderer reaches the controller: `window.cortexloop` from the Electron preload, or
 * fetch against `cortexloop serve` with the token from the URL fragment. Both have the
 * contract's shape, so the views never know which one they use.
 */
import type { ApiReply, Channel, CortexloopApi, LiveMessage, RequestOf, ReplyOf } from "../main/api/contract.js";
import { channelNames } from "../main/api/channels.js";

declare global {
  interface Window {
    cortexloop?: CortexloopApi;
  }
}

const tokenKey = "cortexloop.token";
let takenToken: string | undefined;

/** The token this page was opened with (the live view's WebSocket carries it too). */
export function pageToken(): string | undefined {
  return takenToken;
}

/**
 * Takes the token out of `#token=...` or `#/live&token=...` (keeping it for reloads of this tab) so it is not left in
 * the address bar; the rest of the fragment (the view to open) stays.
 */
export function takeTokenFromLocation(): string | undefined {
  const match = /(?:^#|&)token=([^&]+)/.exec(window.location.hash);
  if (match !== null) {
    const token = decodeURIComponent(match[1]);
    try {
      window.sessionStorage.setItem(tokenKey, token);
    } catch {
      // Storage can be disabled; the token still works until the tab is reloaded.
    }
    const rest = window.location.hash.replace(/[#&]token=[^&]*/, "").replace(/^#?/, "#");
    window.history.replaceState(
      null,
      "",
      window.location.pathname + window.location.search + (rest === "#" ? "" : rest),
    );
    takenToken = token;
    return token;
  }
  try {
    takenToken = window.sessionStorage.getItem(tokenKey) ?? undefined;
    return takenToken;
  } catch {
    return undefined;
  }
}

export function createBrowserTransport(token: string | undefined, base = ""): CortexloopApi {
  async function call<C extends Channel>(channel: C, request: RequestOf<C>): Promise<ApiReply<ReplyOf<C>>> {
    if (token === undefined) {
      return {
        ok: false,
        code: "unauthorized",
        message:
          "This page was opened without its access token. Open the full URL that `cortexloop serve` printed (it " +
          "ends in #token=…).",
      };
    }
    let res: Response;
    try {
      res = await fetch(`${base}/api/${channel}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
        body: JSON.stringify(request),
        credentials: "omit",
        cache: "no-store",
      });
    } catch (err) {
      return {
        ok: false,
        code: "internal",
        message:
          `The controller did not answer (${err instanceof Error ? err.message : String(err)}). Is ` +
          `\`cortexloop serve\` still running?`,
      };
    }
    try {
      return (await res.json()) as ApiReply<ReplyOf<C>>;
    } catch {
      return {
        ok: false,
        code: "internal",
        message: `The controller answered ${res.status} without a readable reply; try again.`,
      };
    }
  }
  const api: Partial<Record<Channel, (request: never) => Promise<ApiReply<unknown>>>> = {};
  for (const channel of channelNames) api[channel] = (request: never) => call(channel, request);
  return api as CortexloopApi;
}

/** Electron's bridge when present, the web API otherwise. */
export function createTransport(): { api: CortexloopApi; mode: "electron" | "browser" } {
  if (window.cortexloop !== undefined) return { api: window.cortexloop, mode: "electron" };
  return { api: createBrowserTransport(takeTokenFromLocation()), mode: "browser" };
}

/** How a live feed stands (the page says so while it is not open). */
export type FeedStatus = "connecting" | "open" | "closed" | "unavailable";

/** The part of a WebSocket the socket transport uses: the browser's, or in Node tests the `ws` package's. */
export interface SocketLike {
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { data: unknown }) => void) | null;
  onclose: ((event: unknown) => void) | null;
  send(data: string): void;
  close(): void;
}

export type SocketFactory = (url: string, protocols: string[]) => SocketLike;

/** The WebSocket subprotocol that carries the token (server.ts tokenSubprotocolPrefix). */
const tokenProtocolPrefix = "cortexloop.token.";

export interface LiveSocketOptions {
  /** The web API's WebSocket, ws://host:port/api/ws. */
  url: string;
  token: string;
  onMessage(message: LiveMessage): void;
  onStatus(status: FeedStatus, detail?: string): void;
  socket?: SocketFactory;
}

/** A live feed over the web API's WebSocket, and the contract's calls over the same socket. */
export interface LiveSocket {
  api: CortexloopApi;
  close(): void;
}

/** ws://host:port/api/ws of a web API's base URL (http://host:port). */
export function liveSocketUrl(base: string): string {
  return `${base.replace(/^http/, "ws").replace(/\/+$/, "")}/api/ws`;
}

/**
 * A live URL as `run --serve` prints it (`http://127.0.0.1:<port>/#/live&token=…`), pasted by hand: its base URL and
 * token, or why it cannot be used (the desktop reaches only loopback addresses).
 */
export function parseLiveUrl(text: string): { ok: true; url: string; token: string } | { ok: false; message: string } {
  let u: URL;
  try {
    u = new URL(text.trim());
  } catch {
    return { ok: false, message: "That is not a URL; paste the whole live-view URL the controller printed." };
  }
  const token = /(?:^#|&)token=([^&]+)/.exec(u.hash)?.[1];
  if (u.protocol !== "http:") return { ok: false, message: `The URL must start with http:// (got ${u.protocol}).` };
  if (!["127.0.0.1", "localhost"].includes(u.hostname))
    return {
      ok: false,
      message: `The desktop attaches only to a controller on this machine (127.0.0.1), not ${u.hostname}.`,
    };
  if (token === undefined)
    return {
      ok: false,
      message: "The URL has no token (…#/live&token=…); paste the whole URL the controller printed.",
    };
  return { ok: true, url: u.origin, token: decodeURIComponent(token) };
}

/**
 * Opens the live feed: subscribes on every (re)connect, so a dropped socket starts again from a fresh snapshot; a
 * controller that does not answer is retried less and less often, up to every 10 s. `api` sends the contract's
 * calls as `{id, channel, request}` on the open socket.
 */
export function openLiveSocket(options: LiveSocketOptions): LiveSocket {
  const make: SocketFactory = options.socket ?? ((url, protocols) => new WebSocket(url, protocols) as SocketLike);
  const pending = new Map<number, (reply: ApiReply<unknown>) => void>();
  let socket: SocketLike | undefined;
  let open = false;
  let nextId = 1;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  let delayMs = 1000;
  const failPending = (): void => {
    for (const resolve of pending.values())
      resolve({ ok: false, code: "internal", message: "The connection to the controller closed before it answered." });
    pending.clear();
  };
  const connect = (): void => {
    options.onStatus("connecting");
    const ws = make(options.url, [`${tokenProtocolPrefix}${options.token}`]);
    socket = ws;
    ws.onopen = () => {
      open = true;
      delayMs = 1000;
      ws.send(JSON.stringify({ id: "live", subscribe: "live" }));
    };
    ws.onmessage = (e) => {
      let msg: { live?: LiveMessage; id?: unknown; reply?: ApiReply<unknown> };
      try {
        msg = JSON.parse(String(e.data)) as typeof msg;
      } catch {
        return;
      }
      if (msg.live !== undefined) options.onMessage(msg.live);
      else if (msg.id === "live" && msg.reply !== undefined)
        options.onStatus(msg.reply.ok ? "open" : "unavailable", msg.reply.ok ? undefined : msg.reply.message);
      else if (typeof msg.id === "number" && msg.reply !== undefined) {
        pending.get(msg.id)?.(msg.reply);
        pending.delete(msg.id);
      }
    };
    ws.onclose = () => {
      open = false;
      failPending();
      if (stopped) return;
      options.onStatus("closed", "the controller is not answering (did its session end?); reconnecting");
      retry = setTimeout(connect, delayMs);
      delayMs = Math.min(10_000, delayMs * 2);
    };
  };
  function call<C extends Channel>(channel: C, request: RequestOf<C>): Promise<ApiReply<ReplyOf<C>>> {
    if (!open || socket === undefined)
      return Promise.resolve({
        ok: false,
        code: "internal",
        message: "Not connected to the session's controller right now; nothing was sent. Try again in a moment.",
      });
    const id = nextId++;
    const sent = socket;
    return new Promise((resolve) => {
      pending.set(id, resolve as (reply: ApiReply<unknown>) => void);
      sent.send(JSON.stringify({ id, channel, request }));
    });
  }
  const api: Partial<Record<Channel, (request: never) => Promise<ApiReply<unknown>>>> = {};
  for (const channel of channelNames) api[channel] = (request: never) => call(channel, request);
  connect();
  return {
    api: api as CortexloopApi,
    close() {
      stopped = true;
      if (retry !== undefined) clearTimeout(retry);
      socket?.close();
      failPending();
    },
  };
}
