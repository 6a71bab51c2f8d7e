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
  send(code: number): Promise<EventCodeResult>;
  clear(): Promise<void>;
  close(): Promise<void>;
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
  stop(): Promise<void>;
}

export interface Rig {
  name: string;
  acquisition: Acquisition;
  eventCodes: EventCodeOutput;
  display: Display;
  close(): Promise<void>;
}
