/** Where calibration patches are shown: the stimulus window (the real thing), or a virtual display (simulation). */
import { applyCalibration, type DisplayCalibration } from "../../stimulus/calibration.js";
import type { RgbImage } from "../../stimulus/image.js";
import type { StimulusReport } from "../api/stimulus-contract.js";
import { lookupTables } from "../display/settings.js";
import type { WindowDisplay } from "../display/window-display.js";
import type { StimulusWindowHost } from "../display/window-host.js";
import type { VirtualDisplay } from "../rig/virtual-display.js";
import type { PatchDisplay, Rgb } from "./procedure.js";

type PatchReport = Extract<StimulusReport, { kind: "patch" }>;

/** How long a patch stays up before it is measured (the display settles, the simulation's frame arrives). */
const defaultSettleMs = 100;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * The stimulus window fills the screen with the patch and reads back the pixel it drew; in simulation that pixel is
 * published on the simulation endpoint, where `cortexloop sim-photometer` looks.
 */
export class WindowPatchDisplay implements PatchDisplay {
  private nextId = 1;

  constructor(
    private readonly host: StimulusWindowHost,
    private readonly display: WindowDisplay,
    private readonly settleMs = defaultSettleMs,
  ) {}

  async showPatch(rgb: Rgb, useLut: boolean): Promise<void> {
    const patchId = this.nextId++;
    const shown = this.host.nextReport(
      (r): r is PatchReport => r.kind === "patch" && r.patchId === patchId,
      10_000,
      `calibration patch ${rgb.join(",")} as drawn`,
    );
    this.host.send({ kind: "patch", patchId, rgb, useLut });
    const r = await shown;
    await this.display.publishPatch(patchId, r.shown);
    await sleep(this.settleMs);
  }

  async setTables(tables: DisplayCalibration): Promise<void> {
    this.host.configure({ lut: lookupTables(tables) });
  }
}

/** A virtual display (RIG_PROTOCOL.md section 3): the patch as a frame, through the tables in Node. */
export class VirtualPatchDisplay implements PatchDisplay {
  private tables: DisplayCalibration | undefined;
  private seq = 0;

  constructor(
    private readonly display: VirtualDisplay,
    private readonly settleMs = defaultSettleMs,
  ) {}

  async showPatch(rgb: Rgb, useLut: boolean): Promise<void> {
    const side = 16;
    const pixels0to255 = new Uint8Array(side * side * 3);
    for (let i = 0; i < side * side; i++) pixels0to255.set(rgb, i * 3);
    let image: RgbImage = { width: side, height: side, pixels0to255 };
    if (useLut && this.tables !== undefined) image = applyCalibration(image, this.tables);
    await this.display.show({ seq: this.seq++, code: 0, durationMs: 0, image });
    await sleep(this.settleMs);
  }

  async setTables(tables: DisplayCalibration): Promise<void> {
    this.tables = tables;
  }
}
