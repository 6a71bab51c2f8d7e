/**
 * The one contract between the controller and every renderer (Electron IPC through the preload,
 * or the local web API): a channel name, a validator for its request, the type of its reply.
 * This file imports nothing from Node or Electron so the renderer can import its types.
 */
import { z } from "zod";
import { channelNames, type ChannelName } from "./channels.js";
import { liveControlSchema } from "./live-contract.js";
import type { LiveState } from "./live-state.js";
import type { LiveEndpointReply } from "./live-contract.js";
import type { CausalReview } from "./causal-contract.js";
import type { PresentationRecord } from "../store/types.js";
import type { CountingSummary, LearningSeries, TuningCurve, UnitRaster } from "../review/index.js";
import type { CompactModelDetail } from "../compact/inspect-types.js";
import type { PredictRefusal } from "../jobs/predict-refusal.js";
import type { LibraryEntry, PreflightReport, TechConfig, TechJobInfo } from "../tech/types.js";
import {
  stimulusAttachSchema,
  stimulusCommandsSchema,
  stimulusReportsSchema,
  type StimulusCommandsReply,
  type StimulusReportReply,
  type StimulusWindowConfig,
} from "./stimulus-contract.js";

export type * from "./stimulus-contract.js";
export type * from "../tech/types.js";
export type * from "./live-contract.js";
export type * from "./live-state.js";
export type * from "./causal-contract.js";

export type { CompactModelDetail } from "../compact/inspect-types.js";
export type { PredictRefusal } from "../jobs/predict-refusal.js";

export type {
  CountingSummary,
  LearningSeries,
  LearningPoint,
  RasterRow,
  PredictionScale,
  TuningAxis,
  TuningCurve,
  TuningPredicted,
  TuningPredictor,
  UnitRaster,
} from "../review/index.js";

/** Closed set of error codes a reply can carry; the UI picks its wording by code. */
export const apiErrorCodes = [
  "unknown-channel",
  "bad-request",
  "not-found",
  "conflict",
  "forbidden",
  "unauthorized",
  "too-large",
  "internal",
] as const;
export type ApiErrorCode = (typeof apiErrorCodes)[number];

export type ApiReply<T> = { ok: true; value: T } | { ok: false; code: ApiErrorCode; message: string };

/** A session by numeric id or uuid (prefix); numbers are accepted and kept as given. */
const sessionRef = z.union([
  z.number().int().positive(),
  z
    .string()
    .trim()
    .min(1)
    .max(64)
    .regex(/^[0-9a-fA-F-]+$/, "a session id or uuid prefix (hex digits and dashes)"),
]);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, "a SHA-256 hash: 64 lowercase hex digits");
/** Average incomplete counts too; by default means count complete counts only. */
const includeIncomplete = z.boolean().optional();

export const requestSchemas = {
  listSessions: z.object({}).strict(),
  getSession: z.object({ session: sessionRef }).strict(),
  presentations: z.object({ session: sessionRef }).strict(),
  stimulus: z.object({ sha256 }).strict(),
  unitResponses: z.object({ session: sessionRef, includeIncomplete }).strict(),
  unitRaster: z.object({ session: sessionRef, unit: z.number().int().positive(), includeIncomplete }).strict(),
  tuning: z.object({ session: sessionRef, includeIncomplete }).strict(),
  reliability: z.object({ session: sessionRef, includeIncomplete }).strict(),
  learningCurve: z.object({}).strict(),
  /** A model version's predictions for the session's stimuli; model: which (default: the newest covering it). */
  predictedResponses: z.object({ session: sessionRef, model: z.number().int().positive().optional() }).strict(),
  faults: z.object({ session: sessionRef }).strict(),
  /** The session's causal images with provenance and the causal analysis; unitMap: design unit → recorded unit. */
  causal: z
    .object({
      session: sessionRef,
      unitMap: z.record(z.string().min(1).max(200), z.string().min(1).max(200)).optional(),
    })
    .strict(),
  modelVersions: z.object({ session: sessionRef.optional() }).strict(),
  compactModel: z.object({ id: z.number().int().positive() }).strict(),
  proposals: z.object({}).strict(),
  approveProposal: z.object({ id: z.number().int().positive(), decision: z.enum(["approve", "decline"]) }).strict(),
  // The live view: the running session's state so far, and the operator's pause / resume / stop.
  liveState: z.object({}).strict(),
  liveControl: liveControlSchema,
  /** The live endpoint of a session running with --serve on this database (the desktop attaches to it). */
  liveEndpoint: z.object({}).strict(),
  exportCsv: z.object({ session: sessionRef }).strict(),
  exportBundle: z.object({ session: sessionRef, allowUnfinished: z.boolean().optional() }).strict(),
  exportNwb: z.object({ session: sessionRef, allowUnfinished: z.boolean().optional() }).strict(),
  stimulusAttach: stimulusAttachSchema,
  stimulusCommands: stimulusCommandsSchema,
  stimulusReport: stimulusReportsSchema,
  // The tech view: protocol library, pre-flight, replays and dry runs (src/main/tech).
  techConfig: z.object({}).strict(),
  protocolLibrary: z.object({}).strict(),
  replayProtocolFile: z.object({ session: sessionRef }).strict(),
  preflight: z.object({}).strict(),
  startTechJob: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("replay"), session: sessionRef, rig: z.enum(["sim", "configured"]) }).strict(),
    z
      .object({ kind: z.literal("dry-run"), protocol: z.string().min(1).max(4096), rig: z.enum(["sim", "configured"]) })
      .strict(),
  ]),
  techJobs: z.object({}).strict(),
  cancelTechJob: z.object({ id: z.number().int().positive() }).strict(),
} as const satisfies Record<ChannelName, z.ZodType>;

export type Channel = keyof typeof requestSchemas;
// Both directions: a channel added in one list and not the other fails to compile.
const everyNameHasSchema: readonly Channel[] = channelNames;
export const channels: readonly ChannelName[] = everyNameHasSchema;

export function isChannel(name: unknown): name is Channel {
  return typeof name === "string" && Object.prototype.hasOwnProperty.call(requestSchemas, name);
}

export type RequestOf<C extends Channel> = z.input<(typeof requestSchemas)[C]>;
/** A request after validation (what a handler receives). */
export type ParsedRequestOf<C extends Channel> = z.output<(typeof requestSchemas)[C]>;

// ---- reply types -------------------------------------------------------------------------

export type SessionStateName = "started" | "paused" | "resumed" | "interrupted" | "completed" | "failed" | "unknown";

export interface SessionListItem {
  id: number;
  uuid: string;
  name: string;
  createdAt: string;
  protocolName: string;
  rigName: string;
  state: SessionStateName;
  presentations: number;
  units: number;
  faults: number;
}

export interface SessionDetail extends SessionListItem {
  seed: number;
  countWindow: { startMs: number; endMs: number; bins: number };
  protocolText: string;
  rigText: string;
  events: { at: string; kind: string; detail: string | null }[];
  counts: {
    presentations: number;
    shown: number;
    unconfirmed: number;
    skipped: number;
    withCounts: number;
    incomplete: number;
    missing: number;
  };
  /** Distinct designed images (synthesized, adversarial, smoothed) of a causal design the session showed (0: none). */
  causalImages: number;
}

export interface PresentationRow extends PresentationRecord {
  onsetSample: number | null;
  countsComplete: boolean | null;
}

export interface StimulusImage {
  sha256: string;
  /** `data:image/png;base64,...` (allowed by the renderer's CSP img-src). */
  dataUrl: string;
}

export interface UnitInfo {
  id: number;
  electrode: string;
  sortedId: number;
  label: string;
}

export type CountsStateName = "complete" | "incomplete" | "none";

export interface UnitResponses {
  units: UnitInfo[];
  /** Which presentations the means count (complete counts only unless includeIncomplete). */
  counting: CountingSummary;
  /**
   * Mean spike count in the count window (all bins summed) and its s.e.m. over counted repeats,
   * per stimulus, in order of first presentation; `incomplete` presentations of it were left out.
   */
  stimuli: {
    sha256: string;
    block: string;
    presentations: number;
    incomplete: number;
    meanByUnit: (number | null)[];
    semByUnit: (number | null)[];
    nByUnit: number[];
  }[];
  /**
   * Unit × presentation matrix of summed counts; null where a unit had no counts stored. Counts of
   * presentations whose `state` is incomplete are shown (marked), never averaged by default.
   */
  matrix: { presentationIdxs: number[]; counts: (number | null)[][]; state: CountsStateName[]; max: number };
}

export interface Tuning {
  units: UnitInfo[];
  counting: CountingSummary;
  /** Measured curves; a `design tuning` sweep's also carry its stored predictions (`predicted`). */
  curves: TuningCurve[];
}

export interface ReliabilityReply {
  counting: CountingSummary;
  units: { unit: UnitInfo; reliability: number | null; halfCorrelation: number | null; stimuli: number }[];
}

export interface LearningCurveReply {
  series: LearningSeries[];
}

export interface PredictionVersion {
  id: number;
  name: string;
}

interface PredictedResponsesBase {
  session: number;
  /** Deep ensembles that list this session, newest first (each can be asked for with `model`). */
  candidates: PredictionVersion[];
}

/**
 * A model version's predicted response of each of the session's units to each of its stimuli (stimuli in order of
 * first presentation; skipped ones left out), or why there is none.
 */
export type PredictedResponses =
  | (PredictedResponsesBase & {
      available: true;
      modelVersion: PredictionVersion;
      /** The readout used (`<session id>`, `session-<id>` or `pooled`). */
      readout: string;
      /** "responses": spikes in the count window; "z-scored": the version did not record its target statistics. */
      scale: "responses" | "z-scored";
      frontEnd: string;
      units: UnitInfo[];
      stimuli: string[];
      /** [unit][stimulus]; a row is null when the readout lacks that unit. */
      predictions: (number[] | null)[];
      /** Seconds the prediction took, and whether this reply came from the controller's memory. */
      seconds: number;
      cached: boolean;
    })
  | (PredictedResponsesBase & {
      available: false;
      /** The version that was tried, null when none covers the session. */
      modelVersion: PredictionVersion | null;
      /** Why no prediction is available (closed set); the message says what to do. */
      reason: PredictRefusal;
      message: string;
    });

/** A file made in the controller for download (binary as base64, so it travels in the same JSON contract). */
export interface FileDownload {
  session: number;
  fileName: string;
  mediaType: string;
  bytes: number;
  base64: string;
  /** What the file holds (the bundle's entries, or the NWB file's main objects). */
  contents: string[];
}

export interface FaultRow {
  id: number;
  at: string;
  code: string;
  message: string;
  presentationIdxs: number[];
}

export interface ModelVersionItem {
  id: number;
  name: string;
  kind: string;
  parentId: number | null;
  createdAt: string;
  sessionIds: number[];
  /** The r²_ER (noise-corrected explained variance) from the version's metrics, when present. */
  r2er: number | null;
  metrics: Record<string, unknown>;
}

/** A designed session waiting for the experimenter, or decided (once, never changed). */
export interface ProposalItem {
  id: number;
  campaign: string;
  sessionNumber: number;
  protocolFile: string;
  modelVersionId: number | null;
  createdAt: string;
  description: string;
  blocks: { name: string; images: number; repeats: number }[];
  presentations: number;
  /** The images it shows (SHA-256; the stimulus channel returns each). */
  stimuli: string[];
  /** The designing models' predicted response to each image, by block (absent in proposals stored without them). */
  predictions?: import("../store/proposals.js").ProposalPredictions;
  decision: { decision: "approved" | "declined"; via: "terminal" | "web" | "program"; decidedAt: string } | null;
}

export interface CsvExport {
  session: number;
  files: { name: string; text: string }[];
}

export interface Replies {
  listSessions: SessionListItem[];
  getSession: SessionDetail;
  presentations: PresentationRow[];
  stimulus: StimulusImage;
  unitResponses: UnitResponses;
  unitRaster: UnitRaster;
  tuning: Tuning;
  reliability: ReliabilityReply;
  learningCurve: LearningCurveReply;
  predictedResponses: PredictedResponses;
  faults: FaultRow[];
  causal: CausalReview;
  modelVersions: ModelVersionItem[];
  compactModel: CompactModelDetail;
  proposals: ProposalItem[];
  approveProposal: ProposalItem;
  liveState: LiveState;
  liveControl: LiveState;
  liveEndpoint: LiveEndpointReply;
  exportCsv: CsvExport;
  exportBundle: FileDownload;
  exportNwb: FileDownload;
  stimulusAttach: StimulusWindowConfig;
  stimulusCommands: StimulusCommandsReply;
  stimulusReport: StimulusReportReply;
  techConfig: TechConfig;
  protocolLibrary: LibraryEntry[];
  replayProtocolFile: FileDownload;
  preflight: PreflightReport;
  startTechJob: TechJobInfo;
  techJobs: TechJobInfo[];
  cancelTechJob: TechJobInfo;
}

export type ReplyOf<C extends Channel> = Replies[C];

/** What a renderer calls: one typed function per channel (the preload's and the browser's shape). */
export type CortexloopApi = { [C in Channel]: (request: RequestOf<C>) => Promise<ApiReply<ReplyOf<C>>> };

/** Largest request body the web API reads (bytes); larger is refused with `too-large`. */
export const maxRequestBytes = 64 * 1024;

/** Parses a request for a channel; the reply is an error reply or the parsed request. */
export function parseRequest<C extends Channel>(channel: C, raw: unknown): ApiReply<ParsedRequestOf<C>> {
  const parsed = requestSchemas[channel].safeParse(raw ?? {});
  if (parsed.success) return { ok: true, value: parsed.data as ParsedRequestOf<C> };
  const detail = parsed.error.issues
    .map((i) => `${i.path.length > 0 ? i.path.join(".") : "request"}: ${i.message}`)
    .join("; ");
  return {
    ok: false,
    code: "bad-request",
    message: `${channel}: the request was refused (${detail}); nothing was read. Check the arguments and try again.`,
  };
}
