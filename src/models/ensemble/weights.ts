import * as tf from "@tensorflow/tfjs";

export interface EnsembleConfig {
  /** Front-end feature map [h, w, c] the members read. */
  inputShape: [number, number, number];
  members: number;
  /** Channels inside each member. */
  width: number;
  /** Residual blocks of separable convolutions per member. */
  blocks: number;
  kernelSize: number;
  seed: number;
  /** Fixed per-channel standardization of the front-end features (from training images). */
  inputMean?: number[];
  inputScale?: number[];
  /**
   * The core's nonlinearity (default "relu", as every model version before it was recorded). With
   * "elu" the core's output is not rectified to mostly zeros, which leaves a readout more to work with.
   */
  activation?: "relu" | "elu";
}

export const defaultEnsembleConfig: Omit<EnsembleConfig, "inputShape"> = {
  members: 4,
  width: 32,
  blocks: 2,
  kernelSize: 3,
  seed: 1,
};

/** One member's core: 1×1 projection, then residual separable-conv blocks. */
export interface MemberCore {
  project: tf.Variable;
  projectBias: tf.Variable;
  depthwise: tf.Variable[];
  pointwise: tf.Variable[];
  bias: tf.Variable[];
}

/** Factorized readout of one member for one session: 1×1 channel mixing, then a spatial map per unit. */
export interface Readout {
  units: number;
  mix: tf.Variable; // [1,1,C,U]
  spatial: tf.Variable; // [h*w, U]
  bias: tf.Variable; // [U]
}

function he(shape: number[], fanIn: number, seed: number, name: string, gain = 1): tf.Variable {
  return tf.tidy(() =>
    tf.variable(tf.mul(tf.randomNormal(shape, 0, 1, "float32", seed), gain * Math.sqrt(2 / fanIn)), true, name),
  );
}

// tf.variable keeps its own copy: build the initial value inside tidy so it is released.
function zerosVariable(shape: number[], name: string): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zeros(shape), true, name));
}

let counter = 0;
function uniqueName(base: string): string {
  counter += 1;
  return `${base}_${counter}`;
}

export function createMemberCore(config: EnsembleConfig, member: number): MemberCore {
  const [, , c] = config.inputShape;
  const w = config.width;
  const k = config.kernelSize;
  const seed = config.seed * 1000 + member * 97;
  const core: MemberCore = {
    project: he([1, 1, c, w], c, seed, uniqueName(`m${member}_project`)),
    projectBias: zerosVariable([w], uniqueName(`m${member}_project_b`)),
    depthwise: [],
    pointwise: [],
    bias: [],
  };
  for (let b = 0; b < config.blocks; b++) {
    core.depthwise.push(he([k, k, w, 1], k * k, seed + 10 + b, uniqueName(`m${member}_b${b}_dw`)));
    // Small residual branch at start: each block begins near the identity.
    core.pointwise.push(he([1, 1, w, w], w, seed + 20 + b, uniqueName(`m${member}_b${b}_pw`), 0.5));
    core.bias.push(zerosVariable([w], uniqueName(`m${member}_b${b}_b`)));
  }
  return core;
}

export function createReadout(
  config: Pick<EnsembleConfig, "inputShape" | "width">,
  units: number,
  seed: number,
): Readout {
  const [h, w] = config.inputShape;
  return {
    units,
    mix: he([1, 1, config.width, units], config.width, seed, uniqueName("readout_mix")),
    spatial: tf.tidy(() => tf.variable(tf.fill([h * w, units], 1 / (h * w)), true, uniqueName("readout_spatial"))),
    bias: zerosVariable([units], uniqueName("readout_b")),
  };
}

export function coreVariables(core: MemberCore): tf.Variable[] {
  return [core.project, core.projectBias, ...core.depthwise, ...core.pointwise, ...core.bias];
}

export function readoutVariables(r: Readout): tf.Variable[] {
  return [r.mix, r.spatial, r.bias];
}

/** Per-channel mean and 1/std of features [N, h, w, c] (C order) over the given images. */
export function channelStats(
  features: Float32Array,
  c: number,
  images: readonly number[],
  perImage: number,
): { mean: number[]; scale: number[] } {
  const sum = new Float64Array(c);
  const sq = new Float64Array(c);
  let n = 0;
  for (const i of images) {
    for (let p = i * perImage; p < (i + 1) * perImage; p += c) {
      for (let k = 0; k < c; k++) {
        const v = features[p + k]!;
        sum[k]! += v;
        sq[k]! += v * v;
      }
      n++;
    }
  }
  const mean = Array.from(sum, (s) => s / Math.max(1, n));
  const scale = Array.from(sq, (q, k) => {
    const sd = Math.sqrt(Math.max(0, q / Math.max(1, n) - mean[k]! ** 2));
    return sd > 1e-6 ? 1 / sd : 1;
  });
  return { mean, scale };
}

/** Per-channel feature standardization over every session's training images (stored with the model). */
export function featureStandardization(
  sessions: readonly { features: Float32Array; trainIdx: readonly number[] }[],
  shape: readonly [number, number, number],
): { inputMean: number[]; inputScale: number[] } {
  const c = shape[2];
  const per = shape[0] * shape[1] * c;
  const total = sessions.reduce((n, s) => n + s.trainIdx.length * shape[0] * shape[1], 0);
  const mean = new Float64Array(c);
  const sq = new Float64Array(c);
  for (const s of sessions) {
    const st = channelStats(s.features, c, s.trainIdx, per);
    const w = (s.trainIdx.length * shape[0] * shape[1]) / total;
    for (let k = 0; k < c; k++) {
      mean[k]! += w * st.mean[k]!;
      sq[k]! += w * (1 / st.scale[k]! ** 2 + st.mean[k]! ** 2);
    }
  }
  return {
    inputMean: Array.from(mean),
    inputScale: Array.from(sq, (q, k) => {
      const sd = Math.sqrt(Math.max(0, q - mean[k]! ** 2));
      return sd > 1e-6 ? 1 / sd : 1;
    }),
  };
}

/** Core forward pass: features [N,h,w,c] → [N,h,w,width]. */
export function coreForward(
  core: MemberCore,
  x: tf.Tensor4D,
  config?: Pick<EnsembleConfig, "inputMean" | "inputScale" | "activation">,
): tf.Tensor4D {
  return tf.tidy(() => {
    const act =
      config?.activation === "elu"
        ? (t: tf.Tensor) => tf.elu(t) as tf.Tensor4D
        : (t: tf.Tensor) => tf.relu(t) as tf.Tensor4D;
    const input =
      config?.inputMean && config.inputScale
        ? (tf.mul(tf.sub(x, config.inputMean), config.inputScale) as tf.Tensor4D)
        : x;
    let y = act(tf.add(tf.conv2d(input, core.project as tf.Tensor4D, 1, "same"), core.projectBias));
    for (let b = 0; b < core.depthwise.length; b++) {
      const branch = tf.add(
        tf.separableConv2d(y, core.depthwise[b] as tf.Tensor4D, core.pointwise[b] as tf.Tensor4D, 1, "same"),
        core.bias[b]!,
      );
      y = act(tf.add(y, branch));
    }
    return y;
  });
}

/** Readout forward: core output [N,h,w,C] → responses [N,U]. */
export function readoutForward(r: Readout, y: tf.Tensor4D): tf.Tensor2D {
  return tf.tidy(() => {
    const [n, h, w] = y.shape;
    const mixed = tf.reshape(tf.conv2d(y, r.mix as tf.Tensor4D, 1, "valid"), [n, h * w, r.units]);
    return tf.add(tf.sum(tf.mul(mixed, r.spatial), 1), r.bias) as tf.Tensor2D;
  });
}

export function disposeCore(core: MemberCore): void {
  tf.dispose(coreVariables(core));
}

export function disposeReadout(r: Readout): void {
  tf.dispose(readoutVariables(r));
}
