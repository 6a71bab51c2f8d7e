import type { FrontEnd } from "./types.js";
import { gaborFrontEnd } from "./gabor-front-end.js";
import { loadFrontEndFromDisk } from "./layers-front-end.js";
import { loadNsfwjsMobileNetV2 } from "./nsfwjs.js";
import type { Preprocess } from "./types.js";

export interface FrontEndSpec {
  /** "default" (ImageNet MobileNetV2 from nsfwjs, else Gabor), "mobilenet", "gabor", or a model.json path. */
  kind?: string;
  outputLayer?: string;
  inputSize?: number;
  preprocess?: Preprocess;
  nsfwjsDir?: string;
  log?: (line: string) => void;
}

/** Loads the front end a spec names; "default" falls back to the Gabor bank, saying so. */
export async function loadFrontEnd(spec: FrontEndSpec = {}): Promise<FrontEnd> {
  const log = spec.log ?? (() => {});
  const kind = spec.kind ?? "default";
  if (kind === "gabor") {
    const inputSize = spec.inputSize ?? 112;
    return gaborFrontEnd({ inputSize, outputSize: inputSize % 8 === 0 ? inputSize / 8 : inputSize });
  }
  if (kind === "mobilenet") return loadNsfwjsMobileNetV2({ packageDir: spec.nsfwjsDir, outputLayer: spec.outputLayer, inputSize: spec.inputSize });
  if (kind === "default") {
    try {
      return await loadNsfwjsMobileNetV2({ packageDir: spec.nsfwjsDir, outputLayer: spec.outputLayer, inputSize: spec.inputSize });
    } catch (err) {
      log(`front end: ${err instanceof Error ? err.message : String(err)}; using the Gabor filter bank instead (NOT task-driven).`);
      return gaborFrontEnd();
    }
  }
  if (spec.outputLayer === undefined) throw new Error(`loadFrontEnd: a converted model (${kind}) needs outputLayer (e.g. conv4_block4_out for ResNet50)`);
  return loadFrontEndFromDisk(kind, { outputLayer: spec.outputLayer, inputSize: spec.inputSize ?? 224, preprocess: spec.preprocess ?? "caffe" });
}
