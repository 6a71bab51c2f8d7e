import type { FrontEnd } from "./types.js";
import { gaborFrontEnd, gaborSmallOptions } from "./gabor-front-end.js";
import { loadFrontEndFromDisk } from "./layers-front-end.js";
import { loadNsfwjsNetwork, type NsfwjsNetwork } from "./nsfwjs.js";
import type { Preprocess } from "./types.js";

/**
 * The built-in default front end, chosen by the leave-one-session-out table of
 * `npm run bench -- heldout` (README, "Models between sessions"), not by training sessions' scores.
 */
export const defaultFrontEnd: { network: NsfwjsNetwork; outputLayer: string; inputSize: number } = {
  network: "mobilenet_v2",
  outputLayer: "block_9_add",
  inputSize: 112,
};

export interface FrontEndSpec {
  /**
   * "default", "mobilenet", "inception" (ImageNet networks from nsfwjs), "gabor", "gabor-small" (56 pixels, fixed
   * size: inputSize is ignored), or a model.json path.
   */
  kind?: string;
  outputLayer?: string;
  inputSize?: number;
  preprocess?: Preprocess;
  nsfwjsDir?: string;
  log?: (line: string) => void;
}

const networkOfKind: Record<string, NsfwjsNetwork> = { mobilenet: "mobilenet_v2", inception: "inception_v3" };

/** Loads the front end a spec names; "default" falls back to the Gabor bank, saying so. */
export async function loadFrontEnd(spec: FrontEndSpec = {}): Promise<FrontEnd> {
  const log = spec.log ?? (() => {});
  const kind = spec.kind ?? "default";
  if (kind === "gabor-small") return gaborFrontEnd(gaborSmallOptions);
  if (kind === "gabor") {
    const inputSize = spec.inputSize ?? 112;
    return gaborFrontEnd({ inputSize, outputSize: inputSize % 8 === 0 ? inputSize / 8 : inputSize });
  }
  const network = networkOfKind[kind];
  if (network !== undefined) {
    // The default's cut and input size apply to its own network; another network uses its own defaults.
    const same = network === defaultFrontEnd.network;
    return loadNsfwjsNetwork({
      packageDir: spec.nsfwjsDir,
      network,
      outputLayer: spec.outputLayer ?? (same ? defaultFrontEnd.outputLayer : undefined),
      inputSize: spec.inputSize ?? (same ? defaultFrontEnd.inputSize : undefined),
    });
  }
  if (kind === "default") {
    try {
      return await loadNsfwjsNetwork({
        packageDir: spec.nsfwjsDir,
        network: defaultFrontEnd.network,
        outputLayer: spec.outputLayer ?? defaultFrontEnd.outputLayer,
        inputSize: spec.inputSize ?? defaultFrontEnd.inputSize,
      });
    } catch (err) {
      log(
        `front end: ${err instanceof Error ? err.message : String(err)}; using the Gabor filter bank instead (NOT ` +
          `task-driven).`,
      );
      return gaborFrontEnd();
    }
  }
  if (spec.outputLayer === undefined)
    throw new Error(`loadFrontEnd: a converted model (${kind}) needs outputLayer (e.g. conv4_block4_out for ResNet50)`);
  return loadFrontEndFromDisk(kind, {
    outputLayer: spec.outputLayer,
    inputSize: spec.inputSize ?? 224,
    preprocess: spec.preprocess ?? "caffe",
  });
}
