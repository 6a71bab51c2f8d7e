/**
 * The stimulus window's part of the one contract (contract.ts): how the full-screen window and the controller talk,
 * over Electron IPC or the local web API alike. The window attaches, long-polls for commands (prepare an image, show
 * it at the next frame, measure the refresh, show a calibration patch) and reports what its frames did. Nothing here
 * imports Node or Electron: the renderer imports these types.
 */
import { z } from "zod";

const level = z.number().int().min(0).max(255);
const rgb = z.tuple([level, level, level]);
const windowId = z.string().regex(/^[0-9a-f]{8,64}$/, "a window id as stimulusAttach returned it");
const epochMs = z.number().finite().positive();
const reason = z.string().max(500).optional();

export const stimulusAttachSchema = z
  .object({
    screen: z
      .object({
        widthPx: z.number().int().positive().max(100_000),
        heightPx: z.number().int().positive().max(100_000),
        devicePixelRatio: z.number().positive().max(16),
      })
      .strict(),
    userAgent: z.string().max(512),
  })
  .strict();

export const stimulusCommandsSchema = z
  .object({
    windowId,
    after: z.number().int().min(0).describe("The last command id the window has handled."),
    waitMs: z.number().int().min(0).max(30_000).optional().describe("How long to wait for a command (long poll)."),
  })
  .strict();

export const frameRecordSchema = z
  .object({
    index: z.number().int().min(0),
    rafMs: epochMs,
    presentedMs: epochMs.nullable(),
    expectedMs: epochMs,
    missedBefore: z.number().int().min(0),
    seq: z.number().int().min(0).nullable(),
    lit: z.boolean(),
  })
  .strict();

export const stimulusReportSchema = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("prepared"), seq: z.number().int().min(0), ok: z.boolean(), message: reason }).strict(),
  z
    .object({ kind: z.literal("onset"), seq: z.number().int().min(0), frame: z.number().int().min(0), rafMs: epochMs })
    .strict(),
  z
    .object({
      kind: z.literal("ended"),
      seq: z.number().int().min(0),
      onsetFrame: z.number().int().min(0),
      onsetMs: epochMs,
      offsetMs: epochMs,
      framesDrawn: z.number().int().min(0),
      framesShown: z.number().int().min(0),
      framesMissed: z.number().int().min(0),
    })
    .strict(),
  z.object({ kind: z.literal("frames"), frames: z.array(frameRecordSchema).max(240) }).strict(),
  z
    .object({
      kind: z.literal("refresh"),
      hz: z.number().positive(),
      periodMs: z.number().positive(),
      jitterMs: z.number().min(0),
      intervals: z.number().int().min(0),
    })
    .strict(),
  z.object({ kind: z.literal("patch"), patchId: z.number().int().min(0), shown: rgb, rafMs: epochMs }).strict(),
  z.object({ kind: z.literal("error"), message: z.string().max(1000) }).strict(),
]);

export const stimulusReportsSchema = z
  .object({ windowId, reports: z.array(stimulusReportSchema).min(1).max(50) })
  .strict();

export type StimulusReport = z.infer<typeof stimulusReportSchema>;
export type FrameRecordWire = z.infer<typeof frameRecordSchema>;
export type Rgb = [number, number, number];

/** 256 drive levels per gun: the calibration's inverse lookup tables (identity when uncalibrated). */
export interface LookupTables {
  red: number[];
  green: number[];
  blue: number[];
}

/** The photodiode patch as the window draws it: white while lit when `whiteOn`, black otherwise. */
export interface PhotodiodePatch {
  corner: "top-left" | "top-right" | "bottom-left" | "bottom-right";
  sizePx: number;
  whiteOn: boolean;
  litFirstFrameOnly: boolean;
}

/** What the window draws with, sent when it attaches (and again with a `config` command when it changes). */
export interface StimulusWindowConfig {
  windowId: string;
  background: Rgb;
  fixation: { sizePx: number; color: Rgb };
  photodiode: PhotodiodePatch | null;
  lut: LookupTables;
  imageSizePx: number | null;
  imageCenterPx: [number, number];
  refreshHzExpected: number;
}

export type StimulusCommand =
  /** Load image `sha256` (the `stimulus` channel) for presentation `seq`; report `prepared`. */
  | { id: number; kind: "prepare"; seq: number; sha256: string; frames: number }
  /** Show prepared `seq` from the next frame for its frames; report `onset`, then `ended` and the frames. */
  | { id: number; kind: "show"; seq: number }
  /** Time `frames` refreshes of the background and report the rate. */
  | { id: number; kind: "measure-refresh"; frames: number }
  /** Fill the screen with `rgb` (through the lookup tables when `useLut`) and report the pixel it shows. */
  | { id: number; kind: "patch"; patchId: number; rgb: Rgb; useLut: boolean }
  /** Back to the background. */
  | { id: number; kind: "clear" }
  | { id: number; kind: "config"; config: StimulusWindowConfig }
  /** The controller is done with this window (a session ended, or another window took its place). */
  | { id: number; kind: "close"; reason: string };

export interface StimulusCommandsReply {
  commands: StimulusCommand[];
}

export interface StimulusReportReply {
  accepted: number;
}
