/** Command-line options of the desktop app (no Electron import: unit-tested in plain Node). */
import { join } from "node:path";

export interface DesktopOptions {
  /** Lab database to review; undefined means the default in the user's data folder. */
  db: string | undefined;
  /** Vite dev server to load instead of the built renderer (development only, loopback only). */
  devServerUrl: string | undefined;
}

/** Reads `--db <file>` / `--db=<file>` (or CORTEXLOOP_DB) and CORTEXLOOP_DEV_URL (loopback http only). */
export function parseDesktopOptions(argv: readonly string[], env: Record<string, string | undefined>): DesktopOptions {
  let db: string | undefined = env.CORTEXLOOP_DB;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--db" && i + 1 < argv.length) db = argv[++i];
    else if (a.startsWith("--db=")) db = a.slice("--db=".length);
  }
  let devServerUrl: string | undefined;
  const dev = env.CORTEXLOOP_DEV_URL;
  if (dev !== undefined && dev.length > 0) {
    try {
      const u = new URL(dev);
      if (u.protocol === "http:" && (u.hostname === "localhost" || u.hostname === "127.0.0.1")) devServerUrl = u.origin;
    } catch {
      devServerUrl = undefined;
    }
  }
  return { db: db !== undefined && db.length > 0 ? db : undefined, devServerUrl };
}

export function defaultDatabase(userDataDir: string): string {
  return join(userDataDir, "cortexloop.db");
}
