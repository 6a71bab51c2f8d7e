/**
 * The review's causal-test panel (issue 20): a session's causal images with their provenance and the causal analysis
 * (src/main/causal/analyze.ts) as the UI reads them. Types only, so the renderer can import them. Numbers that the
 * analysis leaves undefined (NaN: a base response that is not positive, one unit so no s.e.) are null here.
 */
import type { CausalKind } from "../causal/design.js";
import type { CountingSummary } from "../review/index.js";

export type { CausalKind } from "../causal/design.js";

/** One designed image as the session showed it. */
export interface CausalImageItem {
  sha256: string;
  /** The design's unit (`electrode#sortedId`, or an imported model's neuron). */
  unit: string;
  /** The session's unit it was measured on, null when the session did not record that unit. */
  recordedUnit: string | null;
  kind: CausalKind;
  /** The image it was made from (adversarial ± from their base, smooth− and random-smoothed from theirs). */
  baseSha256: string | null;
  /** The model's predicted response of `unit` to it, on the design's scale. */
  predicted: number;
  /** What predicted it: the unit's compact model, or the ensemble's prediction for that unit. */
  source: "compact" | "ensemble";
  modelVersionId: number;
  /** Mean response of the recorded unit (spikes in the count window, complete counts) and its s.e.m. */
  measured: number | null;
  measuredSem: number | null;
  /** Presentations the mean counts. */
  presentations: number;
}

/** One unit and kind: measured %Δr against its comparison, next to the predicted %Δr. */
export interface CausalUnitRow {
  unit: string;
  source: string;
  kind: CausalKind;
  images: number;
  measured: number | null;
  measuredBase: number | null;
  measuredChange: number | null;
  /** %Δr of the unit's predictions mapped onto its measured responses (an affine fit over its normal images). */
  predictedChange: number | null;
  /** %Δr of the raw predictions: only where the design model's output is spikes (`scale` "responses"). */
  predictedModelChange: number | null;
  /** The unit's fit: normal images it used, measured ≈ slope · predicted + intercept (null where not computed). */
  fitImages: number;
  fitSlope: number | null;
  fitIntercept: number | null;
  /** Why there is no predicted %Δr (a degenerate fit, a base mapped to ≤ 0); null when there is one. */
  note: string | null;
  /** Label permutation test of the presentations' responses against the comparison's. */
  p: number | null;
}

/** One kind: mean ± s.e. over units of the measured %Δr, its sign-flip permutation p, and the predicted %Δr. */
export interface CausalKindRow {
  kind: CausalKind;
  /** What the kind is compared with ("random normal images" or "their bases"). */
  against: string;
  units: number;
  mean: number | null;
  se: number | null;
  p: number | null;
  /** Over the `predictedUnits` units with a predicted %Δr (on the measured scale). */
  predictedMean: number | null;
  predictedSe: number | null;
  predictedUnits: number;
  /** The same of the raw predictions' %Δr, where the design model's output is spikes. */
  modelMean: number | null;
  modelSe: number | null;
}

export type CausalReview =
  | {
      available: true;
      session: number;
      sessionName: string;
      designId: number;
      /** The model version the design was made from, and when. */
      modelVersionId: number | null;
      designedAt: string;
      /**
       * What the design model's predictions are in: the ensemble's responses (spikes), its z-scored units, or
       * compact-model units. The predicted %Δr is on the measured scale whatever this is; the raw predictions' %Δr
       * (`predictedModelChange`, `modelMean`) only where it is "responses".
       */
      scale: string | null;
      counting: CountingSummary;
      /** Units of the design that the session did not record (left out of the analysis). */
      missingUnits: string[];
      /** The session's units (`electrode#sortedId`): what a unit map can name. */
      recordedUnits: string[];
      summary: CausalKindRow[];
      rows: CausalUnitRow[];
      images: CausalImageItem[];
    }
  | {
      available: false;
      session: number;
      /** Why there is nothing to show, and what to do. */
      message: string;
    };
