/**
 * The request target of an HTTP request, parsed without throwing. Node hands the raw target to
 * the server as it came (`req.url`), and `new URL("//", base)` throws: a target is checked here,
 * inside the server's error handling, so a malformed one is a 400 and never ends the process.
 */

export type RequestTarget = { ok: true; pathname: string } | { ok: false; reason: string };

const placeholderBase = "http://placeholder";

/**
 * Origin form (`/path?query`, RFC 9112 §3.2.1) or absolute form (`http://host/path`, §3.2.2).
 * A path must be RFC 3986's path-absolute: it may not start with `//`, which a URL parser reads
 * as an authority (`//evil.example/x` would become the path `/x`). The asterisk form (`OPTIONS *`)
 * and the authority form (`CONNECT host:port`) name no resource here and are refused.
 */
export function parseRequestTarget(raw: string | undefined): RequestTarget {
  if (raw === undefined || raw.length === 0) return { ok: false, reason: "the request has no target" };
  const shown = JSON.stringify(raw.slice(0, 80));
  if (raw.startsWith("//"))
    return { ok: false, reason: `the request target ${shown} starts with "//", which is not a path` };
  let url: URL;
  try {
    if (raw.startsWith("/")) url = new URL(`${placeholderBase}${raw}`);
    else if (/^https?:\/\//i.test(raw)) url = new URL(raw);
    else return { ok: false, reason: `the request target ${shown} is neither a path nor an http URL` };
  } catch {
    return { ok: false, reason: `the request target ${shown} is not a valid URL` };
  }
  if (url.pathname.startsWith("//"))
    return { ok: false, reason: `the path of ${shown} starts with "//", which is not a path` };
  return { ok: true, pathname: url.pathname };
}
