import type { Command } from "commander";
import { join, resolve } from "node:path";
import { sharedDir } from "./paths.js";
import { loadRigFile } from "./protocol/index.js";
import type { CountWindow, RigConfig } from "./protocol/schema.js";
import { builtinNeurons } from "./sim/neurons.js";
import {
  SimRig,
  simNeuronsFrom,
  type SimEventCodeInput,
  type SimFaults,
  type SimNeurons,
  type SimRigOptions,
} from "./sim/sim-rig.js";

export interface SimRigFlags {
  rig: string;
  neurons?: string;
  compactModels?: string;
  units?: string;
  seed?: string;
  truth?: string;
  drop?: string;
  restartAfter?: string;
  stallMs?: string;
  stallAfter?: string;
  malformed?: string;
  rateScale?: string;
  serial?: string;
  countWindow?: string;
  publisher?: string;
  dataChannels?: string;
  displayLagMs?: string;
  displayJitterMs?: string;
}

function num(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isFinite(n))
    throw new Error(`--${flag} must be a number, got "${value}"; the simulated rig did not start.`);
  return n;
}

function parseWindow(text: string | undefined, rig: RigConfig): CountWindow {
  if (text === undefined)
    return {
      startMs: rig.acquisition.countWindowMs[0],
      endMs: rig.acquisition.countWindowMs[1],
      bins: rig.acquisition.countBins,
    };
  const [startMs, endMs, bins] = text.split(",").map(Number);
  if (!Number.isFinite(startMs) || !Number.isFinite(endMs) || endMs! <= startMs!)
    throw new Error(
      `--count-window must be start,end[,bins] in ms with end > start, got "${text}"; the simulated rig did not start.`,
    );
  return {
    startMs: startMs!,
    endMs: endMs!,
    bins: bins !== undefined && Number.isInteger(bins) && bins > 0 ? bins : 1,
  };
}

/** Where the simulated rig sees frames: the virtual display, or the stimulus window's simulation endpoint. */
function displayEndpointOf(display: RigConfig["display"]): string | undefined {
  if (display.kind === "virtual") return display.endpoint;
  return display.kind === "window" ? display.simulationEndpoint : undefined;
}

/**
 * Turns a rig file plus sim-rig flags into the simulated rig's options (flags override the rig file's simulation
 * block).
 */
export async function simRigOptionsFrom(
  rigFile: string,
  flags: Omit<SimRigFlags, "rig">,
  log?: (line: string) => void,
): Promise<SimRigOptions> {
  const { rig } = loadRigFile(rigFile);
  if (rig.acquisition.format !== "openephys-zmq")
    throw new Error(
      `${rigFile} describes an ${rig.acquisition.format} rig; the simulated rig speaks openephys-zmq. Use a rig ` +
        `file with "format": "openephys-zmq".`,
    );
  const sim = rig.simulation;
  const units = num("units", flags.units) ?? sim?.units ?? 16;
  const seed = num("seed", flags.seed) ?? sim?.seed ?? 7;
  const kind = flags.neurons ?? sim?.neurons ?? "builtin";
  let neurons: SimNeurons;
  if (kind === "builtin") neurons = simNeuronsFrom(builtinNeurons(units, seed));
  else if (kind === "compact") {
    // tfjs is loaded only when compact neurons are asked for: it is slow to start.
    const { compactNeurons } = await import("./sim/compact-neurons.js");
    const { selectBackend } = await import("../models/backend.js");
    await selectBackend();
    neurons = await compactNeurons({
      dir: resolve(
        flags.compactModels ??
          sim?.compactModels ??
          join(sharedDir() ?? resolve("..", "shared"), "data", "v4", "compact_models"),
      ),
      count: units,
      seed,
    });
  } else throw new Error(`--neurons must be builtin or compact, got "${kind}"; the simulated rig did not start.`);
  let eventCodes: SimEventCodeInput;
  const codes = rig.eventCodes;
  if (codes.transport === "serial") {
    const path = flags.serial ?? sim?.serialPath;
    if (path === undefined)
      throw new Error(
        `${rigFile} sends event codes over serial; give the simulated rig its end of the pty pair with --serial ` +
          `<path> (or simulation.serialPath).`,
      );
    eventCodes = { kind: "serial", path };
  } else if (codes.transport === "openephys-network-events")
    eventCodes = { kind: "network-events", host: codes.host, port: codes.port };
  else eventCodes = { kind: "none" };
  const faults: SimFaults = {
    ...sim?.faults,
    ...(flags.drop !== undefined ? { dropFraction: num("drop", flags.drop) } : {}),
    ...(flags.malformed !== undefined ? { malformedFraction: num("malformed", flags.malformed) } : {}),
    ...(flags.restartAfter !== undefined
      ? { restartAfterPresentations: num("restart-after", flags.restartAfter) }
      : {}),
    ...(flags.stallAfter !== undefined ? { stallAfterPresentations: num("stall-after", flags.stallAfter) } : {}),
    ...(flags.stallMs !== undefined ? { stallMs: num("stall-ms", flags.stallMs) } : {}),
  };
  const photodiode = rig.display.kind === "none" ? undefined : rig.display.photodiode;
  const lag = num("display-lag-ms", flags.displayLagMs) ?? sim?.display?.lagMs ?? 20;
  const jitter = num("display-jitter-ms", flags.displayJitterMs) ?? sim?.display?.jitterMs ?? 2;
  const display = rig.display;
  return {
    host: rig.acquisition.host,
    dataPort: rig.acquisition.dataPort,
    sampleRate: rig.acquisition.sampleRate,
    eventCodes,
    displayEndpoint: displayEndpointOf(display),
    photodiode: photodiode === undefined ? undefined : { line: photodiode.line, lagMs: lag, jitterMs: jitter },
    neurons,
    seed,
    countWindow: parseWindow(flags.countWindow, rig),
    graceMs: rig.acquisition.graceMs,
    truthFile: flags.truth,
    faults,
    rateScale: num("rate-scale", flags.rateScale) ?? sim?.rateScale,
    latencyMs: sim?.latencyMs,
    publisher: flags.publisher === "zmtp" ? "zmtp" : "zeromq",
    dataChannels: num("data-channels", flags.dataChannels),
    log,
  };
}

/**
 * `cortexloop sim-rig`: runs the simulated rig until SIGINT/SIGTERM; prints one JSON line when ready and one with its
 * stats when stopped.
 */
export function registerSimRigCommand(program: Command): void {
  program
    .command("sim-rig")
    .description(
      "run a simulated Open Ephys rig (ZMQ spikes and TTLs, event box or Network Events, virtual display) until " +
        "interrupted",
    )
    .requiredOption("--rig <file>", "rig file (openephys-zmq) the controller uses too")
    .option("--neurons <kind>", "builtin | compact")
    .option("--compact-models <dir>", "folder of compact_model_*.npy (neurons compact)")
    .option("--units <n>", "number of units")
    .option("--seed <n>", "seed of neurons and spikes")
    .option("--truth <file>", "write ground truth (spikes per presentation and unit in the count window) as JSON lines")
    .option("--drop <fraction>", "drop this fraction of messages (message_num still advances)")
    .option("--restart-after <n>", "restart acquisition on the n-th event code (message_num and sample clock reset)")
    .option("--stall-ms <ms>", "stall emission this long ...")
    .option("--stall-after <n>", "... on the n-th event code")
    .option("--malformed <fraction>", "send this fraction of messages malformed")
    .option("--rate-scale <x>", "multiply every firing rate")
    .option("--serial <path>", "the simulated event box's end of the pty pair (serial rigs)")
    .option("--count-window <start,end[,bins]>", "count window of the ground truth in ms (default: the rig file's)")
    .option(
      "--publisher <kind>",
      "data socket: zeromq (libzmq PUB, default) or zmtp (batched writes, for benchmark rates)",
    )
    .option(
      "--data-channels <n>",
      "continuous channels sent as DATA messages per processing block (default 4; 0: none)",
    )
    .option("--display-lag-ms <ms>", "photodiode: from a frame to its light (default: simulation.display.lagMs or 20)")
    .option("--display-jitter-ms <ms>", "photodiode: SD of that lag (default: simulation.display.jitterMs or 2)")
    .action(async (flags: SimRigFlags) => {
      const say = (line: string): void => void process.stderr.write(`${line}\n`);
      const options = await simRigOptionsFrom(flags.rig, flags, say);
      const sim = new SimRig(options);
      await sim.start();
      const ready = {
        event: "ready",
        dataEndpoint: sim.dataEndpoint,
        units: options.neurons.units.length,
        pid: process.pid,
      };
      process.stdout.write(`${JSON.stringify(ready)}\n`);
      say(
        `sim-rig: publishing on ${sim.dataEndpoint} (heartbeat on port ${options.dataPort + 1}); ` +
          `${options.neurons.units.length} units; Ctrl-C stops`,
      );
      await new Promise<void>((done) => {
        const stop = (): void => {
          process.off("SIGINT", stop);
          process.off("SIGTERM", stop);
          done();
        };
        process.on("SIGINT", stop);
        process.on("SIGTERM", stop);
      });
      await sim.stop();
      process.stdout.write(`${JSON.stringify({ event: "stopped", stats: sim.stats })}\n`);
    });
}
