/**
 * How the renderer reaches the controller: `window.cortexloop` from the Electron preload, or
 * fetch against `cortexloop serve` with the token from the URL fragment. Both have the
 * contract's shape, so the views never know which one they use.
 */
import type { ApiReply, Channel, CortexloopApi, RequestOf, ReplyOf } from "../main/api/contract.js";
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
