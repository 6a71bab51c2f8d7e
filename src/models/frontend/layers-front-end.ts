import { readFile } from "node:fs/promises";
import path from "node:path";
import * as tf from "@tensorflow/tfjs";
import { preprocess, type FrontEnd, type Preprocess } from "./types.js";

export class FrontEndLoadError extends Error {
  readonly code = "front-end-load";
  constructor(source: string, reason: string) {
    super(`Could not load the front end from ${source}: ${reason}.`);
    this.name = "FrontEndLoadError";
  }
}

interface ModelJson {
  modelTopology?: unknown;
  format?: string;
  generatedBy?: string;
  convertedBy?: string;
  weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/** Reads a tensorflowjs_converter output folder (model.json + binary shards) into memory. */
export async function readModelArtifacts(modelJsonPath: string): Promise<tf.io.ModelArtifacts> {
  let json: ModelJson;
  try {
    json = JSON.parse(await readFile(modelJsonPath, "utf8")) as ModelJson;
  } catch (err) {
    throw new FrontEndLoadError(modelJsonPath, err instanceof Error ? err.message : String(err));
  }
  if (json.modelTopology === undefined || json.weightsManifest === undefined)
    throw new FrontEndLoadError(modelJsonPath, "model.json lacks modelTopology or weightsManifest");
  const dir = path.dirname(modelJsonPath);
  const buffers: Uint8Array[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) buffers.push(await readFile(path.join(dir, p)));
    specs.push(...group.weights);
  }
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts["modelTopology"],
    format: json.format,
    generatedBy: json.generatedBy,
    convertedBy: json.convertedBy,
    weightSpecs: specs,
    weightData: concat(buffers),
  };
}

export function concat(parts: Uint8Array[]): ArrayBuffer {
  const total = parts.reduce((s, p) => s + p.byteLength, 0);
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out.buffer;
}

export interface KerasLayer {
  name: string;
  class_name: string;
  config: { batch_input_shape?: unknown; trainable?: boolean };
  inbound_nodes?: unknown[];
}
interface KerasTopology {
  model_config?: { config?: { layers?: KerasLayer[]; output_layers?: unknown } };
  config?: { layers?: KerasLayer[]; output_layers?: unknown };
}

/** Names of layers an inbound_nodes entry refers to (Keras 2 nested lists, or Keras 3 dicts). */
function inboundNames(nodes: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      if (typeof v[0] === "string" && typeof v[1] === "number") out.push(v[0]);
      else v.forEach(walk);
    } else if (v !== null && typeof v === "object") {
      const hist = (v as { config?: { keras_history?: unknown } }).config?.keras_history;
      if (Array.isArray(hist) && typeof hist[0] === "string") out.push(hist[0]);
      else Object.values(v).forEach(walk);
    }
  };
  walk(nodes);
  return out;
}

function topologyLayers(
  artifacts: tf.io.ModelArtifacts,
  outputLayer: string,
): { config: NonNullable<KerasTopology["config"]>; layers: KerasLayer[]; topology: KerasTopology } {
  const topology = JSON.parse(JSON.stringify(artifacts.modelTopology)) as KerasTopology;
  const config = topology.model_config?.config ?? topology.config;
  const layers = config?.layers;
  if (config === undefined || layers === undefined)
    throw new FrontEndLoadError(outputLayer, "the model.json topology has no functional layer list");
  return { config, layers, topology };
}

/** The layers a Keras functional model needs to compute `outputLayer` (itself included), in topology order. */
export function layerAncestors(artifacts: tf.io.ModelArtifacts, outputLayer: string): KerasLayer[] {
  const { layers } = topologyLayers(artifacts, outputLayer);
  const byName = new Map(layers.map((l) => [l.name, l]));
  if (!byName.has(outputLayer)) {
    const names = layers.map((l) => l.name).filter((n) => /add|out|relu|mixed/.test(n));
    throw new FrontEndLoadError(
      outputLayer,
      `it has no layer ${outputLayer}; layers include ${names.slice(0, 16).join(", ")}` +
        `${names.length > 16 ? ", ..." : ""}`,
    );
  }
  const keep = new Set<string>();
  const stack = [outputLayer];
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (keep.has(name)) continue;
    keep.add(name);
    for (const n of inboundNames(byName.get(name)?.inbound_nodes ?? [])) stack.push(n);
  }
  return layers.filter((l) => keep.has(l.name));
}

/**
 * Cuts a Keras functional model's topology at `outputLayer` (only its ancestors are kept) and sets
 * the input to [null, size, size, 3], so the head (which needs the original size) is never built.
 */
export function cutTopology(artifacts: tf.io.ModelArtifacts, outputLayer: string, size: number): tf.io.ModelArtifacts {
  const { config, topology } = topologyLayers(artifacts, outputLayer);
  const keep = new Set(layerAncestors(artifacts, outputLayer).map((l) => l.name));
  config.layers = config.layers!.filter((l) => keep.has(l.name));
  config.output_layers = [[outputLayer, 0, 0]];
  for (const l of config.layers) if (l.class_name === "InputLayer") l.config.batch_input_shape = [null, size, size, 3];
  return { ...artifacts, modelTopology: topology as tf.io.ModelArtifacts["modelTopology"] };
}

export interface LayersFrontEndOptions {
  artifacts: tf.io.ModelArtifacts;
  /** Layer (Keras layers model) or node (graph model) whose output is the feature map. */
  outputLayer: string;
  inputSize: number;
  preprocess: Preprocess;
  name: string;
  description: string;
  taskDriven: boolean;
}

/** A frozen front end from a tfjs layers model (Keras) or graph model (SavedModel), cut at `outputLayer`. */
export async function frontEndFromArtifacts(options: LayersFrontEndOptions): Promise<FrontEnd> {
  const isGraph = options.artifacts.format === "graph-model";
  let run: (x: tf.Tensor4D) => tf.Tensor4D;
  let disposeModel: () => void;
  if (isGraph) {
    const graph = await tf.loadGraphModel(tf.io.fromMemory(options.artifacts));
    const known = graph.outputNodes;
    run = (x) => {
      try {
        return graph.execute(x, options.outputLayer) as tf.Tensor4D;
      } catch (err) {
        throw new FrontEndLoadError(
          options.name,
          `node ${options.outputLayer} could not be computed (` +
            `${err instanceof Error ? err.message : String(err)}); outputs are ${known.join(", ")}`,
        );
      }
    };
    disposeModel = () => graph.dispose();
  } else {
    // strict false: the weights of the cut-off head are in the shards but not in the model.
    const cut = await tf.loadLayersModel(
      tf.io.fromMemory(cutTopology(options.artifacts, options.outputLayer, options.inputSize)),
      { strict: false },
    );
    cut.trainable = false;
    run = (x) => cut.predict(x) as tf.Tensor4D;
    disposeModel = () => cut.dispose();
  }
  const probe = tf.tidy(() => run(tf.zeros([1, options.inputSize, options.inputSize, 3])));
  const shape = probe.shape.slice(1) as [number, number, number];
  probe.dispose();
  if (shape.length !== 3)
    throw new FrontEndLoadError(
      options.name,
      `${options.outputLayer} gives rank ${shape.length + 1} output; a feature map needs rank 4`,
    );
  return {
    name: options.name,
    taskDriven: options.taskDriven,
    description: options.description,
    inputSize: options.inputSize,
    outputShape: shape,
    apply(images) {
      return tf.tidy(() => {
        const sized =
          images.shape[1] === options.inputSize && images.shape[2] === options.inputSize
            ? images
            : tf.image.resizeBilinear(images, [options.inputSize, options.inputSize]);
        return run(preprocess(tf, tf.cast(sized, "float32") as tf.Tensor4D, options.preprocess));
      });
    },
    dispose: disposeModel,
  };
}

/** A converted model on disk (`tensorflowjs_converter` output); see README.md for ResNet50. */
export async function loadFrontEndFromDisk(
  modelJsonPath: string,
  options: Omit<LayersFrontEndOptions, "artifacts" | "name" | "description" | "taskDriven"> & { name?: string },
): Promise<FrontEnd> {
  const artifacts = await readModelArtifacts(modelJsonPath);
  return frontEndFromArtifacts({
    ...options,
    artifacts,
    name: options.name ?? `${path.basename(path.dirname(modelJsonPath))}@${options.outputLayer}`,
    description: `converted model ${modelJsonPath} cut at ${options.outputLayer}`,
    taskDriven: true,
  });
}
