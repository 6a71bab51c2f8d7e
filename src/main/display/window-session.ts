/**
 * A session (or calibration) with the stimulus window in browser mode: the local web API serves the stimulus page to
 * one Chromium window on this machine (loopback, token) and the contract's stimulus channels reach the host; then the
 * display's pre-flight runs before anything is stored.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { startServer, type RunningServer } from "../api/server.js";
import type { RigConfig, WindowDisplayConfig } from "../protocol/schema.js";
import type { SessionDisplayRecord } from "../store/display-timing.js";
import type { SessionStore } from "../store/store.js";
import {
  decidePreflight,
  displayPreflight,
  type DisplayProblem,
  type DisplayProblemCode,
  type PreflightDecision,
} from "./preflight.js";
import { windowConfig, windowDefaults } from "./settings.js";
import type { WindowDisplay } from "./window-display.js";
import { StimulusWindowHost } from "./window-host.js";

export interface BrowserStimulus {
  host: StimulusWindowHost;
  server: RunningServer;
  /** The page to open in Chromium (it carries the token after #token=). */
  url: string;
  close(reason: string): Promise<void>;
}

/** Serves the stimulus page and its channels; the caller prints `url` for the experimenter (or a test) to open. */
export async function startBrowserStimulus(options: {
  store: SessionStore;
  display: WindowDisplayConfig;
  rendererDir: string;
  port?: number;
  log?: (line: string) => void;
}): Promise<BrowserStimulus> {
  if (!existsSync(join(options.rendererDir, "stimulus.html"))) {
    throw new Error(
      `The stimulus window page is not built (${options.rendererDir}/stimulus.html is missing). ` +
        "Run `npm run build:renderer`, then this command again. Nothing was run.",
    );
  }
  const host = new StimulusWindowHost(windowConfig(options.display));
  const server = await startServer({
    store: options.store,
    rendererDir: options.rendererDir,
    port: options.port ?? 0,
    host: "127.0.0.1",
    context: { stimulus: host },
    log: options.log,
  });
  return {
    host,
    server,
    url: `${server.url}/stimulus.html#token=${server.token}`,
    async close(reason) {
      host.close(reason);
      // Give the window's long poll a moment to hear it.
      await new Promise((r) => setTimeout(r, 100));
      await server.close();
    },
  };
}

export interface DisplayCheck {
  decision: PreflightDecision;
  /** What the session stores about its display. */
  record: SessionDisplayRecord;
}

/**
 * Opens the window display (waits for the window, measures its refresh), runs the pre-flight, and asks the
 * experimenter about any problem `accepted` does not cover.
 */
export async function checkWindowDisplay(
  display: WindowDisplay,
  rig: RigConfig,
  host: StimulusWindowHost,
  accepted: ReadonlySet<DisplayProblemCode>,
  ask?: (problems: DisplayProblem[]) => Promise<boolean>,
): Promise<DisplayCheck> {
  if (rig.display.kind !== "window") {
    throw new Error(`checkWindowDisplay: rig "${rig.name}" has a ${rig.display.kind} display`);
  }
  const config = rig.display;
  await display.open();
  const refresh = display.refresh!;
  const screen = host.attached?.screen;
  const problems = displayPreflight({ display: config, refresh, screen });
  const decision = await decidePreflight(problems, accepted, ask);
  const cal = config.calibration;
  return {
    decision,
    record: {
      kind: "window",
      sampleRate: rig.acquisition.sampleRate,
      refreshHzExpected: config.refreshHz ?? windowDefaults.refreshHz,
      refreshHzMeasured: refresh.hz,
      detail: {
        refresh,
        screen: screen ?? null,
        userAgent: host.attached?.userAgent ?? null,
        calibration:
          cal === undefined
            ? null
            : {
                date: cal.date ?? null,
                photometer: cal.photometer ?? null,
                maxDeviation: cal.validation?.maxDeviation ?? null,
              },
        preflight: { problems, decision: decision.acceptedBy },
      },
    },
  };
}

/** What a session on a virtual display with a photodiode stores about its display. */
export function virtualDisplayRecord(rig: RigConfig): SessionDisplayRecord | undefined {
  if (rig.display.kind !== "virtual" || rig.display.photodiode === undefined) return undefined;
  return {
    kind: "virtual",
    sampleRate: rig.acquisition.sampleRate,
    refreshHzExpected: null,
    refreshHzMeasured: null,
    detail: { endpoint: rig.display.endpoint },
  };
}

/** How to open the stimulus page in the desktop app, full screen on the display the rig file names. */
export function desktopWindowHint(url: string, display: WindowDisplayConfig): string {
  const s = display.screen;
  const screen =
    s?.id !== undefined
      ? ` --stimulus-screen id:${s.id}`
      : s?.index !== undefined
        ? ` --stimulus-screen index:${s.index}`
        : "";
  return (
    `or, full screen without frame on that display, the desktop app: npm start -- --stimulus-url '${url}'` + `${screen}`
  );
}
