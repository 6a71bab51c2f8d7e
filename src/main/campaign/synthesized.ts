// A designed session's maximizing synthesized images: per unit, gradient ascent from seeded noise through
// the unit's compact model (else the ensemble's prediction for it, model-units.ts says which), the best
// restarts kept; their provenance goes to the causal-design tables so the review and `analyze causal` read them.
import { performance } from "node:perf_hooks";
import { synthesizeMaximizing, type MaximizeOptions } from "../../stimulus/synthesis/index.js";
import type { RgbImage } from "../../stimulus/index.js";
import { loadDesignModel, type DesignUnit } from "../causal/model-units.js";
import { insertCausalDesign } from "../causal/store-design.js";
import type { SessionStore } from "../store/index.js";

/** Few restarts and steps: a designed session's block, not a causal test's (tests shorten them further). */
export const campaignMaximizeDefaults: Partial<MaximizeOptions> = { restarts: 1, steps: 30 };

export interface SynthesizedImage {
  image: RgbImage;
  unit: DesignUnit;
  predicted: number;
}

export interface SynthesizedBlock {
  images: SynthesizedImage[];
  modelVersionId: number;
  scale: string;
  seconds: number;
  /** e.g. "3 compact models" or "2 compact models, 1 unit through the ensemble". */
  through: string;
}

/**
 * `perUnit` images per unit of model version `modelVersionId` (a campaign's ensemble): per unit the `perUnit`
 * restarts its model predicts highest (at least `perUnit` restarts are run).
 */
export async function synthesizeForUnits(
  store: SessionStore,
  modelVersionId: number,
  perUnit: number,
  settings: Partial<MaximizeOptions>,
  log: (line: string) => void,
): Promise<SynthesizedBlock> {
  const t0 = performance.now();
  const version = store.getModelVersion(modelVersionId);
  if (version === undefined) throw new Error(`Campaign: model version ${modelVersionId} is not in ${store.file}`);
  // The newest session's readout (a pooled readout covers it too): the units the next session records.
  const newest = Math.max(...version.sessionIds);
  const dm = await loadDesignModel(store, modelVersionId, [], {
    ...(Number.isFinite(newest) ? { session: String(newest) } : {}),
    log,
  });
  try {
    const o = { ...campaignMaximizeDefaults, ...settings };
    const restarts = Math.max(perUnit, o.restarts ?? 1);
    const units = dm.units.map((_, i) => i);
    const maximized = await synthesizeMaximizing(dm.model, units, { ...o, restarts });
    const images = maximized.flatMap((m) =>
      m.restartPredictions
        .map((predicted, r) => ({ predicted, r }))
        .sort((a, b) => b.predicted - a.predicted)
        .slice(0, perUnit)
        .map(({ predicted, r }) => ({ image: m.restartImages[r]!, unit: dm.units[m.unit]!, predicted })),
    );
    const compact = dm.units.filter((u) => u.source === "compact").length;
    const ensemble = dm.units.length - compact;
    const through =
      `${compact} compact model${compact === 1 ? "" : "s"}` +
      (ensemble > 0 ? `, ${ensemble} unit${ensemble === 1 ? "" : "s"} through the ensemble` : "");
    return { images, modelVersionId, scale: dm.scale, seconds: (performance.now() - t0) / 1000, through };
  } finally {
    dm.dispose();
  }
}

/**
 * Stores the block's provenance (kind maximizing-synthesized, unit, predicted response, model) as a causal design
 * of the protocol that shows it; the images themselves must be stored already (`shas`, in the block's order).
 */
export function storeSynthesizedProvenance(
  store: SessionStore,
  block: SynthesizedBlock,
  shas: readonly string[],
  protocolText: string,
): number {
  return store.db.transaction(() => {
    const detail = {
      campaign: true,
      kind: "maximizing-synthesized",
      scale: block.scale,
      units: [...new Map(block.images.map((im) => [im.unit.name, im.unit])).values()],
      seconds: block.seconds,
    };
    return insertCausalDesign(
      store,
      { modelVersionId: block.modelVersionId, protocolText, detail },
      block.images.map((im, i) => ({
        sha256: shas[i]!,
        unit: im.unit,
        kind: "maximizing-synthesized",
        baseSha256: null,
        predicted: im.predicted,
      })),
    );
  })();
}
