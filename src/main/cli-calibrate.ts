/**
 * `cortexloop calibrate` (from typed-in readings, or measured with a photometer on the stimulus window) and
 * `cortexloop sim-photometer` (a simulated PR-655 on a pty with a hidden gamma per gun).
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Command } from "commander";
import { z } from "zod";
import { fitGamma, identityCalibration } from "../stimulus/index.js";
import { openSerialLines } from "./calibration/line-transport.js";
import { VirtualPatchDisplay, WindowPatchDisplay } from "./calibration/patch-displays.js";
import { ColorCal } from "./calibration/colorcal.js";
import { Pr655, type Photometer } from "./calibration/pr655.js";
import type { PatchDisplay } from "./calibration/procedure.js";
import { calibrateRigFile } from "./calibration/rig-file.js";
import { WindowDisplay } from "./display/window-display.js";
import { desktopWindowHint, startBrowserStimulus, type BrowserStimulus } from "./display/window-session.js";
import { projectRoot, defaultDb } from "./paths.js";
import { loadRigFile, parseWithSchema } from "./protocol/index.js";
import { VirtualDisplay } from "./rig/virtual-display.js";
import { defaultHiddenDisplay, SimPhotometer, type HiddenDisplay } from "./sim/sim-photometer.js";
import { SessionStore } from "./store/index.js";

const say = (line: string): void => void process.stderr.write(`${line}\n`);

interface CalibrateFlags {
  readings?: string;
  output?: string;
  photometer?: string;
  type?: string;
  rig?: string;
  levels?: string;
  db: string;
  windowTimeout: string;
  windowPort: string;
  rendererDir?: string;
  measureTimeout?: string;
}

function fromReadings(flags: CalibrateFlags & { readings: string }): void {
  const reading = z.object({ level0to255: z.number().int().min(0).max(255), luminance: z.number().min(0) }).strict();
  const channel = z.array(reading).min(3);
  const schema = z.object({ red: channel, green: channel, blue: channel }).strict();
  const readings = parseWithSchema(schema, flags.readings, readFileSync(flags.readings, "utf8"));
  const fits = { red: fitGamma(readings.red), green: fitGamma(readings.green), blue: fitGamma(readings.blue) };
  for (const [name, f] of Object.entries(fits)) {
    say(
      `${name}: gamma ${f.gamma.toFixed(3)}, black ${f.black} cd/m², white ${f.white} cd/m², rmse ` +
        `${f.rmse.toFixed(3)} cd/m²`,
    );
  }
  const text = `${JSON.stringify(fits, null, 2)}\n`;
  if (flags.output === undefined) process.stdout.write(text);
  else {
    writeFileSync(flags.output, text);
    say(`wrote ${flags.output}; put it in the rig file as "display": {"kind": "virtual", "calibration": …}`);
  }
}

/** Measures with the photometer on the rig file's display and writes the calibration into the rig file. */
async function withPhotometer(flags: CalibrateFlags & { photometer: string }): Promise<number> {
  if (flags.rig === undefined)
    throw new Error("--photometer needs --rig <file>: the display to calibrate, and where the result goes");
  const type = flags.type ?? "pr655";
  if (type !== "pr655" && type !== "colorcal")
    throw new Error(`--type must be pr655 or colorcal, not "${type}"; nothing was measured or written`);
  const { rig } = loadRigFile(flags.rig);
  const display = rig.display;
  if (display.kind === "none")
    throw new Error(`${flags.rig}: display.kind is "none": there is no display to calibrate`);
  const levels = flags.levels === undefined ? undefined : Number(flags.levels);
  const timeoutS = Number(flags.windowTimeout);
  const cleanup: (() => Promise<void>)[] = [];
  try {
    // PsychoPy opens the PR-655 at 9600 baud and the ColorCAL (USB) at 115200.
    const link = await openSerialLines(flags.photometer, type === "pr655" ? 9600 : 115200);
    const measureTimeoutMs = flags.measureTimeout === undefined ? undefined : Number(flags.measureTimeout) * 1000;
    const opened = { port: flags.photometer, measureTimeoutMs };
    const photometer: Photometer =
      type === "pr655" ? await Pr655.open(link, opened) : await ColorCal.open(link, opened);
    cleanup.push(() => photometer.close());
    say(`photometer: ${photometer.model}, serial ${photometer.serial}, on ${flags.photometer}`);
    let patches: PatchDisplay;
    if (display.kind === "window") {
      const store = SessionStore.open(flags.db);
      cleanup.push(async () => store.close());
      const browser: BrowserStimulus = await startBrowserStimulus({
        store,
        display,
        rendererDir: flags.rendererDir ?? join(projectRoot, "dist-renderer"),
        port: Number(flags.windowPort),
        log: say,
      });
      cleanup.push(() => browser.close("the calibration ended"));
      say(`Open the stimulus window full screen on the display to calibrate (Chromium, F11), at:\n  ${browser.url}`);
      say(desktopWindowHint(browser.url, display));
      process.stdout.write(`stimulus-window ${browser.url}\n`);
      const window = new WindowDisplay({
        host: browser.host,
        tables: identityCalibration(),
        patchFirstFrameOnly: true,
        simulationEndpoint: display.simulationEndpoint,
        windowTimeoutMs: timeoutS * 1000,
        openHint: `open ${browser.url} in Chromium on the display to calibrate.`,
        log: say,
      });
      await window.open();
      cleanup.push(() => window.close());
      patches = new WindowPatchDisplay(browser.host, window);
    } else {
      const virtual = new VirtualDisplay({ endpoint: display.endpoint, waitForSubscriberMs: 1000 });
      await virtual.open();
      cleanup.push(() => virtual.close());
      patches = new VirtualPatchDisplay(virtual);
    }
    const { result, written } = await calibrateRigFile(flags.rig, { photometer, display: patches, levels, log: say });
    const c = result.calibration;
    for (const name of ["red", "green", "blue", "grey"] as const) {
      const f = c[name]!;
      say(`${name}: gamma ${f.gamma.toFixed(3)}, black ${f.black} cd/m², white ${f.white} cd/m², rmse ${f.rmse} cd/m²`);
    }
    const dev = c.validation!.maxDeviation;
    say(`validation sweep: largest deviation from linear ${(dev * 100).toFixed(2)}% of the maximum luminance`);
    if (!written) {
      say(
        `The validation sweep is not linear within 2% (${(dev * 100).toFixed(2)}%); ${flags.rig} was not changed. ` +
          `Check the photometer's aim and the display's settings, then calibrate again.`,
      );
      return 1;
    }
    say(`wrote the calibration (${c.date}, ${photometer.model} ${photometer.serial}) into ${flags.rig}`);
    return 0;
  } catch (err) {
    say(`${err instanceof Error ? err.message : String(err)}. No calibration was written; ${flags.rig} is unchanged.`);
    return 1;
  } finally {
    for (const f of cleanup.reverse()) await f().catch(() => {});
  }
}

function triple(flag: string, text: string): [number, number, number] {
  const parts = text.split(",").map(Number);
  if (parts.length === 1 && parts[0]! > 0) return [parts[0]!, parts[0]!, parts[0]!];
  if (parts.length !== 3 || !parts.every((x) => Number.isFinite(x) && x > 0)) {
    throw new Error(`--${flag} takes one positive number or three separated by commas (red,green,blue), not "${text}"`);
  }
  return parts as [number, number, number];
}

export function registerCalibrateCommands(program: Command): void {
  program
    .command("calibrate")
    .description(
      "calibrate a display: measure it with a photometer on the stimulus window (--photometer) and write the " +
        "lookup tables into the rig file, or fit gamma from typed-in readings (--readings)",
    )
    .option("--readings <file>", 'JSON {"red":[{"level0to255":0,"luminance":0.4},…],"green":[…],"blue":[…]}')
    .option("-o, --output <file>", "with --readings: write the calibration JSON here (default: print it)")
    .option("--photometer <port>", "the photometer's serial port")
    .option("--type <type>", "photometer: pr655 (PhotoResearch PR-655/PR-670) or colorcal (CRS ColorCAL MKII)", "pr655")
    .option(
      "--rig <file>",
      "with --photometer: the rig file whose display is calibrated (the result is written into it)",
    )
    .option("--levels <n>", "levels measured per gun and for grey (default 9)")
    .option("--measure-timeout <s>", "longest a photometer measurement may take (default 30)")
    .option("--db <file>", "lab database (the stimulus page is served from it)", defaultDb)
    .option("--window-timeout <s>", "seconds to wait for the stimulus window to open", "120")
    .option("--window-port <port>", "port of the stimulus page (0 picks a free one)", "0")
    .option("--renderer-dir <dir>", "the built renderer (default: dist-renderer/ of the project)")
    .action(async (flags: CalibrateFlags) => {
      if (flags.readings !== undefined) return fromReadings({ ...flags, readings: flags.readings });
      if (flags.photometer === undefined)
        throw new Error("calibrate needs --photometer <port> (with --rig) or --readings <file>");
      process.exitCode = await withPhotometer({ ...flags, photometer: flags.photometer });
    });

  program
    .command("sim-photometer")
    .description(
      "a simulated PR-655 or ColorCAL MKII on a serial port (one end of a pty pair) that measures the display " +
        "through a hidden gamma",
    )
    .option("--type <type>", "the instrument it plays: pr655 or colorcal", "pr655")
    .requiredOption(
      "--port <path>",
      "the instrument's end of the pty pair (calibrate --photometer takes the other end)",
    )
    .requiredOption(
      "--rig <file>",
      "the rig file: it looks at display.simulationEndpoint (window) or display.endpoint (virtual)",
    )
    .option("--gamma <g>", "hidden gamma: one for all guns, or red,green,blue", "2.2")
    .option(
      "--white <cd>",
      "each gun's luminance at full drive above black, cd/m² (red,green,blue)",
      defaultHiddenDisplay.white.join(","),
    )
    .option("--black <cd>", "luminance at 0,0,0, cd/m²", String(defaultHiddenDisplay.black))
    .option("--noise <fraction>", "measurement noise, SD as a fraction of the reading", "0.002")
    .option("--stop-after <n>", "stop answering after n measurements (a photometer that dies mid-sweep)")
    .action(
      async (flags: {
        port: string;
        rig: string;
        type: string;
        gamma: string;
        white: string;
        black: string;
        noise: string;
        stopAfter?: string;
      }) => {
        const { rig } = loadRigFile(flags.rig);
        const d = rig.display;
        const endpoint = d.kind === "window" ? d.simulationEndpoint : d.kind === "virtual" ? d.endpoint : undefined;
        if (endpoint === undefined) {
          throw new Error(
            `${flags.rig}: the simulated photometer needs display.simulationEndpoint (window) or a virtual ` +
              `display's endpoint`,
          );
        }
        const hidden: HiddenDisplay = {
          gammas: triple("gamma", flags.gamma),
          white: triple("white", flags.white),
          black: Number(flags.black),
        };
        if (flags.type !== "pr655" && flags.type !== "colorcal")
          throw new Error(`--type must be pr655 or colorcal, not "${flags.type}"`);
        const sim = new SimPhotometer({
          type: flags.type,
          port: flags.port,
          endpoint,
          display: hidden,
          noise: Number(flags.noise),
          stopAfterMeasurements: flags.stopAfter === undefined ? undefined : Number(flags.stopAfter),
        });
        await sim.start();
        process.stdout.write(
          `${JSON.stringify({ event: "ready", port: flags.port, endpoint, gammas: hidden.gammas })}\n`,
        );
        await new Promise<void>((resolve) => {
          process.once("SIGINT", resolve);
          process.once("SIGTERM", resolve);
        });
        await sim.stop();
        process.stdout.write(
          `${JSON.stringify({ event: "stopped", measurements: sim.emulator.measurements, frames: sim.frames })}\n`,
        );
      },
    );
}
