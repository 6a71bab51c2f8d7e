// Adam with tf.train.adam's arithmetic, one fused SIMD pass per variable on wasm. tfjs's Adam runs
// about 14 kernels per variable and step; the deep ensemble's 4 members have about 60 small
// variables, so the optimizer alone was some 800 of a training step's 1,266 kernels, each paying
// the same dispatch cost whatever its size.
import * as tf from "@tensorflow/tfjs";
import { memoryOffsetOf, simdKernelsOf, type SimdKernels, type WasmBackendMemory } from "./simd_module.js";

/** One variable's Adam state: first and second moments (kept tensors) and its own step count. */
interface Moments {
  m: tf.Tensor;
  v: tf.Tensor;
  steps: number;
}

/** The arithmetic of one step, given the bias corrections of the variable's own step count. */
interface AdamHyper {
  beta1: number;
  beta2: number;
  c1: number;
  c2: number;
  learningRate: number;
  epsilon: number;
}

/**
 * Adam with its moments kept per variable name and bias corrections by each variable's own step
 * count, as PyTorch's Adam: with a fixed list of variables that is tf.train.adam's arithmetic, and
 * steps that update different variables (one session's readouts at a time, with shared cores) keep
 * each variable's state its own. tf.train.adam keys its moments by the position of a gradient in
 * each step's list, which would mix them. Subclasses do one variable's update.
 */
abstract class PerVariableAdam extends tf.Optimizer {
  private readonly moments = new Map<string, Moments>();

  constructor(
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = tf.backend().epsilon(),
  ) {
    super();
  }

  /** New parameter value and moments for `variable`; the old moments are disposed by the caller. */
  protected abstract update(
    variable: tf.Variable,
    gradient: tf.Tensor,
    state: Moments,
    hyper: AdamHyper,
  ): { value: tf.Tensor; m: tf.Tensor; v: tf.Tensor };

  applyGradients(variableGradients: tf.NamedTensorMap | { name: string; tensor: tf.Tensor }[]): void {
    const pairs = Array.isArray(variableGradients)
      ? variableGradients.map((g) => [g.name, g.tensor] as const)
      : Object.entries(variableGradients);
    for (const [name, gradient] of pairs) {
      if (gradient == null) continue;
      const variable = tf.engine().registeredVariables[name];
      if (variable === undefined) throw new Error(`${this.getClassName()}: no variable named ${name}`);
      let state = this.moments.get(name);
      if (state === undefined) {
        state = { m: tf.keep(tf.zerosLike(variable)), v: tf.keep(tf.zerosLike(variable)), steps: 0 };
        this.moments.set(name, state);
      }
      const steps = state.steps + 1;
      const hyper: AdamHyper = {
        beta1: this.beta1,
        beta2: this.beta2,
        c1: 1 / (1 - this.beta1 ** steps),
        c2: 1 / (1 - this.beta2 ** steps),
        learningRate: this.learningRate,
        epsilon: this.epsilon,
      };
      const next = this.update(variable, gradient, state, hyper);
      tf.dispose([state.m, state.v]);
      this.moments.set(name, { m: tf.keep(next.m), v: tf.keep(next.v), steps });
      variable.assign(next.value);
      next.value.dispose();
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

/** Adam on wasm: one fused SIMD pass per variable, in place on the backend's memory. */
class FusedAdamOptimizer extends PerVariableAdam {
  static get className(): string {
    return "CortexloopFusedAdam";
  }

  constructor(
    private readonly simd: SimdKernels,
    learningRate: number,
  ) {
    super(learningRate);
  }

  protected update(
    variable: tf.Variable,
    gradient: tf.Tensor,
    state: Moments,
    hyper: AdamHyper,
  ): { value: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
    const backend = tf.backend();
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
    return { value: value!, m: m!, v: v! };
  }
}

/** Adam in plain TensorFlow.js ops, for backends without the SIMD kernels. */
class NamedAdamOptimizer extends PerVariableAdam {
  static get className(): string {
    return "CortexloopNamedAdam";
  }

  protected update(
    variable: tf.Variable,
    gradient: tf.Tensor,
    state: Moments,
    h: AdamHyper,
  ): { value: tf.Tensor; m: tf.Tensor; v: tf.Tensor } {
    return tf.tidy(() => {
      const m = tf.add(tf.mul(state.m, h.beta1), tf.mul(gradient, 1 - h.beta1));
      const v = tf.add(tf.mul(state.v, h.beta2), tf.mul(tf.square(gradient), 1 - h.beta2));
      const step = tf.div(tf.mul(m, h.c1), tf.add(tf.sqrt(tf.mul(v, h.c2)), h.epsilon));
      return { value: tf.sub(variable, tf.mul(step, h.learningRate)), m, v };
    });
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
