// The pictures a campaign shows: stored once by content hash, their pixels kept, their front-end
// features computed once and shared by recording (training data), retraining and designing.
import { extractFeatures, type FrontEnd } from "../../models/index.js";
import { encodePng, type RgbImage } from "../../stimulus/index.js";
import type { SessionStore } from "../store/index.js";

export class CampaignImages {
  private readonly imageBySha = new Map<string, RgbImage>();
  /** Front-end features by key: a stimulus hash, or `bank:<id>` for a candidate not stored yet. */
  readonly features = new Map<string, Float32Array>();
  /** The held-out test set (stimulus hashes), fixed by the first session. */
  testHashes: string[] = [];
  /** Side of the pictures in pixels. */
  readonly size: number;

  constructor(
    private readonly options: { store: SessionStore; frontEnd: FrontEnd },
    size: number,
    private readonly log: (line: string) => void,
  ) {
    this.size = size;
  }

  /** The pixels of a picture this campaign stored. */
  image(sha: string): RgbImage | undefined {
    return this.imageBySha.get(sha);
  }

  /** Stores a picture once (PNG by SHA-256) and remembers its pixels. */
  async register(image: RgbImage, origin: string): Promise<string> {
    const sha = this.options.store.putStimulus(await encodePng(image), {
      width: image.width,
      height: image.height,
      channels: 3,
      origin,
    });
    this.imageBySha.set(sha, image);
    return sha;
  }

  /** Front-end features by key; missing ones are computed in batches from the pixels given. */
  async featuresFor(
    keys: readonly string[],
    pixels: (key: string) => Uint8Array,
    label: string,
  ): Promise<Float32Array> {
    const missing = [...new Set(keys.filter((k) => !this.features.has(k)))];
    if (missing.length > 0) {
      const per = this.options.frontEnd.outputShape.reduce((a, b) => a * b, 1);
      let lastTenth = -1;
      const all = await extractFeatures(this.options.frontEnd, missing.map(pixels), this.size, {
        batchSize: 32,
        onProgress: (done, total) => {
          const tenth = Math.floor((done / total) * 4);
          if (total >= 200 && tenth !== lastTenth) {
            lastTenth = tenth;
            this.log(`front end (${label}): ${done}/${total} images`);
          }
        },
      });
      missing.forEach((k, i) => this.features.set(k, all.slice(i * per, (i + 1) * per)));
    }
    const per = this.features.get(keys[0]!)?.length ?? 0;
    const out = new Float32Array(keys.length * per);
    keys.forEach((k, i) => out.set(this.features.get(k)!, i * per));
    return out;
  }

  readonly storedFeatures = async (shas: readonly string[]): Promise<Float32Array> =>
    this.featuresFor(
      shas,
      (sha) => {
        const image = this.imageBySha.get(sha);
        if (image === undefined) throw new Error(`Campaign: stimulus ${sha} was not registered by this campaign`);
        return image.pixels0to255;
      },
      "session images",
    );
}
