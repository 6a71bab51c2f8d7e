/**
 * The live view's feed: pushed messages from the controller, never polled. In a browser, the web API's WebSocket
 * (/api/ws, the token in its subprotocol) after `{"subscribe":"live"}`; in Electron, the preload's `cortexloopLive`
 * bridge (IPC events). A dropped socket reconnects and starts again from a fresh snapshot.
 */
import type { LiveMessage } from "../../main/api/contract.js";
import { pageToken } from "../transport.js";

export type FeedStatus = "connecting" | "open" | "closed" | "unavailable";

export interface LiveBridge {
  subscribe(onMessage: (message: LiveMessage) => void): () => void;
}

declare global {
  interface Window {
    cortexloopLive?: LiveBridge;
  }
}

/** The WebSocket subprotocol that carries the token (server.ts tokenSubprotocolPrefix). */
const tokenProtocolPrefix = "cortexloop.token.";

export function subscribeLive(
  onMessage: (message: LiveMessage) => void,
  onStatus: (status: FeedStatus, detail?: string) => void,
): () => void {
  if (window.cortexloopLive !== undefined) {
    onStatus("open");
    return window.cortexloopLive.subscribe(onMessage);
  }
  if (window.cortexloop !== undefined) {
    onStatus(
      "unavailable",
      "the desktop app does not host a running session; open the URL that `cortexloop run --serve` (or `campaign " +
        "--serve`) printed in a browser",
    );
    return () => {};
  }
  const token = pageToken();
  if (token === undefined) {
    onStatus("unavailable", "this page was opened without its access token; open the URL the controller printed");
    return () => {};
  }
  let socket: WebSocket | undefined;
  let retry: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;
  // A controller that ended (its session done) is retried less and less often, up to every 10 s.
  let delayMs = 1000;
  const connect = (): void => {
    onStatus("connecting");
    const url = `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}/api/ws`;
    const ws = new WebSocket(url, [`${tokenProtocolPrefix}${token}`]);
    socket = ws;
    ws.onopen = () => {
      delayMs = 1000;
      ws.send(JSON.stringify({ id: "live", subscribe: "live" }));
    };
    ws.onmessage = (e: MessageEvent<string>) => {
      let msg: { live?: LiveMessage; id?: unknown; reply?: { ok: boolean; message?: string } };
      try {
        msg = JSON.parse(e.data) as typeof msg;
      } catch {
        return;
      }
      if (msg.live !== undefined) onMessage(msg.live);
      else if (msg.id === "live" && msg.reply !== undefined)
        onStatus(msg.reply.ok ? "open" : "unavailable", msg.reply.ok ? undefined : msg.reply.message);
    };
    ws.onclose = () => {
      if (stopped) return;
      onStatus("closed", "the controller is not answering (did its session end?); reconnecting");
      retry = setTimeout(connect, delayMs);
      delayMs = Math.min(10_000, delayMs * 2);
    };
  };
  connect();
  return () => {
    stopped = true;
    if (retry !== undefined) clearTimeout(retry);
    socket?.close();
  };
}
