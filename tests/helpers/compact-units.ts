/**
 * Small random compact models (one unit each, 112 px input) as the causal design's worker tests use them: their
 * arrays (as worker threads take them), their main-thread models, and every unit routed as one response model.
 */
import {
  compactModelArrays,
  compactModelFromArrays,
  createCompactModel,
  FastCompactModel,
  type NpyValue,
} from "../../src/models/compact/index.js";
import { compactResponseModel, routedResponseModel, type UnitResponseModel } from "../../src/models/response/index.js";

export interface CompactUnits {
  arrays: NpyValue[];
  fast: FastCompactModel[];
  /** Unit i is fast[i]. */
  model: UnitResponseModel;
  dispose(): void;
}

/** One compact model of filters [4, 4, 3, 3, 3] per seed. */
export function compactUnits(seeds: readonly number[]): CompactUnits {
  const arrays = seeds.map((seed) => compactModelArrays(createCompactModel([4, 4, 3, 3, 3], { seed })));
  const fast = arrays.map((a) => {
    const m = compactModelFromArrays(a, "test");
    const f = FastCompactModel.fromModel(m);
    m.dispose();
    return f;
  });
  return {
    arrays,
    fast,
    model: routedResponseModel(fast.map((f) => ({ model: compactResponseModel(f), unit: 0 }))),
    dispose: () => fast.forEach((f) => f.dispose()),
  };
}
