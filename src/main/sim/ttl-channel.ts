/**
 * One TTL event as the GUI emits it: the line that changed (from 0), its new state, the channel's whole word after it.
 */
export interface TtlChange {
  line: number;
  state: 0 | 1;
  word: number;
}

/**
 * One TTL event channel of the simulated GUI (an acquisition board's digital inputs, or Network Events' own channel):
 * its word, and the events a change produces, as plugin-GUI's Event.cpp makes them.
 */
export class TtlChannel {
  private bits = new Uint8Array(256);
  private value = 0;

  get word(): number {
    return this.value;
  }

  /**
   * One line changes (Network Events' `TTL Line=<n> State=<s>`): one event, even when the state was already that.
   * Lines 0..255 exist; the word here holds lines 0..52 (a JavaScript number), which is all any code uses.
   */
  setLine(line: number, state: 0 | 1): TtlChange {
    if (!Number.isInteger(line) || line < 0 || line > 255)
      throw new Error(`TtlChannel: line ${line} is outside 0..255`);
    if (this.bits[line] !== state) {
      this.bits[line] = state;
      if (line < 53) this.value += state ? 2 ** line : -(2 ** line);
    }
    return { line, state, word: this.value };
  }

  /**
   * A hardware word changes (the serial event box): one event per changed bit, ascending, each with the whole new word.
   * Only lines 0..`lines`-1 are driven (the box's 16 outputs); the others (a photodiode's) keep their state.
   */
  setWord(word: number, lines = 53): TtlChange[] {
    const span = 2 ** lines;
    if (!Number.isInteger(word) || word < 0 || word >= span) {
      throw new Error(`TtlChannel: word ${word} is outside 0..2^${lines}`);
    }
    const full = this.value - (this.value % span) + word;
    const changes: TtlChange[] = [];
    for (let line = 0; line < lines; line++) {
      const state = (Math.floor(word / 2 ** line) % 2) as 0 | 1;
      if (this.bits[line] !== state) {
        this.bits[line] = state;
        changes.push({ line, state, word: full });
      }
    }
    this.value = full;
    return changes;
  }
}
