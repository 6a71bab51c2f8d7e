/** The command line's side of the stimulus display: serving the window page, the pre-flight prompt, the flags. */
import { createInterface } from "node:readline/promises";
import { join } from "node:path";
import type { RigConfig } from "./protocol/schema.js";
import type { Rig } from "./rig/types.js";
import type { SessionStore } from "./store/store.js";
import type { SessionDisplayRecord } from "./store/display-timing.js";
import { parseAccepted, preflightRefusal, type DisplayProblem } from "./display/preflight.js";
import { WindowDisplay } from "./display/window-display.js";
import {
  checkWindowDisplay,
  desktopWindowHint,
  startBrowserStimulus,
  virtualDisplayRecord,
} from "./display/window-session.js";
import type { StimulusWindowHost } from "./display/window-host.js";
import { projectRoot } from "./paths.js";

export interface DisplayFlags {
  /** Display checks to let through without asking: codes separated by commas, or `all`. */
  acceptDisplay?: string;
  /** Seconds to wait for the stimulus window to open. */
  windowTimeout?: string;
  /** Port of the stimulus page (0: a free one). */
  windowPort?: string;
  rendererDir?: string;
}

/** Asks on the terminal whether to go on despite the display's problems; no terminal means no. */
export async function askOnTerminal(problems: DisplayProblem[]): Promise<boolean> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return false;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const lines = problems.map((p) => `  - ${p.code}: ${p.message}.`);
    process.stderr.write(`The display is not ready:\n${lines.join("\n")}\n`);
    const answer = await rl.question("Run the session anyway? [y/N] ");
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** The display part of a session: started before the rig, checked before the runner, closed after. */
export interface SessionDisplaySetup {
  window?: { host: StimulusWindowHost; openHint: string; timeoutMs: number };
  /** Pre-flight: what the session stores about its display, or a refusal to say (nothing then runs). */
  check(rig: Rig): Promise<{ record?: SessionDisplayRecord; refusal?: string }>;
  close(reason: string): Promise<void>;
}

export async function sessionDisplaySetup(
  rig: RigConfig,
  store: SessionStore,
  flags: DisplayFlags,
  say: (line: string) => void,
  ask: (problems: DisplayProblem[]) => Promise<boolean> = askOnTerminal,
): Promise<SessionDisplaySetup> {
  if (rig.display.kind !== "window") {
    return { check: async () => ({ record: virtualDisplayRecord(rig) }), close: async () => {} };
  }
  const accepted = parseAccepted(flags.acceptDisplay);
  const timeoutS = Number(flags.windowTimeout ?? "120");
  if (!(timeoutS > 0)) {
    throw new Error(
      `--window-timeout must be a positive number of seconds, not "${flags.windowTimeout}"; nothing ran.`,
    );
  }
  const browser = await startBrowserStimulus({
    store,
    display: rig.display,
    rendererDir: flags.rendererDir ?? join(projectRoot, "dist-renderer"),
    port: flags.windowPort === undefined ? 0 : Number(flags.windowPort),
    log: say,
  });
  say(`Open the stimulus window full screen on the stimulus display (Chromium, F11), at:\n  ${browser.url}`);
  say(desktopWindowHint(browser.url, rig.display));
  process.stdout.write(`stimulus-window ${browser.url}\n`);
  const host = browser.host;
  return {
    window: { host, openHint: `open ${browser.url} in Chromium on the stimulus display.`, timeoutMs: timeoutS * 1000 },
    async check(r) {
      if (!(r.display instanceof WindowDisplay)) throw new Error("the rig's display is not the stimulus window");
      const checked = await checkWindowDisplay(r.display, rig, host, accepted, ask);
      const { decision } = checked;
      const refresh = checked.record.refreshHzMeasured;
      const expected = checked.record.refreshHzExpected;
      say(`stimulus window attached: refresh ${refresh?.toFixed(2)} Hz measured, ${expected} Hz expected`);
      if (!decision.proceed) return { refusal: preflightRefusal(decision.problems) };
      for (const p of decision.problems) say(`display check ${p.code} passed by ${decision.acceptedBy}: ${p.message}`);
      return { record: checked.record };
    },
    close: (reason) => browser.close(reason),
  };
}
