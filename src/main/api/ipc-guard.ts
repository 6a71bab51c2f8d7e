/**
 * The checks every Electron IPC call passes before it reaches a handler, kept free of Electron
 * so they run (and are tested) in plain Node: the sender must be one of our own frames, the
 * channel must be in the contract, the arguments must validate.
 */
import type { SessionStore } from "../store/index.js";
import type { ApiReply } from "./contract.js";
import { dispatch, type ErrorLog, type HandlerContext } from "./handlers.js";

/** The privileged scheme and host the packaged renderer is served from inside Electron. */
export const rendererScheme = "cortexloop";
export const rendererHost = "app";
export const rendererOrigin = `${rendererScheme}://${rendererHost}`;

export interface TrustedRenderer {
  /** Origin of the packaged renderer (default `cortexloop://app`). */
  origin?: string;
  /** Vite dev server URL while developing (e.g. http://localhost:5173); only its exact origin is trusted. */
  devServerUrl?: string;
}

function originOf(url: string): string | undefined {
  try {
    const u = new URL(url);
    // Custom standard schemes report origin "null" in Node's URL: build it from the parts.
    return u.origin !== "null" ? u.origin : `${u.protocol}//${u.host}`;
  } catch {
    return undefined;
  }
}

/** True when a frame URL belongs to our renderer (or the dev server we started), nothing else. */
export function isTrustedSenderUrl(url: string | undefined | null, trusted: TrustedRenderer = {}): boolean {
  if (typeof url !== "string" || url.length === 0) return false;
  const origin = originOf(url);
  if (origin === undefined) return false;
  if (origin === (trusted.origin ?? rendererOrigin)) return true;
  if (trusted.devServerUrl !== undefined) {
    const dev = originOf(trusted.devServerUrl);
    const u = new URL(url);
    const loopback = u.hostname === "localhost" || u.hostname === "127.0.0.1" || u.hostname === "[::1]";
    return dev !== undefined && origin === dev && loopback;
  }
  return false;
}

export interface IpcCall {
  /** `event.senderFrame?.url` of the invoking frame (undefined when the frame is gone). */
  senderUrl: string | undefined | null;
  /** Whether the invoking frame is the top frame of its window (sub-frames are never trusted). */
  isMainFrame?: boolean;
  channel: unknown;
  request: unknown;
}

/** Runs one IPC call through sender, channel and argument checks; never throws. */
export async function guardIpcCall(
  store: SessionStore,
  call: IpcCall,
  trusted: TrustedRenderer = {},
  log: ErrorLog = () => {},
  context: HandlerContext = {},
): Promise<ApiReply<unknown>> {
  if (call.isMainFrame === false || !isTrustedSenderUrl(call.senderUrl, trusted)) {
    const where =
      typeof call.senderUrl === "string" && call.senderUrl.length > 0
        ? call.senderUrl.slice(0, 120)
        : "an unknown frame";
    const why = call.isMainFrame === false ? "a sub-frame, not the window's own page" : "not the cortexloop renderer";
    log(`refused an IPC call from ${where}: ${why}`);
    return {
      ok: false,
      code: "forbidden",
      message: `The call came from ${where} (${why}); it was refused and nothing was read.`,
    };
  }
  return dispatch(store, call.channel, call.request, log, context);
}
