import { performance } from "node:perf_hooks";
import { Random } from "../../stimulus/index.js";
import type { PresentationCounts } from "../store/types.js";
import type {
  Acquisition,
  AcquisitionSink,
  Display,
  EventCodeOutput,
  EventCodeResult,
  Rig,
  StimulusFrame,
} from "../rig/types.js";
import type { NeuronPopulation } from "./neurons.js";

export interface FakeRigOptions {
  neurons: NeuronPopulation;
  seed: number;
  sampleRate: number;
  countWindowMs: [number, number];
  bins: number;
  /** Fraction of presentations whose counts never arrive (flagged incomplete on drain). */
  dropFraction?: number;
}

/** What the fake rig emitted, per presentation and unit: the ground truth a test compares with the store. */
export type GroundTruth = Map<number, number[][]>;

/**
 * An in-process rig behind the same interfaces as the real one: the display hands it the picture,
 * the event code marks the onset, and counts are Poisson draws from the neurons' rates.
 */
export class FakeRig implements Rig {
  readonly name = "in-process fake rig";
  readonly acquisition: Acquisition;
  readonly eventCodes: EventCodeOutput;
  readonly display: Display;
  readonly groundTruth: GroundTruth = new Map();

  private sink: AcquisitionSink | undefined;
  private readonly frames = new Map<number, StimulusFrame>();
  private readonly expected = new Map<number, number>();
  private readonly pending = new Map<number, NodeJS.Timeout>();
  private readonly rng: Random;
  private readonly t0 = performance.now();

  constructor(private readonly options: FakeRigOptions) {
    this.rng = new Random(options.seed);
    // The display's methods are called with `this` as the display: they reach the rig through `self`.
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const self = this;
    this.display = {
      async open() {},
      async show(frame) {
        self.frames.set(frame.code, frame);
      },
      async close() {},
    };
    this.eventCodes = {
      async open() {},
      async send(code): Promise<EventCodeResult> {
        self.onset(code);
        return { confirmed: true, attempts: 1 };
      },
      async clear() {},
      async close() {},
    };
    this.acquisition = {
      async start(sink) {
        self.sink = sink;
        for (const u of options.neurons.units) sink.unit?.(u);
      },
      expect({ presentationIdx, code }) {
        self.expected.set(code, presentationIdx);
      },
      get openPresentations() {
        return self.expected.size;
      },
      drain: (timeoutMs) => this.drain(timeoutMs),
      async stop() {
        for (const t of self.pending.values()) clearTimeout(t);
        self.pending.clear();
      },
    };
  }

  private onset(code: number): void {
    const idx = this.expected.get(code);
    const frame = this.frames.get(code);
    if (idx === undefined || frame === undefined || this.sink === undefined) return;
    const sink = this.sink;
    const onsetSample = Math.round(((performance.now() - this.t0) * this.options.sampleRate) / 1000);
    sink.ttl({ presentationIdx: idx, eventCode: code, onsetSample });
    const rates = this.options.neurons.rates(frame.image);
    const [startMs, endMs] = this.options.countWindowMs;
    const binS = (endMs - startMs) / this.options.bins / 1000;
    const counts = rates.map((r) => Array.from({ length: this.options.bins }, () => this.rng.poisson(r * binS)));
    const dropped = this.rng.next() < (this.options.dropFraction ?? 0);
    this.frames.delete(code);
    if (dropped) return;
    const timer = setTimeout(() => {
      this.pending.delete(idx);
      this.expected.delete(code);
      this.groundTruth.set(idx, counts);
      const result: PresentationCounts = {
        presentationIdx: idx,
        onsetSample,
        complete: true,
        units: this.options.neurons.units.map((unit, u) => ({ unit, bins: counts[u]! })),
      };
      sink.counts(result);
    }, endMs);
    this.pending.set(idx, timer);
  }

  private async drain(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.pending.size > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    // Whatever is still expected never got counts: flag it incomplete rather than lose track of it.
    for (const [code, idx] of this.expected) {
      const timer = this.pending.get(idx);
      if (timer !== undefined) clearTimeout(timer);
      this.pending.delete(idx);
      this.sink?.counts({ presentationIdx: idx, onsetSample: null, complete: false, units: [] });
      this.sink?.fault({
        code: "counts-incomplete",
        message: `no counts arrived for presentation ${idx} (code ${code})`,
        presentationIdxs: [idx],
      });
    }
    this.expected.clear();
  }

  async close(): Promise<void> {
    await this.acquisition.stop();
  }
}
