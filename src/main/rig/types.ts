import type { RgbImage } from "../../stimulus/index.js";
import type { FaultRecord, PresentationCounts, TtlOnsetRecord, UnitKey } from "../store/types.js";

/** One stimulus onset as the display emits it (RIG_PROTOCOL.md section 3). */
export interface StimulusFrame {
  seq: number;
  code: number;
  durationMs: number;
  image: RgbImage;
}

export interface Display {
  open(): Promise<void>;
  show(frame: StimulusFrame): Promise<void>;
  close(): Promise<void>;
}

export interface EventCodeResult {
  confirmed: boolean;
  attempts: number;
  message?: string;
}

/** Event codes out (RIG_PROTOCOL.md section 2): serial event box or Open Ephys Network Events. */
export interface EventCodeOutput {
  open(): Promise<void>;
  /** Before a session: throws a RigNotReadyError that says why when the rig cannot take one (Network Events: the GUI is not acquiring). */
  checkReady?(): Promise<void>;
  send(code: number): Promise<EventCodeResult>;
  /** Clears the code after the stimulus; a result that is not confirmed is reported against the presentation. */
  clear(): Promise<EventCodeResult | void>;
  /** Starts the rig's own recording for the session `sessionUuid` where the rig file asks for it (Network Events StartRecord). */
  startRecording?(sessionUuid: string): Promise<EventCodeResult>;
  stopRecording?(): Promise<EventCodeResult>;
  close(): Promise<void>;
}

/** The rig cannot take a session now (Network Events answers that the GUI is not acquiring, or does not answer); nothing was stored. */
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
  /** Set once the rig's stream proves unreadable for good (a ZMQ Interface older than the contract): why, in a person's words. */
  readonly refusal?: string;
  stop(): Promise<void>;
}

export interface Rig {
  name: string;
  acquisition: Acquisition;
  eventCodes: EventCodeOutput;
  display: Display;
  close(): Promise<void>;
}
