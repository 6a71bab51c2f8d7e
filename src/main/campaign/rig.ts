import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { LoadedProtocol } from "../protocol/load.js";
import { rigSchema, type CountWindow, type RigConfig } from "../protocol/schema.js";
import { createRig } from "../rig/factory.js";
import { simRigPorts } from "../rig/ports.js";
import { realClock, SessionRunner, type SessionResult } from "../runner/index.js";
import type { HealthOptions } from "../runner/health.js";
import type { OperatorControl, RunnerEventSink } from "../runner/index.js";
import type { Rig } from "../rig/types.js";
import { FakeRig } from "../sim/fake-rig.js";
import { builtinNeurons } from "../sim/neurons.js";
import { SimRig, type SimNeurons } from "../sim/sim-rig.js";
import type { SessionStore } from "../store/index.js";
import type { RgbImage } from "../../stimulus/index.js";
import { PreparedNeurons } from "./neuron-cache.js";

export type CampaignRigKind = "sim" | "fake";

export interface CampaignRigOptions {
  kind: CampaignRigKind;
  /** The recorded population; the campaign owns it (sessions never dispose it). */
  neurons: SimNeurons;
  /** What the neurons are, for the rig file: "builtin" or "compact". */
  neuronsKind: string;
  seed: number;
  countWindow: CountWindow;
  /** Where rig.json is written (protocols in this folder name it). */
  outDir: string;
  log?: (line: string) => void;
  /** The live view (campaign --serve): told each session's events, and its pause / resume / stop. */
  live?: { events: RunnerEventSink; control: OperatorControl };
}

export interface CampaignRig {
  readonly config: RigConfig;
  readonly text: string;
  readonly file: string;
  /** Computes the simulated neurons' rates for pictures about to be shown (before the session's clock starts). */
  prepare(images: readonly RgbImage[]): Promise<void>;
  run(
    store: SessionStore,
    protocol: LoadedProtocol,
    sessionName: string,
    progress?: (shown: number, total: number) => void,
    signal?: AbortSignal,
  ): Promise<SessionResult>;
}

/**
 * The rig a campaign records with. "sim": the real-socket simulated rig (Open Ephys ZMQ data and
 * heartbeat, Network Events for codes, virtual display) in this process, on loopback ports chosen
 * now, started fresh for each session. "fake": the in-process FakeRig (builtin neurons only).
 */
export async function createCampaignRig(options: CampaignRigOptions): Promise<CampaignRig> {
  const log = options.log ?? (() => {});
  const file = join(options.outDir, "rig.json");
  const units = options.neurons.units.length;
  const simulation = { neurons: options.neuronsKind, units, seed: options.seed };
  const window: [number, number] = [options.countWindow.startMs, options.countWindow.endMs];
  let raw: unknown;
  if (options.kind === "fake") {
    raw = {
      name: "campaign-fake",
      acquisition: {
        format: "in-process",
        sampleRate: 30000,
        countWindowMs: window,
        countBins: options.countWindow.bins,
      },
      eventCodes: { transport: "in-process" },
      display: { kind: "none" },
      simulation,
    };
  } else {
    const { dataPort, eventsPort, displayPort } = await simRigPorts();
    raw = {
      name: "campaign-sim",
      acquisition: {
        format: "openephys-zmq",
        host: "127.0.0.1",
        dataPort,
        sampleRate: 30000,
        countWindowMs: window,
        countBins: options.countWindow.bins,
        graceMs: 250,
      },
      eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: eventsPort },
      display: { kind: "virtual", endpoint: `tcp://127.0.0.1:${displayPort}` },
      simulation,
    };
  }
  const config = rigSchema.parse(raw);
  const text = `${JSON.stringify(raw, null, 2)}\n`;
  mkdirSync(options.outDir, { recursive: true });
  writeFileSync(file, text);
  // Sessions share the population (SimRig.stop() would dispose it); rates are computed ahead of each session.
  const prepared = new PreparedNeurons(options.neurons);
  const shared: SimNeurons = { units: prepared.units, rates: (image) => prepared.rates(image) };
  const grey: RgbImage = { width: 112, height: 112, pixels0to255: new Uint8Array(112 * 112 * 3).fill(128) };
  let sessionNo = 0;
  return {
    config,
    text,
    file,
    async prepare(images) {
      if (config.acquisition.format !== "in-process") await prepared.prepare([grey, ...images], log);
    },
    async run(store, protocol, sessionName, progress, signal) {
      sessionNo++;
      let sim: SimRig | undefined;
      if (config.acquisition.format === "in-process") {
        if (options.neuronsKind !== "builtin")
          throw new Error(
            `The in-process fake rig only simulates builtin neurons, not ${options.neuronsKind}; nothing was run. ` +
              `Use the simulated rig (--rig sim) or --neurons builtin.`,
          );
      } else {
        sim = new SimRig({
          host: config.acquisition.host,
          dataPort: config.acquisition.dataPort,
          sampleRate: config.acquisition.sampleRate,
          eventCodes:
            config.eventCodes.transport === "openephys-network-events"
              ? { kind: "network-events", host: config.eventCodes.host, port: config.eventCodes.port }
              : { kind: "none" },
          displayEndpoint: config.display.kind === "virtual" ? config.display.endpoint : undefined,
          neurons: shared,
          seed: options.seed * 1000 + sessionNo,
          countWindow: options.countWindow,
          graceMs: config.acquisition.graceMs,
          log,
        });
        await sim.start();
      }
      const rig =
        config.acquisition.format === "in-process"
          ? new FakeRig({
              neurons: builtinNeurons(units, options.seed),
              seed: options.seed * 1000 + sessionNo,
              sampleRate: 30000,
              countWindowMs: window,
              bins: options.countWindow.bins,
            })
          : await createRig(config, { countWindow: options.countWindow, log });
      try {
        return await recordSession(rig, { config, text, countWindow: options.countWindow, log }, store, protocol, {
          sessionName,
          progress,
          signal,
          live: options.live,
        });
      } finally {
        await rig.close();
        await sim?.stop();
      }
    },
  };
}

/** One campaign session on a connected rig, as `cortexloop run` records it (both campaign rigs call this). */
export function recordSession(
  rig: Rig,
  on: { config: RigConfig; text: string; countWindow: CountWindow; log: (line: string) => void },
  store: SessionStore,
  protocol: LoadedProtocol,
  session: {
    sessionName: string;
    progress?: (shown: number, total: number) => void;
    signal?: AbortSignal;
    health?: Partial<HealthOptions>;
    live?: { events: RunnerEventSink; control: OperatorControl };
  },
): Promise<SessionResult> {
  const { live } = session;
  const deps = { clock: realClock, store, rig, log: on.log, progress: session.progress, events: live?.events };
  return new SessionRunner(deps).run({
    protocol,
    rigName: on.config.name,
    rigText: on.text,
    countWindow: on.countWindow,
    graceMs: on.config.acquisition.graceMs,
    sessionName: session.sessionName,
    signal: session.signal,
    ...(session.health === undefined ? {} : { health: session.health }),
    control: live?.control,
  });
}
