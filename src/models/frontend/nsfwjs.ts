// Built-in task-driven front end: the ImageNet MobileNetV2 base that the npm package `nsfwjs`
// ships inside its tarball (dist/models/mobilenet_v2, uint8-quantized). nsfwjs fine-tuned only
// block_11 onwards (those layers are marked trainable in its model.json); layers up to block_10
// keep their ImageNet weights, so a cut at block_9_add or earlier is an ImageNet feature map.
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type * as tf from "@tensorflow/tfjs";
import { concat, FrontEndLoadError, frontEndFromArtifacts } from "./layers-front-end.js";
import type { FrontEnd } from "./types.js";

export const NSFWJS_PACKAGE = "nsfwjs";
/** Last layer whose weights are still ImageNet's in nsfwjs's MobileNetV2 (block_11+ were fine-tuned). */
const lastImagenetBlock = 10;

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

function hasModel(dir: string): boolean {
  return existsSync(path.join(dir, "dist", "models", "mobilenet_v2", "model.min.js"));
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
  /** Default block_9_add: end of MobileNetV2's stride-16, 64-channel stage (cf. ResNet50 conv4). */
  outputLayer?: string;
  /** Default 224 (the network's own size; 112×112 stimuli are upsampled as for ResNet50). */
  inputSize?: number;
}

export async function loadNsfwjsMobileNetV2(options: NsfwjsOptions = {}): Promise<FrontEnd> {
  const dir = findNsfwjsDir(options.packageDir);
  if (dir === undefined) throw new FrontEndLoadError("nsfwjs", `the npm package ${NSFWJS_PACKAGE} is not installed (npm install ${NSFWJS_PACKAGE}) and CORTEXLOOP_NSFWJS_DIR is unset`);
  const modelDir = path.join(dir, "dist", "models", "mobilenet_v2");
  const require = createRequire(import.meta.url);
  // The package ships model.json and weight shards as UMD modules: an object and base64 strings.
  const json = require(path.join(modelDir, "model.min.js")) as { modelTopology?: unknown; weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] };
  if (json.modelTopology === undefined || json.weightsManifest === undefined) throw new FrontEndLoadError(modelDir, "model.min.js does not hold a tfjs model.json");
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
  const outputLayer = options.outputLayer ?? "block_9_add";
  const block = /^block_(\d+)_/.exec(outputLayer);
  const imagenet = block === null ? !/^(Conv_1|out_relu|dense|global|average)/.test(outputLayer) : Number(block[1]) <= lastImagenetBlock;
  const version = (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version?: string }).version ?? "?";
  return frontEndFromArtifacts({
    artifacts: { modelTopology: json.modelTopology as tf.io.ModelArtifacts["modelTopology"], weightSpecs: specs, weightData: concat(parts) },
    outputLayer,
    inputSize: options.inputSize ?? 224,
    preprocess: "scale-minus-one-to-one",
    name: `mobilenet_v2(${imagenet ? "imagenet" : "nsfw-finetuned"}, nsfwjs ${version})@${outputLayer}`,
    description:
      `MobileNetV2 trained on ImageNet (weights uint8-quantized, shipped in npm ${NSFWJS_PACKAGE}@${version}), cut at ${outputLayer}` +
      (imagenet ? "" : `; NOTE layers after block_${lastImagenetBlock} were fine-tuned by nsfwjs for NSFW classification`),
    taskDriven: true,
  });
}
