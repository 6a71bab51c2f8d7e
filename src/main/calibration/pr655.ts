/**
 * The PhotoResearch PR-655/PR-670 spectroradiometer's remote protocol, as PsychoPy's driver speaks it
 * (psychopy/hardware/pr.py, class PR655): "PHOTO" enters remote mode, "D111" and "D110" give the model and serial
 * number, "M0" measures and holds the result, "D3" returns it as `status,units,Y,u',v'` (Y in cd/m²), "Q" leaves
 * remote mode. Commands end with "\n" (as PsychoPy sends them); replies are lines ending "\r\n" whose first field is
 * the instrument's error code, "0000" when all is well. Transport-free: the serial port (or a test's recorded bytes)
 * sits behind LineTransport.
 */

/** A line-oriented link to the instrument. */
export interface LineTransport {
  write(text: string): Promise<void>;
  /** The next line (without its line ending), or null when none came within `timeoutMs`. */
  readLine(timeoutMs: number): Promise<string | null>;
  /** Drops whatever the instrument sent that nobody read (PsychoPy flushes before each command). */
  discardInput(): void;
  close(): Promise<void>;
}

/** A photometer the calibration can drive. */
export interface Photometer {
  readonly type: "pr655" | "colorcal";
  readonly model: string;
  readonly serial: string;
  /** One luminance measurement of what the display shows now, cd/m². */
  measureLuminance(): Promise<number>;
  close(): Promise<void>;
}

/** The instrument said or did something the calibration cannot use; nothing was written. */
export class PhotometerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PhotometerError";
  }
}

/** PR-655/670 error codes the manual lists for a measurement (the ones a calibration runs into). */
const errorCodes: Record<string, string> = {
  "0001": "no EOS signal at start of measurement",
  "0003": "no start signal",
  "0005": "no EOS signal to start integration time",
  "0006": "DMA failure",
  "0007": "no EOS after changed to SYNC mode",
  "0008": "unable to sync to light source",
  "0009": "sync lost during measurement",
  "0010": "weak light signal (light low)",
  "0012": "unspecified hardware malfunction",
  "0013": "software error",
  "0014": "no sample in L*u*v* or L*a*b* calculation",
  "0016": "adaptive integration taking too much time finding correct integration time (light too weak)",
  "0017": "main battery is low",
  "0018": "low light level (light low)",
  "0019": "light level too high (overload)",
  "0020": "no sync signal",
  "0021": "RAM error",
  "0028": "corrupted data",
  "0029": "noisy signal",
};

export interface Pr655Options {
  /** Named in errors (the serial port's path). */
  port: string;
  /** How long a measurement may take (low light: long integration), ms. Default 30,000 (PsychoPy's). */
  measureTimeoutMs?: number;
  /** How long any other command may take, ms. Default 2,000. */
  replyTimeoutMs?: number;
  /** How long entering remote mode may take, ms. Default 10,000 (PsychoPy's). */
  remoteModeTimeoutMs?: number;
}

export class Pr655 implements Photometer {
  readonly type = "pr655" as const;
  model = "";
  serial = "";

  private constructor(
    private readonly link: LineTransport,
    private readonly options: Pr655Options,
  ) {}

  /** Enters remote mode and reads the model and serial number; an instrument that does not answer is an error. */
  static async open(link: LineTransport, options: Pr655Options): Promise<Pr655> {
    const pr = new Pr655(link, options);
    try {
      // The reply to PHOTO is " REMOTE MODE" on the PR-655; PsychoPy does not check it, nor do we beyond its arrival.
      await pr.command("PHOTO", options.remoteModeTimeoutMs ?? 10_000, false);
      pr.model = (await pr.command("D111")).at(-1)!;
      pr.serial = (await pr.command("D110")).at(-1)!;
    } catch (err) {
      await link.close().catch(() => {});
      throw err;
    }
    if (!/^PR-?6[0-9]{2}/i.test(pr.model)) {
      await link.close().catch(() => {});
      throw new PhotometerError(
        `the instrument on ${options.port} says it is "${pr.model}", not a PR-655 or PR-670; check --type and the port`,
      );
    }
    return pr;
  }

  /** Sends one command and returns the reply's fields after a "0000" status (`checkStatus` false: the raw line). */
  private async command(
    cmd: string,
    timeoutMs = this.options.replyTimeoutMs ?? 2000,
    checkStatus = true,
  ): Promise<string[]> {
    const where = `the PR-655 on ${this.options.port}`;
    this.link.discardInput();
    await this.link.write(`${cmd}\n`);
    const line = await this.link.readLine(timeoutMs);
    if (line === null) {
      throw new PhotometerError(
        `${where} did not answer "${cmd}" within ` +
          `${timeoutMs < 1000 ? `${timeoutMs} ms` : `${(timeoutMs / 1000).toFixed(1)} s`}; check that it is on, in ` +
          `reach of ` +
          "its cable, and not in use by another program",
      );
    }
    const text = line.replace(/[\r\n]+$/, "");
    if (!checkStatus) return [text];
    const fields = text.split(",").map((f) => f.trim());
    const status = fields[0]!;
    if (!/^-?[0-9]{4,5}$/.test(status)) {
      throw new PhotometerError(`${where} sent an unreadable reply to "${cmd}": ${JSON.stringify(text.slice(0, 80))}`);
    }
    if (Number(status) !== 0) {
      const key = status.slice(-4);
      const meaning = errorCodes[key] ?? "an error code the manual lists";
      throw new PhotometerError(`${where} answered "${cmd}" with error ${status} (${meaning})`);
    }
    return fields;
  }

  async measureLuminance(): Promise<number> {
    await this.command("M0", this.options.measureTimeoutMs ?? 30_000);
    const fields = await this.command("D3");
    const where = `the PR-655 on ${this.options.port}`;
    // status, units, Y, u', v'
    const y = fields.length >= 5 ? Number(fields[2]) : NaN;
    if (!Number.isFinite(y) || y < 0 || !/^[-+0-9.eE]+$/.test(fields[2] ?? "")) {
      const text = fields.join(",").slice(0, 80);
      throw new PhotometerError(`${where} sent an unreadable luminance in its reply to "D3": ${JSON.stringify(text)}`);
    }
    return y;
  }

  async close(): Promise<void> {
    try {
      await this.link.write("Q");
    } finally {
      await this.link.close();
    }
  }
}
