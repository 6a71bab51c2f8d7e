/**
 * The Cambridge Research Systems ColorCAL MKII colorimeter, as PsychoPy's driver speaks it
 * (psychopy/hardware/crs/colorcal.py, class ColorCAL): a USB serial device; commands end with "\n", replies end with
 * "\n\r" and a ">" prompt. "IDR" gives `OK00,…,firmware,…,serial,…,build`; "r01".."r03" give the rows of the
 * calibration matrix in Minolta's integer encoding (v/10000, or -(v-50000)/10000 from 50000 up); "MES" measures and
 * gives `OK00,X,Y,Z` raw; luminance is the matrix's second row applied to the raw values. A reply starting "ER" is
 * an error code.
 */
import { PhotometerError, type LineTransport, type Photometer } from "./pr655.js";

/** Minolta's encoding of the calibration matrix's entries. */
export function minoltaToFloat(v: number): number {
  return v < 50000 ? v / 10000 : -(v - 50000) / 10000;
}

const errorCodes: Record<string, string> = {
  ER00: "unknown command",
  ER01: "wrong number of parameters",
  ER10: "measurement out of range (light too bright)",
  ER11: "zero calibration failed (is the sensor covered?)",
};

export interface ColorCalOptions {
  port: string;
  /** How long a measurement may take, ms (PsychoPy: 5 s). */
  measureTimeoutMs?: number;
  /** How long any other command may take, ms (default 1,000). */
  replyTimeoutMs?: number;
}

export class ColorCal implements Photometer {
  readonly type = "colorcal" as const;
  readonly model = "ColorCAL MKII";
  serial = "";
  firmware = "";
  private matrix: number[][] = [];

  private constructor(
    private readonly link: LineTransport,
    private readonly options: ColorCalOptions,
  ) {}

  static async open(link: LineTransport, options: ColorCalOptions): Promise<ColorCal> {
    const cc = new ColorCal(link, options);
    try {
      const info = await cc.command("IDR");
      if (info.length < 5) {
        throw new PhotometerError(
          `the ColorCAL on ${options.port} sent an unreadable reply to "IDR": ` +
            `${JSON.stringify(info.join(",").slice(0, 80))}; check --type and the port`,
        );
      }
      cc.firmware = info[2]!;
      cc.serial = info[4]!;
      for (const row of ["r01", "r02", "r03"]) {
        const fields = (await cc.command(row)).slice(1);
        const values = fields.map((f) => (/^[0-9]+$/.test(f) ? minoltaToFloat(Number(f)) : NaN));
        if (values.length !== 3 || values.some((v) => !Number.isFinite(v))) {
          throw new PhotometerError(
            `the ColorCAL on ${options.port} sent an unreadable calibration row to "${row}": ` +
              `${JSON.stringify(fields.join(",").slice(0, 80))}`,
          );
        }
        cc.matrix.push(values);
      }
    } catch (err) {
      await link.close().catch(() => {});
      throw err;
    }
    return cc;
  }

  /** The first reply line that is not empty or the prompt, split at commas, after an `OK00` status. */
  private async command(cmd: string, timeoutMs = this.options.replyTimeoutMs ?? 1000): Promise<string[]> {
    const where = `the ColorCAL on ${this.options.port}`;
    this.link.discardInput();
    await this.link.write(`${cmd}\n`);
    const deadline = Date.now() + timeoutMs;
    let text: string | undefined;
    while (text === undefined) {
      const line = await this.link.readLine(Math.max(1, deadline - Date.now()));
      if (line === null) {
        throw new PhotometerError(
          `${where} did not answer "${cmd}" within ` +
            `${timeoutMs < 1000 ? `${timeoutMs} ms` : `${(timeoutMs / 1000).toFixed(1)} s`}; ` +
            "check that it is plugged in and not in use by another program",
        );
      }
      // Replies end "\n\r": the "\r" and the ">" prompt come at the start of the next read.
      const t = line.replace(/^[\r>\s]+|[\r\s]+$/g, "");
      if (t !== "") text = t;
    }
    const fields = text.split(",").map((f) => f.trim());
    const status = fields[0]!;
    if (/^ER[0-9]{2}$/.test(status)) {
      throw new PhotometerError(
        `${where} answered "${cmd}" with error ${status} (${errorCodes[status] ?? "an error code CRS lists"})`,
      );
    }
    if (status !== "OK00")
      throw new PhotometerError(`${where} sent an unreadable reply to "${cmd}": ${JSON.stringify(text.slice(0, 80))}`);
    return fields;
  }

  async measureLuminance(): Promise<number> {
    const fields = await this.command("MES", this.options.measureTimeoutMs ?? 5000);
    const raw = fields.slice(1, 4).map((f) => (/^[-+0-9.eE]+$/.test(f) ? Number(f) : NaN));
    if (fields.length < 4 || raw.some((v) => !Number.isFinite(v))) {
      throw new PhotometerError(
        `the ColorCAL on ${this.options.port} sent an unreadable measurement in its reply to "MES": ` +
          `${JSON.stringify(fields.join(",").slice(0, 80))}`,
      );
    }
    const row = this.matrix[1]!;
    return Math.max(0, row[0]! * raw[0]! + row[1]! * raw[1]! + row[2]! * raw[2]!);
  }

  async close(): Promise<void> {
    await this.link.close();
  }
}
