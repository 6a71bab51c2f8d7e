/**
 * The live view's feed: pushed messages from the controller, never polled. In a browser, the web API's WebSocket
 * (/api/ws, the token in its subprotocol) after `{"subscribe":"live"}` (transport.ts openLiveSocket; the desktop app
 * opens the same socket to the endpoint of a session running with --serve, DesktopLive.tsx), or a `cortexloopLive`
 * bridge where one is exposed. A dropped socket reconnects and starts again from a fresh snapshot.
 */
import type { LiveMessage } from "../../main/api/contract.js";
import { openLiveSocket, pageToken, type FeedStatus } from "../transport.js";

export type { FeedStatus };

export interface LiveBridge {
  subscribe(onMessage: (message: LiveMessage) => void): () => void;
}

declare global {
  interface Window {
    cortexloopLive?: LiveBridge;
  }
}

/** The browser page's feed: the WebSocket of the controller that served it. (The desktop's: DesktopLive.tsx.) */
export function subscribeLive(
  onMessage: (message: LiveMessage) => void,
  onStatus: (status: FeedStatus, detail?: string) => void,
): () => void {
  if (window.cortexloopLive !== undefined) {
    onStatus("open");
    return window.cortexloopLive.subscribe(onMessage);
  }
  const token = pageToken();
  if (token === undefined) {
    onStatus("unavailable", "this page was opened without its access token; open the URL the controller printed");
    return () => {};
  }
  const url = `${window.location.protocol === "https:" ? "wss" : "ws"}://${window.location.host}/api/ws`;
  const socket = openLiveSocket({ url, token, onMessage, onStatus });
  return () => socket.close();
}
