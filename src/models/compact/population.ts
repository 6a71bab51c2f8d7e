// Compact models of a session's units trained together (Cowley et al. 2023, Extended Data Fig. 3d):
// the early layers are shared by every unit, the later layers and the readout are each unit's own.
// Each unit's compact model is then the shared layers followed by its own, in the published layout.
import * as tf from "@tensorflow/tfjs";
import type { NdArray } from "./npy.js";
import { COMPACT_INPUT_SIZE } from "./model.js";
import {
  centerPixels,
  depthwiseMaps,
  disposeLayer,
  freshLayerVars,
  freshReadoutVars,
  laplacianPenalty,
  layerArrays,
  layerInference,
  layerVariables,
  layerTraining,
  trainableOf,
  freshFactorized,
  headReadoutArrays,
  headReadoutForward,
  headReadoutMaps,
  headReadoutVars,
  type CompactLayerVars,
  type HeadReadout,
} from "./layers.js";

export interface PopulationConfig {
  units: number;
  /** Layers 0 .. sharedLayers-1 are shared by every unit (1 to 4). */
  sharedLayers: number;
  /** Filters [K0..K4]: the shared layers', then each unit's own layers'. */
  filters: number[];
  inputSize?: number;
  seed: number;
  /**
   * Feature hint (FitNets-style): a 1×1 map from the shared layers' output, pooled to the teacher
   * front end's grid [h, w, c], learns the front end's features. Only the shared layers gain from it;
   * it is no part of any unit's compact model.
   */
  hint?: { shape: [number, number, number] };
  /** Each unit's readout while training: "factorized" (default) or "dense". */
  readout?: "factorized" | "dense";
}

export interface SmoothnessPrior {
  /** Weight of the Laplacian penalty on the depthwise kernels (layers 1-4). */
  depthwise: number;
  /** Weight of the Laplacian penalty on the readout's spatial maps. */
  readout: number;
}

let hintId = 0;

interface Head {
  layers: CompactLayerVars[];
  readout: HeadReadout;
}

export class PopulationCompactModel {
  readonly trunk: CompactLayerVars[];
  readonly heads: Head[];
  readonly side: number;
  readonly hint?: { kernel: tf.Variable; bias: tf.Variable; shape: [number, number, number] };

  constructor(readonly config: PopulationConfig) {
    const { units, sharedLayers: s, filters, seed } = config;
    if (!Number.isInteger(units) || units < 1)
      throw new Error(`PopulationCompactModel: units must be a positive integer, got ${units}`);
    if (!Number.isInteger(s) || s < 1 || s > 4)
      throw new Error(`PopulationCompactModel: sharedLayers must be 1 to 4, got ${s}`);
    if (filters.length !== 5 || filters.some((k) => !Number.isInteger(k) || k < 1))
      throw new Error(`PopulationCompactModel: filters must be 5 positive integers, got [${filters.join(", ")}]`);
    const size = config.inputSize ?? COMPACT_INPUT_SIZE;
    if (size % 4 !== 0) throw new Error(`PopulationCompactModel: inputSize must be a multiple of 4, got ${size}`);
    this.side = size / 4;
    const cin = (l: number): number => (l === 0 ? 3 : filters[l - 1]!);
    this.trunk = Array.from({ length: s }, (_, l) => freshLayerVars(l, cin(l), filters[l]!, seed * 1009 + l));
    this.heads = Array.from({ length: units }, (_, u) => ({
      layers: Array.from({ length: 5 - s }, (_, j) =>
        freshLayerVars(s + j, cin(s + j), filters[s + j]!, seed * 1009 + 100 * (u + 1) + s + j),
      ),
      readout:
        config.readout === "dense"
          ? { kind: "dense" as const, ...freshReadoutVars(this.side, filters[4]!, seed * 1009 + 100 * (u + 1) + 9) }
          : freshFactorized(this.side, filters[4]!, seed * 1009 + 100 * (u + 1) + 9),
    }));
    if (config.hint !== undefined) {
      const [h, w, c] = config.hint.shape;
      const k = filters[s - 1]!;
      if (this.trunkSide() % h !== 0 || this.trunkSide() % w !== 0)
        throw new Error(
          `PopulationCompactModel: the hint grid ${h}x${w} does not divide the shared layers' ${this.trunkSide()}x` +
            `${this.trunkSide()} output`,
        );
      const limit = Math.sqrt(6 / (k + c));
      this.hint = tf.tidy(() => ({
        kernel: tf.variable(
          tf.randomUniform([1, 1, k, c], -limit, limit, "float32", seed * 1009 + 77),
          true,
          `compact_hint_kernel_${hintId}`,
        ),
        bias: tf.variable(tf.zeros([c]), true, `compact_hint_bias_${hintId++}`),
        shape: [h, w, c] as [number, number, number],
      }));
    }
  }

  /** Side of the shared layers' output (stride 2 at layers 1 and 2). */
  private trunkSide(): number {
    const size = this.config.inputSize ?? COMPACT_INPUT_SIZE;
    return this.config.sharedLayers === 1 ? size : this.config.sharedLayers === 2 ? size / 2 : size / 4;
  }

  /** Training form with the hint's prediction of the front-end features [N, h, w, c] (when there is a hint). */
  trainingForwardWithHint(pixels: tf.Tensor4D): { out: tf.Tensor2D; hint?: tf.Tensor4D } {
    let a = centerPixels(pixels);
    for (const l of this.trunk) a = layerTraining(l, a);
    const outs = this.heads.map((h) => {
      let x = a;
      for (const l of h.layers) x = layerTraining(l, x);
      return headReadoutForward(h.readout, x);
    });
    const out = tf.concat(outs, 1) as tf.Tensor2D;
    if (this.hint === undefined) return { out };
    const [h] = this.hint.shape;
    const pool = this.trunkSide() / h;
    const pooled = pool === 1 ? a : (tf.avgPool(a, pool, pool, "valid") as tf.Tensor4D);
    return {
      out,
      hint: tf.add(tf.conv2d(pooled, this.hint.kernel as tf.Tensor4D, 1, "valid"), this.hint.bias) as tf.Tensor4D,
    };
  }

  /** Training form: [N, units], batch statistics, moving statistics updated. */
  trainingForward(pixels: tf.Tensor4D): tf.Tensor2D {
    const { out, hint } = this.trainingForwardWithHint(pixels);
    hint?.dispose();
    return out;
  }

  /** Inference form (moving statistics): [N, units]. */
  predict(pixels: tf.Tensor4D): tf.Tensor2D {
    return tf.tidy(() => {
      let a = centerPixels(pixels);
      for (const l of this.trunk) a = layerInference(l, a);
      const outs = this.heads.map((h) => {
        let x = a;
        for (const l of h.layers) x = layerInference(l, x);
        return headReadoutForward(h.readout, x);
      });
      return tf.concat(outs, 1) as tf.Tensor2D;
    });
  }

  /** The smoothness prior: the shared layers' penalty once, each unit's averaged over units. */
  smoothness(prior: SmoothnessPrior): tf.Scalar {
    const dw = (layers: CompactLayerVars[]): tf.Scalar[] =>
      layers.flatMap((l) => (l.depthwise === undefined ? [] : [laplacianPenalty(depthwiseMaps(l.depthwise))]));
    const parts: tf.Scalar[] = [];
    if (prior.depthwise > 0) {
      const trunk = dw(this.trunk);
      if (trunk.length > 0) parts.push(tf.mul(prior.depthwise, tf.addN(trunk)) as tf.Scalar);
      const heads = this.heads.flatMap((h) => dw(h.layers));
      if (heads.length > 0) parts.push(tf.mul(prior.depthwise / this.heads.length, tf.addN(heads)) as tf.Scalar);
    }
    if (prior.readout > 0)
      parts.push(
        tf.mul(
          prior.readout / this.heads.length,
          tf.addN(this.heads.map((h) => laplacianPenalty(headReadoutMaps(h.readout, this.side)))),
        ) as tf.Scalar,
      );
    return parts.length === 0 ? tf.scalar(0) : (tf.addN(parts) as tf.Scalar);
  }

  trainableVariables(): tf.Variable[] {
    return [
      ...this.trunk.flatMap(trainableOf),
      ...this.heads.flatMap((h) => [...h.layers.flatMap(trainableOf), ...headReadoutVars(h.readout)]),
      ...(this.hint === undefined ? [] : [this.hint.kernel, this.hint.bias]),
    ];
  }

  /** Unit `u`'s compact model as the 36 published arrays: the shared layers, then its own. */
  unitArrays(u: number): NdArray[] {
    const h = this.heads[u];
    if (h === undefined) throw new Error(`PopulationCompactModel: no unit ${u} (units 0-${this.heads.length - 1})`);
    return [...this.trunk.flatMap(layerArrays), ...h.layers.flatMap(layerArrays), ...headReadoutArrays(h.readout)];
  }

  /** Every variable's values (trainable and moving statistics), for a checkpoint. */
  allArrays(): NdArray[] {
    const hint =
      this.hint === undefined
        ? []
        : [this.hint.kernel, this.hint.bias].map((v) => ({
            shape: [...v.shape],
            dtype: "f4",
            data: (v.dataSync() as Float32Array).slice(),
          }));
    const toArray = (v: tf.Variable): NdArray => ({
      shape: [...v.shape],
      dtype: "f4",
      data: (v.dataSync() as Float32Array).slice(),
    });
    return [
      ...this.trunk.flatMap(layerArrays),
      ...this.heads.flatMap((h) => [...h.layers.flatMap(layerArrays), ...headReadoutVars(h.readout).map(toArray)]),
      ...hint,
    ];
  }

  /** Restores what allArrays() gave (same config). */
  assignAll(arrays: readonly NdArray[]): void {
    const vars = [
      ...this.trunk.flatMap(layerVariables),
      ...this.heads.flatMap((h) => [...h.layers.flatMap(layerVariables), ...headReadoutVars(h.readout)]),
      ...(this.hint === undefined ? [] : [this.hint.kernel, this.hint.bias]),
    ];
    if (arrays.length !== vars.length)
      throw new Error(`PopulationCompactModel.assignAll: ${arrays.length} arrays for ${vars.length} variables`);
    // Every shape first, so a mismatch changes nothing.
    vars.forEach((v, i) => {
      const a = arrays[i]!;
      if (a.shape.length !== v.shape.length || a.shape.some((d, j) => d !== v.shape[j]))
        throw new Error(
          `PopulationCompactModel.assignAll: array ${i} has shape (${a.shape.join(",")}), the variable (` +
            `${v.shape.join(",")})`,
        );
    });
    vars.forEach((v, i) => {
      const a = arrays[i]!;
      tf.tidy(() =>
        v.assign(tf.tensor(a.data instanceof Float32Array ? a.data : Float32Array.from(a.data), a.shape, "float32")),
      );
    });
  }

  dispose(): void {
    if (this.hint !== undefined) tf.dispose([this.hint.kernel, this.hint.bias]);
    this.trunk.forEach(disposeLayer);
    for (const h of this.heads) {
      h.layers.forEach(disposeLayer);
      tf.dispose(headReadoutVars(h.readout));
    }
  }
}
