/** A unit is the pair (electrode, sorted_id) of the rig's spike sorter. */
export interface UnitKey {
  electrode: string;
  sortedId: number;
}

export type PresentationStatus = "shown" | "unconfirmed" | "skipped";

export interface PresentationRecord {
  idx: number;
  block: string;
  stimulusSha256: string;
  eventCode: number;
  scheduledMs: number;
  shownMs: number | null;
  durationMs: number;
  status: PresentationStatus;
}

/** Final spike counts of one presentation: one row of `bins` per unit. */
export interface PresentationCounts {
  presentationIdx: number;
  onsetSample: number | null;
  complete: boolean;
  units: { unit: UnitKey; bins: number[] }[];
}

export interface TtlOnsetRecord {
  presentationIdx: number | null;
  eventCode: number;
  onsetSample: number;
}

/** Closed set of fault codes: the UI and analyses group by them. */
export type FaultCode =
  | "message-gap"
  | "rig-restart"
  | "malformed-frame"
  | "invalid-json"
  | "unknown-envelope"
  | "oversized-payload"
  | "ttl-out-of-order"
  | "unexpected-code"
  | "duplicate-code"
  | "event-code-unconfirmed"
  | "serial-port-lost"
  | "heartbeat-lost"
  | "rig-incompatible"
  | "counts-incomplete"
  | "display-error"
  | "frames-dropped"
  | "light-missing"
  | "interrupted"
  | "other";

export interface FaultRecord {
  code: FaultCode;
  message: string;
  presentationIdxs: number[];
}

export type SessionState = "started" | "paused" | "resumed" | "interrupted" | "completed" | "failed";

export interface SessionSummary {
  id: number;
  uuid: string;
  name: string;
  createdAt: string;
  protocolName: string;
  protocolSha256: string;
  rigName: string;
  state: SessionState | "unknown";
  presentations: number;
  units: number;
  faults: number;
}
