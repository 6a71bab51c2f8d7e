// A tuning sweep designed for a model's units: the sweep's images (src/stimulus/sweeps.ts) and each
// unit's predicted tuning curve, a condition's prediction being the mean over the images that differ
// only in what the curve averages over (a grating's phase, a number sweep's layout).
import {
  dotSweep,
  gratingSweep,
  SweepInputError,
  type DotSweepSpec,
  type GratingSweepSpec,
  type SweepImage,
  type SweepName,
} from "../../stimulus/index.js";
import { predictAllOf } from "../causal/design.js";
import type { DesignModel } from "../causal/model-units.js";
import { TuningInputError } from "./errors.js";

export type TuningFamily = "dots" | "gratings";

export type TuningSpec = { kind: "gratings"; sweep: GratingSweepSpec } | { kind: "dots"; sweep: DotSweepSpec };

export interface ConditionPrediction {
  condition: string;
  params: Record<string, number>;
  /** Images of the condition (phases or layouts). */
  images: number;
  /** Per unit (the order of the design's units), the mean prediction over the condition's images. */
  predicted: number[];
}

export interface SweepCurves {
  sweep: SweepName;
  conditions: ConditionPrediction[];
}

export interface TuningDesign {
  kind: TuningFamily;
  images: SweepImage[];
  /** Per image, every unit's prediction. */
  predicted: Float32Array[];
  sweeps: SweepCurves[];
}

/** The sweep's images; a sweep that cannot be drawn is a TuningInputError. */
export function sweepImages(spec: TuningSpec, size: number): SweepImage[] {
  try {
    return spec.kind === "gratings" ? gratingSweep(size, spec.sweep) : dotSweep(size, spec.sweep);
  } catch (err) {
    if (err instanceof SweepInputError) throw new TuningInputError("sweep", err.message);
    throw err;
  }
}

/** Conditions of each sweep in the order the images first show them, with the units' mean predictions. */
export function sweepCurves(
  images: readonly SweepImage[],
  predicted: readonly Float32Array[],
  units: number,
): SweepCurves[] {
  const bySweep = new Map<SweepName, Map<string, { params: Record<string, number>; sums: number[]; n: number }>>();
  images.forEach((im, i) => {
    let conditions = bySweep.get(im.sweep);
    if (conditions === undefined) bySweep.set(im.sweep, (conditions = new Map()));
    let c = conditions.get(im.condition);
    if (c === undefined)
      conditions.set(im.condition, (c = { params: im.conditionParams, sums: new Array<number>(units).fill(0), n: 0 }));
    c.n++;
    for (let u = 0; u < units; u++) c.sums[u]! += predicted[i]![u]!;
  });
  return [...bySweep].map(([sweep, conditions]) => ({
    sweep,
    conditions: [...conditions].map(([condition, c]) => ({
      condition,
      params: c.params,
      images: c.n,
      predicted: c.sums.map((s) => s / c.n),
    })),
  }));
}

/** Draws the sweep and predicts every unit's response to each image through its model. */
export async function designTuning(dm: DesignModel, spec: TuningSpec): Promise<TuningDesign> {
  const images = sweepImages(spec, dm.imageSize);
  const predicted = await predictAllOf(
    dm.model,
    images.map((im) => im.image),
  );
  return { kind: spec.kind, images, predicted, sweeps: sweepCurves(images, predicted, dm.units.length) };
}
