import { Random } from "../../stimulus/random.js";

export interface SimPhotodiodeOptions {
  /** Event line (from 0) the photodiode's TTL arrives on (the rig file's display.photodiode.line). */
  line: number;
  /** From a frame reaching the rig (or its flip time, when the display says) to the rising edge. */
  lagMs: number;
  /** Standard deviation of the lag; the lag never goes below 0. */
  jitterMs: number;
  sampleRate: number;
  seed: number;
}

export interface PhotodiodeEdge {
  sample: number;
  state: 0 | 1;
}

/**
 * The simulated rig's photodiode (RIG_PROTOCOL.md section 3): each frame it is shown lights the patch after the
 * display's lag and jitter, for as long as the frame says the patch stays lit; edges come out on the rig's clock.
 */
export class SimPhotodiode {
  private edges: PhotodiodeEdge[] = [];
  private readonly rng: Random;
  /** Lags drawn so far (ms): what the controller's measured code-to-light latency contains. */
  readonly lagsMs: number[] = [];

  constructor(readonly options: SimPhotodiodeOptions) {
    this.rng = new Random(options.seed ^ 0xd15);
  }

  get line(): number {
    return this.options.line;
  }

  /** A frame whose patch lit at `atSample` (rig clock) and stays lit `litMs`. */
  frame(atSample: number, litMs: number): void {
    const { lagMs, jitterMs, sampleRate } = this.options;
    const lag = Math.max(0, lagMs + jitterMs * this.rng.normal());
    this.lagsMs.push(lag);
    const on = Math.round(atSample + (lag * sampleRate) / 1000);
    const off = on + Math.max(1, Math.round((litMs * sampleRate) / 1000));
    this.edges.push({ sample: on, state: 1 }, { sample: off, state: 0 });
    this.edges.sort((a, b) => a.sample - b.sample);
  }

  /** Takes the edges due up to `sample`, in order. */
  due(sample: number): PhotodiodeEdge[] {
    let n = 0;
    while (n < this.edges.length && this.edges[n]!.sample <= sample) n++;
    return n === 0 ? [] : this.edges.splice(0, n);
  }

  /** The rig restarted: edges on the old clock are gone. */
  clear(): void {
    this.edges = [];
  }
}
