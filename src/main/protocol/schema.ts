import { z } from "zod";

// One schema per protocol block; the TypeScript types are inferred so file and code cannot drift.

export const countWindowSchema = z
  .object({
    startMs: z.number().describe("Window start after the onset TTL, in ms."),
    endMs: z.number().describe("Window end after the onset TTL, in ms (exclusive)."),
    bins: z.number().int().min(1).max(100).default(1).describe("Equal bins the window is split into."),
  })
  .strict()
  .refine((w) => w.endMs > w.startMs, { message: "endMs must be greater than startMs" });
export type CountWindow = z.infer<typeof countWindowSchema>;

const folderSource = z
  .object({
    kind: z.literal("folder"),
    path: z.string().min(1).describe("Folder of PNG/JPEG images, relative to the protocol file."),
  })
  .strict();
const zipSource = z
  .object({
    kind: z.literal("zip"),
    path: z.string().min(1).describe("Zip file of PNG/JPEG images, relative to the protocol file."),
  })
  .strict();
const storedSource = z
  .object({
    kind: z.literal("stored"),
    hashes: z.array(z.string().regex(/^[0-9a-f]{64}$/, "a SHA-256 in lowercase hex")).min(1),
  })
  .strict();
const generatorSource = z
  .object({
    kind: z.literal("generator"),
    generator: z.enum(["gratings", "noise", "dots"]),
    count: z.number().int().min(1).max(100_000),
    size: z.number().int().min(8).max(1024).default(112),
    seed: z.number().int().default(1),
  })
  .strict();

export const imageSourceSchema = z.discriminatedUnion("kind", [folderSource, zipSource, storedSource, generatorSource]);
export type ImageSource = z.infer<typeof imageSourceSchema>;

export const blockSchema = z
  .object({
    name: z.string().min(1),
    source: z.string().min(1).describe("Name of an entry of `sources`."),
    repeats: z.number().int().min(1).max(1000).default(1),
    order: z
      .enum(["sequential", "shuffle", "shuffle-each-repeat"])
      .default("shuffle-each-repeat")
      .describe("sequential keeps the source order (used by replays)."),
    maxImages: z.number().int().min(1).optional().describe("Use only the first N images of the source."),
  })
  .strict();
export type Block = z.infer<typeof blockSchema>;

export const timingSchema = z
  .object({
    fixationMs: z.number().min(0).max(10_000).default(300),
    stimulusMs: z.number().min(1).max(10_000).default(100),
    interStimulusMs: z.number().min(0).max(10_000).default(200),
  })
  .strict();
export type Timing = z.infer<typeof timingSchema>;

export const protocolSchema = z
  .object({
    $schema: z.string().optional(),
    version: z.literal(1).default(1),
    name: z.string().min(1),
    description: z.string().optional(),
    rig: z.string().min(1).optional().describe("Rig file (RIG_PROTOCOL.md section 4), relative to the protocol file."),
    seed: z.number().int().default(1).describe("Seed of every randomisation in the session."),
    timing: timingSchema.default({ fixationMs: 300, stimulusMs: 100, interStimulusMs: 200 }),
    countWindow: countWindowSchema.optional().describe("Overrides the rig file's count window."),
    sources: z.record(z.string().min(1), imageSourceSchema).refine((s) => Object.keys(s).length > 0, {
      message: "at least one image source is required",
    }),
    blocks: z.array(blockSchema).min(1),
  })
  .strict()
  .superRefine((p, ctx) => {
    p.blocks.forEach((b, i) => {
      if (!(b.source in p.sources)) {
        ctx.addIssue({
          code: "custom",
          path: ["blocks", i, "source"],
          message: `names source "${b.source}", which is not among sources (${Object.keys(p.sources).join(", ")})`,
        });
      }
    });
  });
export type Protocol = z.infer<typeof protocolSchema>;

const gammaFitSchema = z
  .object({
    gamma: z.number().min(0.2).max(5),
    black: z.number().min(0).describe("Luminance at level 0, cd/m²."),
    white: z.number().positive().describe("Luminance at level 255, cd/m²."),
    rmse: z.number().min(0).default(0),
  })
  .strict();

const lookupTable = z
  .array(z.number().int().min(0).max(255))
  .length(256)
  .describe("256 drive levels: entry v is what the display is driven with for the requested level v.");

/**
 * A display's calibration: PsychoPy's gamma model per gun (and for grey), the inverse lookup tables, when and with
 * which photometer it was measured, and the validation sweep. `cortexloop calibrate` writes it.
 */
export const displayCalibrationSchema = z
  .object({
    red: gammaFitSchema,
    green: gammaFitSchema,
    blue: gammaFitSchema,
    grey: gammaFitSchema.optional().describe("The fit of all three guns together."),
    lut: z
      .object({ red: lookupTable, green: lookupTable, blue: lookupTable })
      .strict()
      .optional()
      .describe(
        "Inverse lookup tables, applied as given (in the stimulus window's shader and the virtual display); " +
          "default: made from the fits.",
      ),
    date: z.string().min(1).optional().describe("When it was measured (ISO 8601)."),
    photometer: z
      .object({ type: z.enum(["pr655", "colorcal"]), model: z.string(), serial: z.string() })
      .strict()
      .optional(),
    validation: z
      .object({
        levels: z.array(z.number().int().min(0).max(255)),
        luminance: z.array(z.number()),
        maxDeviation: z
          .number()
          .min(0)
          .describe("Largest distance from the straight line, as a fraction of the maximum luminance."),
      })
      .strict()
      .optional()
      .describe("The grey sweep measured through the lookup tables."),
  })
  .strict();
export type DisplayCalibrationFits = z.infer<typeof displayCalibrationSchema>;

const serialEventCodes = z
  .object({
    transport: z.literal("serial"),
    path: z.string().min(1),
    baudRate: z.number().int().default(115200),
  })
  .strict();
const networkEventCodes = z
  .object({
    transport: z.literal("openephys-network-events"),
    host: z.string().default("127.0.0.1"),
    port: z
      .number()
      .int()
      .min(1)
      .max(65535)
      .default(5555)
      .describe(
        "The Network Events plugin's port (its own default, 5556, collides with the ZMQ Interface's data port).",
      ),
    replyTimeoutMs: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(1000)
      .describe(
        "How long each command waits for the plugin's reply before the presentation counts as unconfirmed (the " +
          "plugin answers from the GUI's message thread, which a busy GUI holds up).",
      ),
    recording: z
      .object({
        recDir: z
          .string()
          .min(1)
          .optional()
          .describe("The GUI's recording folder (RecDir); default: the one set in the GUI."),
        appendText: z
          .string()
          .min(1)
          .optional()
          .describe("Text after the date in the recording folder's name (AppendText)."),
      })
      .strict()
      .optional()
      .describe(
        "Start the GUI's recording when a session starts (StartRecord, the session's uuid in PrependText) and stop " +
          "it when the session ends (StopRecord).",
      ),
  })
  .strict();
const simulatedEventCodes = z.object({ transport: z.literal("in-process") }).strict();

/** The photodiode patch of the stimulus window and the TTL line it reaches the rig on (RIG_PROTOCOL.md section 3). */
export const photodiodeSchema = z
  .object({
    line: z
      .number()
      .int()
      .min(0)
      .max(63)
      .describe("Event line (from 0) the photodiode's TTL arrives on; masked out of the word when codes are matched."),
    corner: z
      .enum(["top-left", "top-right", "bottom-left", "bottom-right"])
      .default("top-left")
      .describe("Corner of the stimulus window that holds the patch."),
    sizePx: z.number().int().min(1).max(1000).default(40).describe("Side of the square patch, in screen pixels."),
    polarity: z
      .enum(["white-on", "black-on"])
      .default("white-on")
      .describe("white-on: the patch is white while lit and black otherwise; black-on: the reverse."),
    lit: z
      .enum(["first-frame", "stimulus"])
      .optional()
      .describe("How long the patch is lit: a stimulus's first frame (default), or every frame of the stimulus."),
  })
  .strict();
export type Photodiode = z.infer<typeof photodiodeSchema>;

const level0to255 = z.number().int().min(0).max(255);
const rgb0to255 = z.tuple([level0to255, level0to255, level0to255]);

/** The stimulus window (RIG_PROTOCOL.md section 4, `display.kind: "window"`); src/main/display has the defaults. */
const windowDisplaySchema = z
  .object({
    kind: z.literal("window"),
    screen: z
      .object({
        id: z
          .number()
          .int()
          .optional()
          .describe("The display's id as the operating system reports it (Electron's screen.getAllDisplays())."),
        index: z.number().int().min(0).optional().describe("The display's position in that list, from 0."),
        widthPx: z
          .number()
          .int()
          .positive()
          .optional()
          .describe("Its width in pixels: checked before a session (the only check a browser window allows)."),
        heightPx: z.number().int().positive().optional(),
      })
      .strict()
      .optional()
      .describe("The display the stimulus window opens on (default: the primary one)."),
    refreshHz: z
      .number()
      .positive()
      .max(1000)
      .optional()
      .describe("The expected refresh rate; checked against the measured one before a session (default 60)."),
    refreshTolerance: z
      .number()
      .positive()
      .max(0.5)
      .optional()
      .describe("Largest accepted difference between measured and expected refresh, as a fraction (default 0.02)."),
    background: rgb0to255.optional().describe("Background, 0..255 per gun before the lookup tables (default 128)."),
    fixation: z
      .object({ sizePx: z.number().int().min(0).max(200), color: rgb0to255 })
      .strict()
      .optional()
      .describe("Fixation spot at the screen's centre (default 8 px, red; sizePx 0 hides it)."),
    imageSizePx: z
      .number()
      .int()
      .positive()
      .max(10_000)
      .optional()
      .describe("Side of the stimulus on screen in pixels (default: the image's own size)."),
    imageCenterPx: z
      .tuple([z.number(), z.number()])
      .optional()
      .describe("Stimulus centre relative to the screen's centre, pixels right and down (default [0, 0])."),
    maxCalibrationAgeDays: z
      .number()
      .positive()
      .optional()
      .describe("Calibrations older than this are reported before a session (default 30)."),
    simulationEndpoint: z
      .string()
      .optional()
      .describe(
        "Simulation only: also publish each stimulus the window showed as a virtual-display frame " +
          "(RIG_PROTOCOL.md section 3), so a simulated rig or photometer sees it.",
      ),
    calibration: displayCalibrationSchema.optional(),
    photodiode: photodiodeSchema.optional(),
  })
  .strict();
export type WindowDisplayConfig = z.infer<typeof windowDisplaySchema>;

export const rigSchema = z
  .object({
    $schema: z.string().optional(),
    name: z.string().min(1),
    acquisition: z
      .object({
        format: z.enum(["openephys-zmq", "in-process"]),
        host: z.string().default("127.0.0.1"),
        dataPort: z.number().int().min(1).max(65534).default(5556),
        sampleRate: z.number().positive().default(30000),
        countWindowMs: z
          .tuple([z.number(), z.number()])
          .default([50, 150])
          .refine(([a, b]) => b > a, { message: "countWindowMs must be [start, end] with end > start" }),
        countBins: z.number().int().min(1).default(1),
        graceMs: z.number().min(0).default(250),
      })
      .strict(),
    eventCodes: z.discriminatedUnion("transport", [serialEventCodes, networkEventCodes, simulatedEventCodes]),
    display: z.discriminatedUnion("kind", [
      z
        .object({
          kind: z.literal("virtual"),
          endpoint: z.string().default("tcp://127.0.0.1:5570"),
          calibration: displayCalibrationSchema
            .optional()
            .describe("Gamma fit per channel; frames are emitted through its linearizing lookup tables."),
          photodiode: photodiodeSchema.optional(),
        })
        .strict(),
      windowDisplaySchema,
      z.object({ kind: z.literal("none") }).strict(),
    ]),
    health: z
      .object({
        noDataMs: z
          .number()
          .min(100)
          .max(600_000)
          .optional()
          .describe("No message at all on the data socket for this long pauses the session (default 3000)."),
        noOnsetMs: z
          .number()
          .min(100)
          .max(600_000)
          .optional()
          .describe("A confirmed code with no onset TTL at all since, for this long, pauses it (default 3000)."),
        unconfirmedInARow: z
          .number()
          .int()
          .min(1)
          .max(1000)
          .optional()
          .describe("This many codes in a row not confirmed by the event-code input pause it (default 3)."),
        probeEveryMs: z
          .number()
          .min(10)
          .max(60_000)
          .optional()
          .describe("How often a paused session checks whether the rig is back (default 250)."),
      })
      .strict()
      .optional()
      .describe("When the session pauses for a rig that went quiet (rig health); defaults suit a lab rig."),
    simulation: z
      .object({
        neurons: z
          .string()
          .default("builtin")
          .describe("builtin, or compact (the published compact models of shared/data/v4/compact_models)."),
        units: z.number().int().min(1).default(16),
        seed: z.number().int().default(7),
        compactModels: z.string().optional().describe("Folder of compact_model_*.npy files (neurons: compact)."),
        serialPath: z
          .string()
          .optional()
          .describe("The simulated rig's end of the serial pty pair (eventCodes.path is the controller's end)."),
        rateScale: z.number().positive().optional().describe("Multiplies every simulated rate."),
        latencyMs: z
          .tuple([z.number().min(0), z.number().min(0)])
          .optional()
          .describe("Response latency range of the simulated units."),
        display: z
          .object({
            lagMs: z.number().min(0).max(1000).default(20).describe("From a frame reaching the rig to its light edge."),
            jitterMs: z.number().min(0).max(100).default(2).describe("Standard deviation of that lag (never below 0)."),
          })
          .strict()
          .optional()
          .describe("The simulated photodiode (display.photodiode): edges after this lag and jitter."),
        faults: z
          .object({
            dropFraction: z.number().min(0).max(1).optional(),
            malformedFraction: z.number().min(0).max(1).optional(),
            restartAfterPresentations: z.number().int().min(1).optional(),
            stallAfterPresentations: z.number().int().min(1).optional(),
            stallMs: z.number().min(0).optional(),
          })
          .strict()
          .optional()
          .describe("Faults the simulated rig injects (cortexloop sim-rig flags override them)."),
      })
      .strict()
      .optional()
      .describe(
        "Neurons of the in-process fake rig (acquisition.format in-process) or of `cortexloop sim-rig` " +
          "(openephys-zmq).",
      ),
  })
  .strict()
  .superRefine((rig, ctx) => {
    const photodiode = rig.display.kind === "none" ? undefined : rig.display.photodiode;
    // Event codes never use the photodiode's line: bits 0..15 carry a code, and Network Events' strobe is line 16.
    const codeLines = rig.eventCodes.transport === "openephys-network-events" ? 17 : 16;
    if (photodiode !== undefined && photodiode.line < codeLines) {
      ctx.addIssue({
        code: "custom",
        path: ["display", "photodiode", "line"],
        message:
          `line ${photodiode.line} carries event codes (lines 0..${codeLines - 1} with ` +
          `${rig.eventCodes.transport}); wire the photodiode to line ${codeLines} or above`,
      });
    }
  });
export type RigConfig = z.infer<typeof rigSchema>;
export type RigConfigInput = z.input<typeof rigSchema>;
export type ProtocolInput = z.input<typeof protocolSchema>;
