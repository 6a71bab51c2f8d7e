import { Publisher } from "zeromq";
import type { Display, StimulusFrame } from "./types.js";

export interface ScreenPlacement {
  width: number;
  height: number;
  x: number;
  y: number;
}

export interface VirtualDisplayOptions {
  endpoint?: string;
  screen?: ScreenPlacement;
  /**
   * The display's calibration lookup: 0..255 in, 0..255 out, per channel. Identity until display
   * calibration lands (src/stimulus); the frame on the wire is what a calibrated screen would emit.
   */
  calibrate?: (pixels0to255: Uint8Array) => Uint8Array;
  /**
   * On open, how long to wait for a simulated rig to connect before the first frame (PUB drops frames nobody hears).
   */
  waitForSubscriberMs?: number;
}

/** Calibration hook placeholder: the pixels as given. */
export function identityCalibration(pixels0to255: Uint8Array): Uint8Array {
  return pixels0to255;
}

export const frameTopic = Buffer.from("frame", "utf8");

/** The simulated stimulus window (RIG_PROTOCOL.md section 3): a ZMQ PUB of `frame`, JSON, RGB pixels at each onset. */
export class VirtualDisplay implements Display {
  private pub: Publisher | undefined;

  constructor(private readonly options: VirtualDisplayOptions = {}) {}

  get endpoint(): string {
    return this.options.endpoint ?? "tcp://127.0.0.1:5570";
  }

  async open(): Promise<void> {
    if (this.pub !== undefined) return;
    const pub = new Publisher({ linger: 0 });
    const waitMs = this.options.waitForSubscriberMs ?? 0;
    const connected =
      waitMs > 0
        ? new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), waitMs);
            pub.events.on("accept", () => {
              clearTimeout(timer);
              resolve(true);
            });
          })
        : Promise.resolve(false);
    try {
      await pub.bind(this.endpoint);
    } catch (err) {
      pub.close();
      throw new Error(
        `Virtual display could not bind ${this.endpoint} (${err instanceof Error ? err.message : String(err)}); ` +
          `nothing was shown. Free the port or set display.endpoint in the rig file.`,
      );
    }
    this.pub = pub;
    // Give a subscriber that just connected time to send its subscription.
    if (await connected) await new Promise((r) => setTimeout(r, 50));
  }

  /** `extra` adds header fields (the stimulus window's flip time and patch duration, for a simulated photodiode). */
  async show(frame: StimulusFrame, extra: Record<string, number> = {}): Promise<void> {
    const pub = this.pub;
    if (pub === undefined) throw new Error(`Virtual display: frame ${frame.seq} shown before open(); call open first`);
    const { width, height, pixels0to255 } = frame.image;
    const pixels = (this.options.calibrate ?? identityCalibration)(pixels0to255);
    const header = {
      v: 1,
      seq: frame.seq,
      code: frame.code,
      duration_ms: frame.durationMs,
      width,
      height,
      channels: 3,
      dtype: "uint8",
      screen: this.options.screen ?? { width, height, x: 0, y: 0 },
      ...extra,
    };
    await pub.send([
      frameTopic,
      JSON.stringify(header),
      Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength),
    ]);
  }

  async close(): Promise<void> {
    this.pub?.close();
    this.pub = undefined;
  }
}

/** A display that shows nothing (rigs with `display.kind: "none"`). */
export class NullDisplay implements Display {
  async open(): Promise<void> {}
  async show(): Promise<void> {}
  async close(): Promise<void> {}
}
