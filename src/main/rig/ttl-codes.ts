import type { TtlPayload } from "./openephys-wire.js";

/** Event line (from 0) of the Network Events strobe: command line 17 (RIG_PROTOCOL.md section 2). */
export const networkEventsStrobeLine = 16;

/** How event codes ride on the rig's TTL lines (RIG_PROTOCOL.md sections 1-3). */
export interface CodeLines {
  /**
   * Event line (from 0) whose rising edge is a presentation's onset, the code being the word with this bit masked
   * (Network Events: 16). Undefined: the onset is the first event whose word equals the code (serial event box).
   */
  strobeLine?: number;
  /** Event lines that never carry a code (the photodiode's, section 3): masked out of the word. */
  maskedLines?: readonly number[];
}

/** What one TTL event says about event codes. */
export type CodeReading =
  /** The word (masked) after a change of a code line; `rising` when that line went up. */
  | { kind: "code"; code: number; rising: boolean }
  /** The code lines went back to 0 (the word cleared after a stimulus). */
  | { kind: "clear" }
  /** Not a code event: a masked line (photodiode), or in strobe mode a code line or the strobe going down. */
  | { kind: "other" };

/** Splits lines 0..63 into the two 32-bit halves of a mask. */
function maskOf(lines: readonly number[]): { lo: number; hi: number } {
  let lo = 0;
  let hi = 0;
  for (const l of lines) {
    if (!Number.isInteger(l) || l < 0 || l > 63)
      throw new Error(`CodeLines: line ${l} is outside 0..63; TTL words have 64 lines`);
    if (l < 32) lo |= 1 << l;
    else hi |= 1 << (l - 32);
  }
  return { lo: lo >>> 0, hi: hi >>> 0 };
}

/** Reads TTL events as event codes under one wiring: the strobe (if any) and the masked lines. */
export class CodeReader {
  private readonly strobe: number | undefined;
  private readonly masked: ReadonlySet<number>;
  private readonly keepLo: number;
  private readonly keepHi: number;

  constructor(lines: CodeLines = {}) {
    this.strobe = lines.strobeLine;
    this.masked = new Set(lines.maskedLines ?? []);
    if (this.strobe !== undefined && this.masked.has(this.strobe))
      throw new Error(
        `CodeLines: the strobe line ${this.strobe} is also masked; a photodiode cannot share the strobe's line`,
      );
    const mask = maskOf([...this.masked, ...(this.strobe === undefined ? [] : [this.strobe])]);
    this.keepLo = ~mask.lo >>> 0;
    this.keepHi = ~mask.hi >>> 0;
  }

  get strobeLine(): number | undefined {
    return this.strobe;
  }

  read(ttl: TtlPayload): CodeReading {
    if (this.masked.has(ttl.line)) return { kind: "other" };
    const rising = ttl.state !== 0;
    if (this.strobe !== undefined && (ttl.line !== this.strobe || !rising)) return { kind: "other" };
    const lo = (ttl.wordLo & this.keepLo) >>> 0;
    const hi = (ttl.wordHi & this.keepHi) >>> 0;
    const code = hi * 2 ** 32 + lo;
    if (code === 0 && this.strobe === undefined) return { kind: "clear" };
    return { kind: "code", code, rising };
  }
}
