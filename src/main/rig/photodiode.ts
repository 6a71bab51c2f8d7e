/**
 * Matches the photodiode's TTL edges to presentations (RIG_PROTOCOL.md section 3): a presentation's measured light
 * onset is the first rising edge on the photodiode's line after its code's onset TTL and before the next code's; its
 * offset is the first falling edge after that onset (and before the next code's). Pure bookkeeping on rig samples.
 */

/** What the photodiode said about one presentation; sample numbers on the rig's clock. */
export interface LightOnsetRecord {
  presentationIdx: number;
  codeOnsetSample: number;
  /** The first rising edge after the code's onset and before the next code's; null when the light never came. */
  lightOnsetSample: number | null;
  /** The first falling edge after the light's onset, before the next code's; null when none was seen. */
  lightOffsetSample: number | null;
}

/** Keeps samples sorted (they arrive nearly in order) and finds the first one in a half-open range. */
class SortedSamples {
  private values: number[] = [];

  add(sample: number): void {
    const v = this.values;
    let i = v.length;
    while (i > 0 && v[i - 1]! > sample) i--;
    if (v[i - 1] === sample) return;
    v.splice(i, 0, sample);
  }

  /** The first value in [from, to), or null. */
  firstIn(from: number, to: number): number | null {
    const v = this.values;
    let lo = 0;
    let hi = v.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (v[mid]! < from) lo = mid + 1;
      else hi = mid;
    }
    return lo < v.length && v[lo]! < to ? v[lo]! : null;
  }

  /** The first value after `from` (exclusive), or Infinity. */
  after(from: number): number {
    const next = this.firstIn(from + 1, Infinity);
    return next ?? Infinity;
  }

  dropBelow(sample: number): void {
    const v = this.values;
    let n = 0;
    while (n < v.length && v[n]! < sample) n++;
    if (n > 0) v.splice(0, n);
  }

  clear(): void {
    this.values = [];
  }

  get size(): number {
    return this.values.length;
  }
}

export class PhotodiodeMatcher {
  private readonly rising = new SortedSamples();
  private readonly falling = new SortedSamples();
  private readonly codeOnsets = new SortedSamples();
  /** Edges seen (rising, falling): the session's summary says whether the photodiode was heard at all. */
  readonly stats = { rising: 0, falling: 0 };

  constructor(readonly line: number) {
    if (!Number.isInteger(line) || line < 0 || line > 255) {
      throw new Error(`PhotodiodeMatcher: line ${line} is outside 0..255`);
    }
  }

  /** A TTL event on the photodiode's line. */
  edge(sample: number, state: number): void {
    if (state !== 0) {
      this.stats.rising++;
      this.rising.add(sample);
    } else {
      this.stats.falling++;
      this.falling.add(sample);
    }
  }

  /** A presentation's code reached the rig at `sample` (its onset TTL): it bounds the previous one's search. */
  codeOnset(sample: number): void {
    this.codeOnsets.add(sample);
  }

  /** The light onset and offset of the presentation whose code's onset is `codeOnsetSample`, from what has arrived. */
  resolve(presentationIdx: number, codeOnsetSample: number): LightOnsetRecord {
    const next = this.codeOnsets.after(codeOnsetSample);
    const on = this.rising.firstIn(codeOnsetSample, next);
    const off = on === null ? null : this.falling.firstIn(on + 1, next);
    return { presentationIdx, codeOnsetSample, lightOnsetSample: on, lightOffsetSample: off };
  }

  /** Forgets edges and onsets older than `sample` (nothing still open can need them). */
  forgetBelow(sample: number): void {
    this.rising.dropBelow(sample);
    this.falling.dropBelow(sample);
    this.codeOnsets.dropBelow(sample);
  }

  /** The rig restarted: its sample clock began again. */
  reset(): void {
    this.rising.clear();
    this.falling.clear();
    this.codeOnsets.clear();
  }

  get remembered(): number {
    return this.rising.size + this.falling.size + this.codeOnsets.size;
  }
}
