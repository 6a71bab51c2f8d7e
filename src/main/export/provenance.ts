/** What made an export: the software and its version, read once from package.json. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { projectRoot } from "../paths.js";

let cached: { name: string; version: string } | undefined;

export function softwareVersion(): { name: string; version: string } {
  if (cached === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(resolve(projectRoot, "package.json"), "utf8")) as {
        name?: string;
        version?: string;
      };
      cached = { name: pkg.name ?? "cortexloop", version: pkg.version ?? "unknown" };
    } catch {
      cached = { name: "cortexloop", version: "unknown" };
    }
  }
  return cached;
}

/** A name safe in a file name: letters, digits, dot, dash, underscore. */
export function safeName(name: string, fallback = "session"): string {
  return (
    name
      .replace(/[^A-Za-z0-9._-]+/g, "-")
      .replace(/^-+|-+$/g, "")
      .slice(0, 40) || fallback
  );
}
