/** Command-line options of the desktop app (no Electron import: unit-tested in plain Node). */
import { join } from "node:path";

export interface DesktopOptions {
  /** Lab database to review; undefined means the default in the user's data folder. */
  db: string | undefined;
  /** Vite dev server to load instead of the built renderer (development only, loopback only). */
  devServerUrl: string | undefined;
  /**
   * `--stimulus-url <url>` (the address `cortexloop run` or `calibrate` prints, loopback http only) and
   * `--stimulus-screen id:N|index:N`: open only the stimulus window, full screen without frame on that display.
   */
  stimulus?: { url: string; screen: { id?: number; index?: number } };
  /** Why the stimulus options were refused (the app says so and exits). */
  stimulusError?: string;
  /** The tech view: `--rig <file>` (pre-flight, replays on the rig), `--protocols <dir>` (repeatable), --allow-runs. */
  tech: { rig?: string; protocols: string[]; allowRuns: boolean };
}

/** Reads --stimulus-url and --stimulus-screen; a bad value is a sentence in `error`. */
function parseStimulus(argv: readonly string[]): Pick<DesktopOptions, "stimulus" | "stimulusError"> {
  const value = (flag: string): string | undefined => {
    for (let i = 0; i < argv.length; i++) {
      const a = argv[i]!;
      if (a === flag && i + 1 < argv.length) return argv[i + 1];
      if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
    }
    return undefined;
  };
  const url = value("--stimulus-url");
  const screenText = value("--stimulus-screen");
  if (url === undefined) {
    return screenText === undefined
      ? {}
      : { stimulusError: "--stimulus-screen needs --stimulus-url (the address cortexloop run prints)" };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return {
      stimulusError: `--stimulus-url "${url.slice(0, 200)}" is not an address; copy the one cortexloop run prints`,
    };
  }
  if (
    parsed.protocol !== "http:" ||
    !["127.0.0.1", "localhost"].includes(parsed.hostname) ||
    !parsed.pathname.endsWith("/stimulus.html")
  ) {
    return {
      stimulusError:
        `--stimulus-url must be the stimulus page on this computer ` +
        `(http://127.0.0.1:<port>/stimulus.html#token=…), not ${parsed.origin}${parsed.pathname}`,
    };
  }
  const screen: { id?: number; index?: number } = {};
  if (screenText !== undefined) {
    const m = /^(id|index):(-?[0-9]+)$/.exec(screenText);
    if (m === null || (m[1] === "index" && Number(m[2]) < 0)) {
      return {
        stimulusError:
          `--stimulus-screen must be id:<display id> or index:<position from 0>, not "` +
          `${screenText.slice(0, 100)}"`,
      };
    }
    screen[m[1] as "id" | "index"] = Number(m[2]);
  }
  return { stimulus: { url: parsed.href, screen } };
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
  return {
    db: db !== undefined && db.length > 0 ? db : undefined,
    devServerUrl,
    ...parseStimulus(argv),
    tech: parseTech(argv),
  };
}

/** The tech view's options, as `cortexloop serve` takes them. */
function parseTech(argv: readonly string[]): DesktopOptions["tech"] {
  const tech: DesktopOptions["tech"] = { protocols: [], allowRuns: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--allow-runs") tech.allowRuns = true;
    else if ((a === "--rig" || a === "--protocols") && i + 1 < argv.length) {
      const value = argv[++i]!;
      if (a === "--rig") tech.rig = value;
      else tech.protocols.push(value);
    } else if (a.startsWith("--rig=")) tech.rig = a.slice("--rig=".length);
    else if (a.startsWith("--protocols=")) tech.protocols.push(a.slice("--protocols=".length));
  }
  return tech;
}

export function defaultDatabase(userDataDir: string): string {
  return join(userDataDir, "cortexloop.db");
}
