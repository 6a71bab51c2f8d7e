/**
 * `cortexloop sim-photometer`: a PR-655 on a serial port (one end of a pty pair) that measures what the display
 * shows through a hidden gamma per gun. It watches the virtual display frames the stimulus window's simulation
 * endpoint publishes (RIG_PROTOCOL.md section 3) and answers the commands PsychoPy's PR655 driver sends (PHOTO, D111,
 * D110, M0, D3, Q) with the instrument's reply lines, luminance from the centre pixel of the newest frame:
 * L = black + Σ_gun white_gun · (v_gun / 255)^γ_gun.
 */
import type { SerialPort } from "serialport";
import { openSerialPort } from "../rig/serial-open.js";
import { Subscriber } from "zeromq";
import { Random } from "../../stimulus/random.js";
import { LineReader } from "../calibration/line-transport.js";

export interface HiddenDisplay {
  gammas: [number, number, number];
  /** Each gun's luminance at full drive above black, cd/m². */
  white: [number, number, number];
  black: number;
}

export const defaultHiddenDisplay: HiddenDisplay = { gammas: [2.2, 2.2, 2.2], white: [25, 60, 8], black: 0.3 };

export function hiddenLuminance(d: HiddenDisplay, rgb: readonly [number, number, number]): number {
  let l = d.black;
  for (let g = 0; g < 3; g++) l += d.white[g]! * Math.pow(rgb[g]! / 255, d.gammas[g]!);
  return l;
}

export interface EmulatorOptions {
  display: HiddenDisplay;
  /** What the photometer points at now. */
  seen: () => [number, number, number] | undefined;
  /** Stop answering after this many measurements (a photometer that dies mid-sweep). */
  stopAfterMeasurements?: number;
  model?: string;
  serial?: string;
  /** Measurement noise: standard deviation as a fraction of the reading (default 0.002, a PR-655's repeatability). */
  noise?: number;
  seed?: number;
}

/** The instrument's answers, one command line at a time: the reply line (with "\r\n"), or null for silence. */
export class Pr655Emulator {
  private remote = false;
  private last: number | undefined;
  /** Stopped answering (stopAfterMeasurements): silent from then on. */
  private dead = false;
  measurements = 0;

  private readonly rng: Random;

  constructor(private readonly options: EmulatorOptions) {
    this.rng = new Random(options.seed ?? 655);
  }

  answer(command: string): string | null {
    const cmd = command.trim();
    if (this.dead) return null;
    if (cmd === "PHOTO") {
      this.remote = true;
      return " REMOTE MODE\r\n";
    }
    if (!this.remote) return null;
    switch (cmd) {
      case "Q":
        this.remote = false;
        return null;
      case "D111":
        return `0000,${this.options.model ?? "PR-655"}\r\n`;
      case "D110":
        return `0000,${this.options.serial ?? "SIM0001"}\r\n`;
      case "M0": {
        const stop = this.options.stopAfterMeasurements;
        if (stop !== undefined && this.measurements >= stop) {
          this.dead = true;
          return null;
        }
        const rgb = this.options.seen();
        if (rgb === undefined) return "0010\r\n";
        const noise = this.options.noise ?? 0.002;
        this.last = Math.max(0, hiddenLuminance(this.options.display, rgb) * (1 + noise * this.rng.normal()));
        this.measurements++;
        return "0000\r\n";
      }
      case "D3":
        if (this.last === undefined) return "0014\r\n";
        return `0000,0,${this.last.toExponential(4)},0.1978,0.4683\r\n`;
      default:
        return "-0001\r\n";
    }
  }
}

/**
 * A ColorCAL MKII's answers (psychopy/hardware/crs/colorcal.py): replies end "\n\r" and a ">" prompt; the
 * calibration matrix's rows in Minolta's encoding (a negative entry included); MES gives raw X, Y, Z whose second
 * row of the matrix is the luminance.
 */
export class ColorCalEmulator {
  private readonly rng: Random;
  private dead = false;
  measurements = 0;
  /** The calibration matrix's rows, encoded: [1.063, -0.0347, 0], [0, 0.98, -0.01] (the luminance row), [0, 0, 1]. */
  static readonly rows = ["OK00,10630,50347,0", "OK00,0,9800,50100", "OK00,0,0,10000"];

  constructor(private readonly options: EmulatorOptions) {
    this.rng = new Random(options.seed ?? 655);
  }

  answer(command: string): string | null {
    if (this.dead) return null;
    const end = "\n\r>";
    switch (command.trim()) {
      case "IDR":
        return `OK00,8,1.05,0,${this.options.serial ?? "SIM0002"},0,877${end}`;
      case "r01":
        return `${ColorCalEmulator.rows[0]}${end}`;
      case "r02":
        return `${ColorCalEmulator.rows[1]}${end}`;
      case "r03":
        return `${ColorCalEmulator.rows[2]}${end}`;
      case "MES": {
        const stop = this.options.stopAfterMeasurements;
        if (stop !== undefined && this.measurements >= stop) {
          this.dead = true;
          return null;
        }
        const rgb = this.options.seen();
        if (rgb === undefined) return `ER10${end}`;
        const noise = this.options.noise ?? 0.002;
        const lum = Math.max(0, hiddenLuminance(this.options.display, rgb) * (1 + noise * this.rng.normal()));
        this.measurements++;
        // Raw values whose second matrix row (0, 0.98, -0.01) gives `lum`: Z raw = Y raw.
        const y = lum / (0.98 - 0.01);
        return `OK00,${(0.95 * y).toFixed(5)},${y.toFixed(5)},${y.toFixed(5)}${end}`;
      }
      default:
        return `ER00${end}`;
    }
  }
}

export interface SimPhotometerOptions extends Omit<EmulatorOptions, "seen"> {
  /** Which instrument it plays (default pr655). */
  type?: "pr655" | "colorcal";
  /** The instrument's end of the pty pair. */
  port: string;
  /** The virtual display endpoint it looks at (display.simulationEndpoint, or a virtual display's endpoint). */
  endpoint: string;
}

export class SimPhotometer {
  private sub: Subscriber | undefined;
  private port: SerialPort | undefined;
  private latest: [number, number, number] | undefined;
  readonly emulator: Pr655Emulator | ColorCalEmulator;
  frames = 0;

  constructor(private readonly options: SimPhotometerOptions) {
    const emulator = { ...options, seen: () => this.latest };
    this.emulator = options.type === "colorcal" ? new ColorCalEmulator(emulator) : new Pr655Emulator(emulator);
  }

  async start(): Promise<void> {
    const sub = new Subscriber({ linger: 0 });
    sub.connect(this.options.endpoint);
    sub.subscribe("frame");
    this.sub = sub;
    void this.watch(sub);
    const port = await openSerialPort(this.options.port, 9600);
    const reader = new LineReader();
    port.on("data", (d: Buffer) => {
      // "Q" leaves remote mode without a line ending, as PsychoPy sends it.
      const text = d.toString("latin1");
      if (text === "Q" && this.emulator instanceof Pr655Emulator) this.emulator.answer("Q");
      else reader.push(text);
    });
    this.port = port;
    void this.serve(reader, port);
  }

  private async serve(reader: LineReader, port: SerialPort): Promise<void> {
    while (this.port === port) {
      const line = await reader.readLine(1000);
      if (line === null) continue;
      const reply = this.emulator.answer(line);
      if (reply !== null && this.port === port) port.write(reply);
    }
  }

  private async watch(sub: Subscriber): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await sub.receive();
      } catch {
        return;
      }
      const [, json, pixels] = frames;
      if (json === undefined || pixels === undefined) continue;
      try {
        const h = JSON.parse(json.toString("utf8")) as { width?: number; height?: number };
        const { width, height } = h;
        if (typeof width !== "number" || typeof height !== "number" || pixels.length !== width * height * 3) continue;
        const at = (Math.floor(height / 2) * width + Math.floor(width / 2)) * 3;
        this.latest = [pixels[at]!, pixels[at + 1]!, pixels[at + 2]!];
        this.frames++;
      } catch {
        continue;
      }
    }
  }

  async stop(): Promise<void> {
    this.sub?.close();
    this.sub = undefined;
    const port = this.port;
    this.port = undefined;
    if (port?.isOpen) await new Promise<void>((resolve) => port.close(() => resolve()));
  }
}
