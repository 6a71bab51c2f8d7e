// The predicted %Δr of `analyze causal` on the measured responses' scale. A design model's output scale need not be
// spikes: an imported published compact model's offset and scale are arbitrary, so %Δr of its raw outputs means
// nothing (a base output near 0 makes it huge, one ≤ 0 leaves it undefined). Per unit, the model's stored predictions
// are mapped onto the unit's measured responses by an affine least-squares fit, and %Δr is taken of the mapped ones.
import type { CausalKind } from "./design.js";

/**
 * The images a unit's fit uses: the unit's normal (bank) images, i.e. its random normal images, maximizing normal
 * images and the bases of its adversarial and smoothed images. The designed images (maximizing synthesized,
 * adversarial ±, smooth−, random-smoothed) are left out, so their predicted %Δr stays a prediction rather than being
 * fitted to what it is compared with.
 */
export const FIT_KINDS: readonly CausalKind[] = [
  "random-normal",
  "maximizing-normal",
  "adversarial-base",
  "smooth-base",
];

/** What the predicted %Δr is taken of, as the table and the CSV name it. */
export const PREDICTED_SCALE = "measured-affine-fit";

/** Fewest distinct images a fit takes: two points always lie on a line, so a fit of two shows nothing. */
export const MIN_FIT_IMAGES = 3;

/** Model output scales on which %Δr of raw predictions already means something (the design model predicts spikes). */
export const SPIKE_SCALES: readonly string[] = ["responses"];

export type AffineFit =
  | { ok: true; images: number; slope: number; intercept: number; note: null }
  | { ok: false; images: number; slope: number; intercept: number; note: string };

/**
 * Least squares of `measured` on `predicted` (pairs with both values finite). Degenerate, with a note saying why and
 * no mapping: fewer than MIN_FIT_IMAGES pairs, predictions all alike, responses all alike, or a slope that is not
 * positive (the model ranks the unit's normal images against its responses: mapping would flip every sign).
 */
export function fitAffine(predicted: readonly number[], measured: readonly number[]): AffineFit {
  const xs: number[] = [];
  const ys: number[] = [];
  predicted.forEach((x, i) => {
    const y = measured[i];
    if (Number.isFinite(x) && y !== undefined && Number.isFinite(y)) {
      xs.push(x);
      ys.push(y);
    }
  });
  const n = xs.length;
  const no = (note: string, slope = Number.NaN, intercept = Number.NaN): AffineFit => ({
    ok: false,
    images: n,
    slope,
    intercept,
    note,
  });
  if (n < MIN_FIT_IMAGES)
    return no(
      `no fit onto the measured scale: ${n} normal image${n === 1 ? "" : "s"} with both a prediction and a ` +
        `measured response (the fit needs ${MIN_FIT_IMAGES})`,
    );
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let sxx = 0;
  let sxy = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i]! - mx) ** 2;
    sxy += (xs[i]! - mx) * (ys[i]! - my);
    syy += (ys[i]! - my) ** 2;
  }
  // Predictions equal up to rounding: no slope can be read from them.
  if (Math.sqrt(sxx / n) <= 1e-9 * Math.max(1, Math.abs(mx)))
    return no(`no fit onto the measured scale: the model predicts the same for all ${n} normal images`);
  if (Math.sqrt(syy / n) <= 1e-9 * Math.max(1, Math.abs(my)))
    return no(`no fit onto the measured scale: the unit responded the same to all ${n} normal images`, 0, my);
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  if (!(slope > 0))
    return no(
      `no fit onto the measured scale: over ${n} normal images the measured response falls as the prediction ` +
        `rises (slope ${slope.toPrecision(3)})`,
      slope,
      intercept,
    );
  return { ok: true, images: n, slope, intercept, note: null };
}
