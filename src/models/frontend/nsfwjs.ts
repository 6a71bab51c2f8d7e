// Built-in task-driven front ends: the ImageNet networks that the npm package `nsfwjs` ships inside
// its tarball (dist/models/<network>, uint8-quantized weights as base64 modules). nsfwjs fine-tuned
// only the top of each network for its NSFW classifier and marked every layer it left frozen
// `trainable: false` in the model's topology: a cut whose every ancestor is frozen is an ImageNet
// feature map, and the front end's name says so.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type * as tf from "@tensorflow/tfjs";
import { concat, FrontEndLoadError, frontEndFromArtifacts, layerAncestors } from "./layers-front-end.js";
import type { FrontEnd } from "./types.js";

export const NSFWJS_PACKAGE = "nsfwjs";

/** The Keras networks nsfwjs ships, with their default cut and the input size they were trained at. */
export const nsfwjsNetworks = {
  mobilenet_v2: { title: "MobileNetV2", defaultLayer: "block_9_add", nativeSize: 224 },
  inception_v3: { title: "InceptionV3", defaultLayer: "mixed2", nativeSize: 299 },
} as const;
export type NsfwjsNetwork = keyof typeof nsfwjsNetworks;

/** Finds the installed nsfwjs package folder: option, env CORTEXLOOP_NSFWJS_DIR, then Node resolution. */
export function findNsfwjsDir(explicit?: string): string | undefined {
  const candidates = [explicit, process.env.CORTEXLOOP_NSFWJS_DIR];
  for (const c of candidates) if (c !== undefined && c !== "" && hasModel(c)) return c;
  try {
    // nsfwjs's "exports" map hides package.json: resolve its main entry and walk up to the root.
    const main = createRequire(import.meta.url).resolve(NSFWJS_PACKAGE);
    return packageRootOf(main, NSFWJS_PACKAGE);
  } catch {
    return undefined;
  }
}

function hasModel(dir: string, network: NsfwjsNetwork = "mobilenet_v2"): boolean {
  return existsSync(path.join(dir, "dist", "models", network, "model.min.js"));
}

/** The nearest folder above `file` whose package.json is named `name` and holds the model. */
export function packageRootOf(file: string, name: string): string | undefined {
  let dir = path.dirname(file);
  for (;;) {
    const pkg = path.join(dir, "package.json");
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, "utf8")) as { name?: string }).name === name && hasModel(dir)) return dir;
      } catch {
        // an unreadable package.json (e.g. dist/esm's {"type":"module"}) is not the root; keep walking
      }
    }
    const up = path.dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export interface NsfwjsOptions {
  packageDir?: string;
  /** Which of the package's ImageNet networks (default mobilenet_v2). */
  network?: NsfwjsNetwork;
  /** Layer whose output is the feature map (default: the network's `defaultLayer`). */
  outputLayer?: string;
  /** Side of the square input (default: the network's native size; 112×112 stimuli are upsampled). */
  inputSize?: number;
}

/** Reads a network's model.json and weight shards from the package (UMD modules: an object and base64 strings). */
export function readNsfwjsArtifacts(modelDir: string): tf.io.ModelArtifacts {
  const require = createRequire(import.meta.url);
  const json = require(path.join(modelDir, "model.min.js")) as {
    modelTopology?: unknown;
    weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  };
  if (json.modelTopology === undefined || json.weightsManifest === undefined)
    throw new FrontEndLoadError(modelDir, "model.min.js does not hold a tfjs model.json");
  const parts: Uint8Array[] = [];
  const specs: tf.io.WeightsManifestEntry[] = [];
  for (const group of json.weightsManifest) {
    for (const p of group.paths) {
      const b64 = require(path.join(modelDir, `${p}.min.js`)) as unknown;
      if (typeof b64 !== "string") throw new FrontEndLoadError(modelDir, `${p}.min.js is not a base64 weight shard`);
      parts.push(Buffer.from(b64, "base64"));
    }
    specs.push(...group.weights);
  }
  return {
    modelTopology: json.modelTopology as tf.io.ModelArtifacts["modelTopology"],
    weightSpecs: specs,
    weightData: concat(parts),
  };
}

/** Layers above the cut that nsfwjs fine-tuned (trainable in its topology); empty: the cut is pure ImageNet. */
export function fineTunedAncestors(artifacts: tf.io.ModelArtifacts, outputLayer: string): string[] {
  const weighted = /^(Conv2D|DepthwiseConv2D|SeparableConv2D|BatchNormalization|Dense)$/;
  return layerAncestors(artifacts, outputLayer)
    .filter((l) => weighted.test(l.class_name) && l.config.trainable !== false)
    .map((l) => l.name);
}

export async function loadNsfwjsNetwork(options: NsfwjsOptions = {}): Promise<FrontEnd> {
  const network = options.network ?? "mobilenet_v2";
  const spec = nsfwjsNetworks[network];
  if (spec === undefined)
    throw new FrontEndLoadError(
      NSFWJS_PACKAGE,
      `it ships no network "${String(network)}" (known: ${Object.keys(nsfwjsNetworks).join(", ")})`,
    );
  const dir = findNsfwjsDir(options.packageDir);
  if (dir === undefined)
    throw new FrontEndLoadError(
      "nsfwjs",
      `the npm package ${NSFWJS_PACKAGE} is not installed (npm install ${NSFWJS_PACKAGE}) and ` +
        `CORTEXLOOP_NSFWJS_DIR is unset`,
    );
  if (!hasModel(dir, network))
    throw new FrontEndLoadError(dir, `the installed ${NSFWJS_PACKAGE} has no dist/models/${network}`);
  const artifacts = readNsfwjsArtifacts(path.join(dir, "dist", "models", network));
  const outputLayer = options.outputLayer ?? spec.defaultLayer;
  const tuned = fineTunedAncestors(artifacts, outputLayer);
  const imagenet = tuned.length === 0;
  const version =
    (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version?: string }).version ?? "?";
  const inputSize = options.inputSize ?? spec.nativeSize;
  return frontEndFromArtifacts({
    artifacts,
    outputLayer,
    inputSize,
    preprocess: "scale-minus-one-to-one",
    name: `${network}(${imagenet ? "imagenet" : "nsfw-finetuned"}, nsfwjs ${version})@${outputLayer}/${inputSize}`,
    description:
      `${spec.title} trained on ImageNet (weights uint8-quantized, shipped in npm ${NSFWJS_PACKAGE}@${version}), ` +
      `cut at ${outputLayer}, input ${inputSize}×${inputSize}` +
      (imagenet
        ? "; every layer up to the cut keeps its ImageNet weights"
        : `; NOTE ${tuned.length} layers up to the cut were fine-tuned by nsfwjs for NSFW classification (e.g. ` +
          `${tuned[0]})`),
    taskDriven: true,
  });
}

/** MobileNetV2 from nsfwjs (kept for callers of the earlier name). */
export async function loadNsfwjsMobileNetV2(options: Omit<NsfwjsOptions, "network"> = {}): Promise<FrontEnd> {
  return loadNsfwjsNetwork({ ...options, network: "mobilenet_v2" });
}
