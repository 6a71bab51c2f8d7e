import { applyCalibration } from "../../stimulus/index.js";
import { calibrationTables } from "../display/settings.js";
import type { StimulusWindowHost } from "../display/window-host.js";
import { WindowDisplay } from "../display/window-display.js";
import type { CountWindow, RigConfig } from "../protocol/schema.js";
import { FakeRig } from "../sim/fake-rig.js";
import { builtinNeurons } from "../sim/neurons.js";
import { NetworkEventsOutput } from "./network-events.js";
import { OpenEphysZmqAcquisition } from "./openephys-zmq.js";
import { SerialEventBox } from "./serial-eventbox.js";
import { networkEventsStrobeLine, type CodeLines } from "./ttl-codes.js";
import type { Display, EventCodeOutput, Rig } from "./types.js";
import { NullDisplay, VirtualDisplay } from "./virtual-display.js";

export interface RigFactoryOptions {
  countWindow: CountWindow;
  log?: (line: string) => void;
  /** The stimulus window's host, for `display.kind: "window"` (cortexloop run and the desktop app start one). */
  window?: { host: StimulusWindowHost; openHint?: string; timeoutMs?: number };
}

/** The count window a session uses: the protocol's if it sets one, else the rig file's. */
export function sessionCountWindow(rig: RigConfig, protocolWindow?: CountWindow): CountWindow {
  if (protocolWindow !== undefined) return protocolWindow;
  return {
    startMs: rig.acquisition.countWindowMs[0],
    endMs: rig.acquisition.countWindowMs[1],
    bins: rig.acquisition.countBins,
  };
}

/**
 * How the rig file's event codes ride on the TTL lines: the Network Events strobe, and the photodiode's line masked
 * out.
 */
export function codeLinesOf(rig: RigConfig): CodeLines {
  const photodiode = rig.display.kind === "none" ? undefined : rig.display.photodiode;
  return {
    strobeLine: rig.eventCodes.transport === "openephys-network-events" ? networkEventsStrobeLine : undefined,
    maskedLines: photodiode === undefined ? [] : [photodiode.line],
  };
}

/** A rig on real sockets and ports: Open Ephys ZMQ acquisition, event codes, and a display. */
export class OpenEphysRig implements Rig {
  constructor(
    readonly name: string,
    readonly acquisition: OpenEphysZmqAcquisition,
    readonly eventCodes: EventCodeOutput,
    readonly display: Display,
  ) {}

  async close(): Promise<void> {
    await Promise.allSettled([this.acquisition.stop(), this.eventCodes.close(), this.display.close()]);
  }
}

/** Builds the rig a rig file describes. */
export async function createRig(config: RigConfig, options: RigFactoryOptions): Promise<Rig> {
  if (config.acquisition.format === "in-process") {
    const sim = config.simulation ?? { neurons: "builtin", units: 16, seed: 7 };
    return new FakeRig({
      neurons: builtinNeurons(sim.units, sim.seed),
      seed: sim.seed,
      sampleRate: config.acquisition.sampleRate,
      countWindowMs: [options.countWindow.startMs, options.countWindow.endMs],
      bins: options.countWindow.bins,
    });
  }
  const acq = config.acquisition;
  const acquisition = new OpenEphysZmqAcquisition({
    host: acq.host,
    dataPort: acq.dataPort,
    sampleRate: acq.sampleRate,
    countWindow: options.countWindow,
    graceMs: acq.graceMs,
    codeLines: codeLinesOf(config),
    photodiodeLine: config.display.kind === "none" ? undefined : config.display.photodiode?.line,
    log: options.log,
  });
  const codes = config.eventCodes;
  let eventCodes: EventCodeOutput;
  if (codes.transport === "serial")
    eventCodes = new SerialEventBox({ path: codes.path, baudRate: codes.baudRate, log: options.log });
  else if (codes.transport === "openephys-network-events")
    eventCodes = new NetworkEventsOutput({
      host: codes.host,
      port: codes.port,
      replyTimeoutMs: codes.replyTimeoutMs,
      recording: codes.recording,
    });
  else {
    throw new Error(
      `Rig "${config.name}": event codes "in-process" only work with the in-process rig; nothing was run. Set ` +
        `eventCodes.transport to "serial" or "openephys-network-events".`,
    );
  }
  let display: Display;
  if (config.display.kind === "virtual") {
    const fits = config.display.calibration;
    const calibration = fits === undefined ? undefined : calibrationTables(fits);
    const calibrate =
      calibration === undefined
        ? undefined
        : (pixels0to255: Uint8Array) =>
            applyCalibration({ width: pixels0to255.length / 3, height: 1, pixels0to255 }, calibration).pixels0to255;
    display = new VirtualDisplay({ endpoint: config.display.endpoint, waitForSubscriberMs: 1000, calibrate });
  } else if (config.display.kind === "none") display = new NullDisplay();
  else if (options.window !== undefined) {
    const d = config.display;
    display = new WindowDisplay({
      host: options.window.host,
      tables: calibrationTables(d.calibration),
      patchFirstFrameOnly: (d.photodiode?.lit ?? "first-frame") === "first-frame",
      simulationEndpoint: d.simulationEndpoint,
      windowTimeoutMs: options.window.timeoutMs,
      openHint: options.window.openHint,
      log: options.log,
    });
  } else {
    throw new Error(
      `Rig "${config.name}": the "window" display needs the desktop app's stimulus window; nothing was run. Run ` +
        `the session from the desktop app, or use "display": {"kind": "virtual"} headless.`,
    );
  }
  return new OpenEphysRig(config.name, acquisition, eventCodes, display);
}
