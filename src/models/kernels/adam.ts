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

  private readonly moments = new Map<string, { m: tf.Tensor; v: tf.Tensor; steps: number }>();

  constructor(
    private readonly simd: SimdKernels,
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = tf.backend().epsilon(),
  ) {
    super();
  }

  applyGradients(variableGradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]): void {
    const backend = tf.backend();
    const pairs = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor] as const)
      : Object.entries(variableGradients);
    for (const [name, gradient] of pairs) {
      if (gradient == null) continue;
      const variable = tf.engine().registeredVariables[name];
      if (variable === undefined) throw new Error(`FusedAdam: no variable named ${name}`);
      let state = this.moments.get(name);
      if (state === undefined)
        this.moments.set(
          name,
          (state = { m: tf.keep(tf.zerosLike(variable)), v: tf.keep(tf.zerosLike(variable)), steps: 0 }),
        );
      // Bias corrections by the variable's own step count (as PyTorch's Adam): with a fixed list of
      // variables the same as tf.train.adam's global count.
      const steps = state.steps + 1;
      const hyper = {
        beta1: this.beta1,
        beta2: this.beta2,
        c1: 1 / (1 - this.beta1 ** steps),
        c2: 1 / (1 - this.beta2 ** steps),
        learningRate: this.learningRate,
        epsilon: this.epsilon,
      };
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
      this.moments.set(name, { m: tf.keep(m!), v: tf.keep(v!), steps });
      variable.assign(value!);
      value!.dispose();
    }
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
 * Adam with tf.train.adam's arithmetic in plain TensorFlow.js ops, its moments kept per variable name.
 * tf.train.adam keeps them by the position of a gradient in each step's list, so an optimizer whose
 * steps update different variables (one session's readouts at a time, with shared cores) would mix
 * one variable's moments into another's.
 */
class NamedAdamOptimizer extends tf.Optimizer {
  static get className(): string {
    return "CortexloopNamedAdam";
  }

  private readonly moments = new Map<string, { m: tf.Variable; v: tf.Variable; steps: number }>();

  constructor(
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = tf.backend().epsilon(),
  ) {
    super();
  }

  applyGradients(variableGradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]): void {
    const pairs = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor] as const)
      : Object.entries(variableGradients);
    const [b1, b2] = [this.beta1, this.beta2];
    for (const [name, gradient] of pairs) {
      if (gradient == null) continue;
      const variable = tf.engine().registeredVariables[name];
      if (variable === undefined) throw new Error(`NamedAdam: no variable named ${name}`);
      let state = this.moments.get(name);
      if (state === undefined) {
        state = tf.tidy(() => ({
          m: tf.variable(tf.zerosLike(variable), false),
          v: tf.variable(tf.zerosLike(variable), false),
          steps: 0,
        }));
        this.moments.set(name, state);
      }
      const { m, v } = state;
      state.steps += 1;
      const [c1, c2] = [1 / (1 - b1 ** state.steps), 1 / (1 - b2 ** state.steps)];
      tf.tidy(() => {
        const nm = tf.add(tf.mul(m, b1), tf.mul(gradient, 1 - b1));
        const nv = tf.add(tf.mul(v, b2), tf.mul(tf.square(gradient), 1 - b2));
        m.assign(nm);
        v.assign(nv);
        const step = tf.div(tf.mul(nm, c1), tf.add(tf.sqrt(tf.mul(nv, c2)), this.epsilon));
        variable.assign(tf.sub(variable, tf.mul(step, this.learningRate)));
      });
    }
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
 * the SIMD kernels run, tf.train.adam itself everywhere else. `byName`: moments per variable name on
 * every backend (the fused one always does), for an optimizer whose steps update different variables.
 */
export function adamOptimizer(learningRate: number, options: { byName?: boolean } = {}): tf.Optimizer {
  const simd = simdKernelsOf(tf.backend());
  if (simd !== undefined) return new FusedAdamOptimizer(simd, learningRate);
  return options.byName === true ? new NamedAdamOptimizer(learningRate) : tf.train.adam(learningRate);
}
