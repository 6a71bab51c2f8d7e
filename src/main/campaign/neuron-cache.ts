import { createHash } from "node:crypto";
import type { RgbImage } from "../../stimulus/index.js";
import type { SimNeurons } from "../sim/sim-rig.js";

function pictureKey(image: RgbImage): string {
  return createHash("sha256").update(`${image.width}x${image.height}:`).update(image.pixels0to255).digest("hex");
}

/**
 * Neurons whose rates for a session's pictures are computed before the session starts. Compact-model
 * neurons take ~0.7 s per picture for 16 units on 2 cores; computed during a 100 ms presentation they
 * would stall the simulated rig's clock. Pictures not prepared are computed on demand, as before.
 */
export class PreparedNeurons implements SimNeurons {
  readonly units;
  private readonly cache = new Map<string, number[]>();

  constructor(private readonly inner: SimNeurons) {
    this.units = inner.units;
  }

  async prepare(images: readonly RgbImage[], log?: (line: string) => void): Promise<void> {
    const todo = new Map<string, RgbImage>();
    for (const image of images) {
      const key = pictureKey(image);
      if (!this.cache.has(key)) todo.set(key, image);
    }
    let done = 0;
    const t0 = performance.now();
    for (const [key, image] of todo) {
      this.cache.set(key, [...(await this.inner.rates(image))]);
      done++;
      if (log !== undefined && todo.size >= 50 && done % Math.ceil(todo.size / 4) === 0)
        log(`simulated neurons: rates of ${done}/${todo.size} new pictures computed`);
      if (done % 8 === 0) await new Promise((r) => setImmediate(r));
    }
    if (log !== undefined && todo.size >= 50)
      log(`simulated neurons: ${todo.size} pictures in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }

  rates(image: RgbImage): number[] | Promise<number[]> {
    return this.cache.get(pictureKey(image)) ?? this.inner.rates(image);
  }
}
