// Adam with tf.train.adam's arithmetic, one fused SIMD pass per variable on wasm. tfjs's Adam runs
// about 14 kernels per variable and step; the deep ensemble's 4 members have about 60 small
// variables, so the optimizer alone was some 800 of a training step's 1,266 kernels, each paying
// the same dispatch cost whatever its size.
import * as tf from "@tensorflow/tfjs";
import { memoryOffsetOf, simdKernelsOf, type SimdKernels, type WasmBackendMemory } from "./simd_module.js";

class FusedAdamOptimizer extends tf.Optimizer {
  static get className(): string {
    return "CortexloopFusedAdam";
  }

  private readonly moments = new Map<string, { m: tf.Tensor; v: tf.Tensor }>();
  private beta1Power: number;
  private beta2Power: number;

  constructor(
    private readonly simd: SimdKernels,
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = tf.backend().epsilon(),
  ) {
    super();
    this.beta1Power = beta1;
    this.beta2Power = beta2;
  }

  applyGradients(variableGradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]): void {
    const backend = tf.backend();
    const pairs = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor] as const)
      : Object.entries(variableGradients);
    const hyper = {
      beta1: this.beta1,
      beta2: this.beta2,
      c1: 1 / (1 - this.beta1Power),
      c2: 1 / (1 - this.beta2Power),
      learningRate: this.learningRate,
      epsilon: this.epsilon,
    };
    for (const [name, gradient] of pairs) {
      if (gradient == null) continue;
      const variable = tf.engine().registeredVariables[name];
      if (variable === undefined) throw new Error(`FusedAdam: no variable named ${name}`);
      let state = this.moments.get(name);
      if (state === undefined)
        this.moments.set(name, (state = { m: tf.keep(tf.zerosLike(variable)), v: tf.keep(tf.zerosLike(variable)) }));
      const g = gradient.dtype === "float32" ? gradient : tf.cast(gradient, "float32");
      const wasm = backend as unknown as WasmBackendMemory;
      const [np, nm, nv] = [0, 1, 2].map(() => wasm.makeOutput([...variable.shape], "float32"));
      const at = (t: tf.TensorInfo): number => memoryOffsetOf(backend, t);
      this.simd.adam(
        { p: at(variable), g: at(g), m: at(state.m), v: at(state.v), np: at(np!), nm: at(nm!), nv: at(nv!) },
        variable.size,
        hyper,
      );
      if (g !== gradient) g.dispose();
      const [value, m, v] = [np!, nm!, nv!].map((t) => tf.engine().makeTensorFromTensorInfo(t, backend));
      tf.dispose([state.m, state.v]);
      this.moments.set(name, { m: tf.keep(m!), v: tf.keep(v!) });
      variable.assign(value!);
      value!.dispose();
    }
    this.beta1Power *= this.beta1;
    this.beta2Power *= this.beta2;
    this.incrementIterations();
  }

  override dispose(): void {
    super.dispose();
    for (const { m, v } of this.moments.values()) tf.dispose([m, v]);
    this.moments.clear();
  }

  getConfig(): tf.serialization.ConfigDict {
    return { learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon };
  }
}

/**
 * Adam (tf.train.adam's defaults: beta1 0.9, beta2 0.999, the backend's epsilon): fused on wasm where
 * the SIMD kernels run, tf.train.adam itself everywhere else.
 */
export function adamOptimizer(learningRate: number): tf.Optimizer {
  const simd = simdKernelsOf(tf.backend());
  return simd === undefined ? tf.train.adam(learningRate) : new FusedAdamOptimizer(simd, learningRate);
}
