/** Serving the built renderer (dist-renderer/) safely: shared by the web server and Electron's protocol handler. */
import { existsSync, statSync } from "node:fs";
import { extname, resolve, sep } from "node:path";

const types: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".map": "application/json; charset=utf-8",
};

export function contentTypeOf(path: string): string {
  return types[extname(path).toLowerCase()] ?? "application/octet-stream";
}

/** The Content-Security-Policy of the renderer page (browser mode and the packaged app). */
export function rendererCsp(extraConnect: string[] = []): string {
  return [
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self'${extraConnect.length > 0 ? ` ${extraConnect.join(" ")}` : ""}`,
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/**
 * Where the desktop renderer may open WebSockets besides itself: a session's web API on loopback (`run --serve`,
 * `campaign --serve`), which its Live view attaches to.
 */
export const desktopLiveConnectSources = ["ws://127.0.0.1:*", "ws://localhost:*"];

/**
 * Maps a URL path to a file under `root`, or undefined when it would leave `root`, does not
 * exist or is not a file. `/` and unknown paths without an extension give index.html (one-page app).
 */
export function resolveStaticPath(root: string, urlPath: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.split("?")[0].split("#")[0]);
  } catch {
    return undefined;
  }
  if (decoded.includes("\0")) return undefined;
  const base = resolve(root);
  const wanted = decoded === "/" || decoded === "" || extname(decoded) === "" ? "/index.html" : decoded;
  const full = resolve(base, `.${wanted.startsWith("/") ? wanted : `/${wanted}`}`);
  if (full !== base && !full.startsWith(base + sep)) return undefined;
  if (!existsSync(full) || !statSync(full).isFile()) return undefined;
  return full;
}
