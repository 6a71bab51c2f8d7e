// Parametric sweeps for tuning curves: gratings over orientation and spatial frequency (each at
// several phases, which a tuning curve averages), and dots over size, location on a grid and number.
// Every image comes with its parameters in the terms of GeneratorParameters (what the review's
// tuning curves bin by) and the condition it belongs to.
import type { GeneratorParameters } from "./generators.js";
import type { RgbImage } from "./image.js";
import { dotsImage, gratingImage, type Disc } from "./parametric.js";
import { Random } from "./random.js";

export type SweepName = "orientation-frequency" | "dot-size" | "dot-location" | "dot-number";

export interface SweepImage {
  image: RgbImage;
  sweep: SweepName;
  params: GeneratorParameters;
  /** The images of one condition differ only in what a tuning curve averages over (phase, layout). */
  condition: string;
  /** What the tuning curve is over, by name (orientationDeg, cyclesPerImage, radius, x, y, dots). */
  conditionParams: Record<string, number>;
}

/** A sweep that cannot be drawn as asked: what is wrong; nothing was drawn. */
export class SweepInputError extends Error {
  constructor(
    readonly code: "empty" | "range",
    message: string,
  ) {
    super(message);
    this.name = "SweepInputError";
  }
}

export interface GratingSweepSpec {
  /** Degrees, each in [0, 180). */
  orientationsDeg: readonly number[];
  /** Cycles per image side, each in (0, size/2]. */
  cyclesPerImage: readonly number[];
  /** Phases per condition, evenly spaced over 2π (averaged in a tuning curve). */
  phases: number;
  /** 0 < contrast ≤ 1. */
  contrast: number;
}

export const defaultGratingSweep: GratingSweepSpec = {
  orientationsDeg: Array.from({ length: 12 }, (_, i) => i * 15),
  cyclesPerImage: [1, 2, 4, 8],
  phases: 4,
  contrast: 1,
};

export interface DotSweepSpec {
  /** Dot-size sweep: radii (fractions of the image side, in (0, 0.5]) of one dot at the centre. */
  sizes: readonly number[];
  /** Location sweep: one dot at the centre of each cell of a grid × grid grid (0: no location sweep). */
  grid: number;
  /** Radius of the dots of the location and number sweeps (fraction of the image side). */
  radius: number;
  /** Number sweep: counts of dots (non-overlapping, at seeded random cells); empty: none. */
  numbers: readonly number[];
  /** Random layouts per count (averaged in a tuning curve). */
  layouts: number;
  /** Grey level of the background and of the dots, 0..255. */
  background: number;
  dotValue: number;
  seed: number;
}

export const defaultDotSweep: DotSweepSpec = {
  sizes: [0.02, 0.04, 0.08, 0.12, 0.16, 0.24],
  grid: 5,
  radius: 0.06,
  numbers: [1, 2, 4, 8],
  layouts: 4,
  background: 128,
  dotValue: 255,
  seed: 1,
};

function checkList(name: string, values: readonly number[], ok: (v: number) => boolean, range: string): void {
  for (const v of values)
    if (!Number.isFinite(v) || !ok(v)) throw new SweepInputError("range", `${name} ${v} is out of range: ${range}.`);
  if (new Set(values).size !== values.length)
    throw new SweepInputError("range", `${name} lists a value twice (${values.join(", ")}).`);
}

function checkWhole(name: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi)
    throw new SweepInputError("range", `${name} must be a whole number from ${lo} to ${hi}, got ${v}.`);
}

function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}

/** Gratings at every orientation × spatial frequency, each at `phases` phases. */
export function gratingSweep(size: number, spec: GratingSweepSpec): SweepImage[] {
  if (spec.orientationsDeg.length === 0 || spec.cyclesPerImage.length === 0)
    throw new SweepInputError(
      "empty",
      "The grating sweep is empty: give at least one orientation and one spatial frequency.",
    );
  checkList("Orientation", spec.orientationsDeg, (v) => v >= 0 && v < 180, "degrees in [0, 180)");
  checkList(
    "Spatial frequency",
    spec.cyclesPerImage,
    (v) => v > 0 && v <= size / 2,
    `cycles per image in (0, ${size / 2}] (at most one cycle per 2 pixels of a ${size} px image)`,
  );
  checkWhole("The number of phases", spec.phases, 1, 64);
  if (!(spec.contrast > 0 && spec.contrast <= 1))
    throw new SweepInputError("range", `Contrast ${spec.contrast} is out of range: (0, 1].`);
  const out: SweepImage[] = [];
  for (const orientationDeg of spec.orientationsDeg)
    for (const cyclesPerImage of spec.cyclesPerImage)
      for (let k = 0; k < spec.phases; k++) {
        const phaseRad = (2 * Math.PI * k) / spec.phases;
        const params = { orientationDeg, cyclesPerImage, phaseRad, contrast: spec.contrast };
        out.push({
          image: gratingImage(size, params),
          sweep: "orientation-frequency",
          params: { generator: "gratings", ...params },
          condition: `orientation=${orientationDeg};frequency=${cyclesPerImage}`,
          conditionParams: { orientationDeg, cyclesPerImage },
        });
      }
  return out;
}

function dotParams(centres: readonly { x: number; y: number }[], radius: number): GeneratorParameters {
  const n = centres.length;
  const centroidX = round(centres.reduce((s, c) => s + c.x, 0) / n);
  const centroidY = round(centres.reduce((s, c) => s + c.y, 0) / n);
  return {
    generator: "dots",
    dots: n,
    meanRadius: radius,
    centroidX,
    centroidY,
    eccentricity: round(Math.hypot(centroidX - 0.5, centroidY - 0.5)),
  };
}

/** The dot sweeps asked for: size (a dot at the centre), location (a grid) and number (random layouts). */
export function dotSweep(size: number, spec: DotSweepSpec): SweepImage[] {
  if (spec.sizes.length === 0 && spec.grid === 0 && spec.numbers.length === 0)
    throw new SweepInputError(
      "empty",
      "The dot sweep is empty: give dot sizes, a location grid of at least 1, or numbers of dots.",
    );
  const minRadius = 0.5 / size;
  const radiusRange =
    `a fraction of the image side in [${round(minRadius)}, 0.5] ` + `(at least half a pixel of a ${size} px image)`;
  checkList("Dot size", spec.sizes, (v) => v >= minRadius && v <= 0.5, radiusRange);
  checkWhole("The location grid", spec.grid, 0, 32);
  if (spec.grid > 0 || spec.numbers.length > 0)
    checkList("Dot radius", [spec.radius], (v) => v >= minRadius && v <= 0.5, radiusRange);
  checkList("Number of dots", spec.numbers, (v) => Number.isInteger(v) && v >= 1, "a whole number ≥ 1");
  if (spec.numbers.length > 0) checkWhole("The number of layouts", spec.layouts, 1, 64);
  checkWhole("The background", spec.background, 0, 255);
  checkWhole("The dots' grey level", spec.dotValue, 0, 255);
  if (spec.background === spec.dotValue)
    throw new SweepInputError("range", `The dots' grey level equals the background's (${spec.background}).`);
  const rgb = [spec.dotValue, spec.dotValue, spec.dotValue];
  const draw = (centres: readonly { x: number; y: number }[], radius: number): RgbImage =>
    dotsImage(
      size,
      spec.background,
      centres.map((c): Disc => ({ cx: c.x * size, cy: c.y * size, r: radius * size, rgb })),
    );
  const out: SweepImage[] = [];
  for (const radius of spec.sizes) {
    const centre = [{ x: 0.5, y: 0.5 }];
    out.push({
      image: draw(centre, radius),
      sweep: "dot-size",
      params: dotParams(centre, radius),
      condition: `radius=${radius}`,
      conditionParams: { radius },
    });
  }
  for (let j = 0; j < spec.grid; j++)
    for (let i = 0; i < spec.grid; i++) {
      const at = [{ x: round((i + 0.5) / spec.grid), y: round((j + 0.5) / spec.grid) }];
      out.push({
        image: draw(at, spec.radius),
        sweep: "dot-location",
        params: dotParams(at, spec.radius),
        condition: `x=${at[0]!.x};y=${at[0]!.y}`,
        conditionParams: { x: at[0]!.x, y: at[0]!.y },
      });
    }
  if (spec.numbers.length > 0) {
    // Cells of side 2.5 radii: dots at their centres never touch.
    const side = Math.floor(1 / (2.5 * spec.radius));
    const cells = side * side;
    const most = Math.max(...spec.numbers);
    if (most > cells)
      throw new SweepInputError(
        "range",
        `${most} dots of radius ${spec.radius} do not fit in the image without overlapping (at most ${cells}); ` +
          `use fewer dots or a smaller radius.`,
      );
    const random = new Random(spec.seed);
    for (const n of spec.numbers)
      for (let layout = 0; layout < spec.layouts; layout++) {
        const order = Array.from({ length: cells }, (_, k) => k);
        for (let k = 0; k < n; k++) {
          const pick = k + random.int(cells - k);
          [order[k], order[pick]] = [order[pick]!, order[k]!];
        }
        const centres = order
          .slice(0, n)
          .map((c) => ({ x: round(((c % side) + 0.5) / side), y: round((Math.floor(c / side) + 0.5) / side) }));
        out.push({
          image: draw(centres, spec.radius),
          sweep: "dot-number",
          params: dotParams(centres, spec.radius),
          condition: `dots=${n}`,
          conditionParams: { dots: n },
        });
      }
  }
  return out;
}
