import type { FrameRecord, RgbImage } from "../../stimulus/index.js";
import type { FaultRecord, PresentationCounts, TtlOnsetRecord, UnitKey } from "../store/types.js";
import type { LightOnsetRecord } from "./photodiode.js";

/** One stimulus onset as the display emits it (RIG_PROTOCOL.md section 3). */
export interface StimulusFrame {
  seq: number;
  code: number;
  durationMs: number;
  image: RgbImage;
  /** The stored image's SHA-256: the stimulus window loads the picture by it. */
  sha256?: string;
  /** Frame-locked displays: the refreshes it lasts (durationMs is then frames × the frame period). */
  frames?: number;
}

/** When a frame-locked display put a stimulus's first frame up. */
export interface FrameOnset {
  /** The frame's requestAnimationFrame time, ms since the Unix epoch. */
  epochMs: number;
  frame: number;
}

/** What a frame-locked display's frames did for one stimulus. */
export interface DisplayedStimulus {
  onsetFrame: number;
  onsetEpochMs: number;
  /** The first frame after it (background again). */
  offsetEpochMs: number;
  framesDrawn: number;
  framesShown: number;
  framesMissed: number;
}

export interface Display {
  open(): Promise<void>;
  /** Shows a stimulus; a frame-locked display resolves once its first frame is up, with when that was. */
  show(frame: StimulusFrame): Promise<void | FrameOnset>;
  close(): Promise<void>;
  /** Frame-locked displays (the stimulus window): the measured refresh rate; durations are whole frames of it. */
  readonly refreshHz?: number;
  /** Frame-locked: loads the stimulus before its event code goes out, so its first frame follows the code at once. */
  prepare?(frame: StimulusFrame): Promise<void>;
  /** Frame-locked: resolves when stimulus `seq` has ended, with what its frames did. */
  ended?(seq: number): Promise<DisplayedStimulus>;
  /** Frame-locked: every frame logged since the last call. */
  takeFrames?(): FrameRecord[];
}

export interface EventCodeResult {
  confirmed: boolean;
  attempts: number;
  message?: string;
}

/** Event codes out (RIG_PROTOCOL.md section 2): serial event box or Open Ephys Network Events. */
export interface EventCodeOutput {
  open(): Promise<void>;
  /**
   * Before a session: throws a RigNotReadyError that says why when the rig cannot take one (Network Events: the GUI is
   * not acquiring).
   */
  checkReady?(): Promise<void>;
  send(code: number): Promise<EventCodeResult>;
  /** Clears the code after the stimulus; a result that is not confirmed is reported against the presentation. */
  clear(): Promise<EventCodeResult | void>;
  /**
   * Starts the rig's own recording for the session `sessionUuid` where the rig file asks for it (Network Events
   * StartRecord).
   */
  startRecording?(sessionUuid: string): Promise<EventCodeResult>;
  stopRecording?(): Promise<EventCodeResult>;
  close(): Promise<void>;
}

/**
 * The rig cannot take a session now (Network Events answers that the GUI is not acquiring, or does not answer); nothing
 * was stored.
 */
export class RigNotReadyError extends Error {
  readonly code = "rig-not-ready";
}

export type RigLinkState = "connected" | "degraded" | "paused" | "closed";

/** Where acquisition delivers what it decodes; the runner passes the session writer's methods. */
export interface AcquisitionSink {
  counts(counts: PresentationCounts): void;
  ttl(onset: TtlOnsetRecord): void;
  fault(fault: FaultRecord): void;
  unit?(unit: UnitKey): void;
  /** What the photodiode saw for a presentation with an onset (display.photodiode), once its counts are final. */
  light?(onset: LightOnsetRecord): void;
  link?(state: RigLinkState, message: string): void;
}

/** Spikes and TTL events in (RIG_PROTOCOL.md section 1), turned into per-presentation counts. */
export interface Acquisition {
  start(sink: AcquisitionSink): Promise<void>;
  /** The controller is about to present `presentationIdx` with `code`; its onset is the next TTL with that word. */
  expect(presentation: { presentationIdx: number; code: number }): void;
  /** Number of expected presentations whose counts are not final yet. */
  readonly openPresentations: number;
  /** Resolves once every expected presentation has final counts, or after `timeoutMs`, flagging the rest incomplete. */
  drain(timeoutMs: number): Promise<void>;
  /**
   * Set once the rig's stream proves unreadable for good (a ZMQ Interface older than the contract): why, in a person's
   * words.
   */
  readonly refusal?: string;
  /**
   * Messages read from the rig so far, when the acquisition can tell: a count that stops moving is a stream that
   * stopped.
   */
  readonly messagesReceived?: number;
  stop(): Promise<void>;
}

export interface Rig {
  name: string;
  acquisition: Acquisition;
  eventCodes: EventCodeOutput;
  display: Display;
  close(): Promise<void>;
}
