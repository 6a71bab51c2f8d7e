// A recorded session on disk for the model tests: `n` two-colour striped images (PNG files named as the
// shared V4 data names them) and a units × images .npy of repeat-averaged responses in which unit u reads
// colour channel u % 3, scaled by 1 + u, plus a little noise.
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { encodeNumericNpy } from "../../src/models/data/npy-numeric.js";
import { SeededRandom } from "../../src/models/data/random.js";
import { encodePng } from "../../src/stimulus/index.js";

export async function stripesSession(
  dir: string,
  name: string,
  n: number,
  units: number,
  seed: number,
  size = 32,
): Promise<{ images: string; responses: string; values: number[] }> {
  const folder = path.join(dir, name);
  mkdirSync(folder, { recursive: true });
  const rng = new SeededRandom(seed);
  const values = new Array<number>(units * n).fill(0);
  for (let k = 1; k <= n; k++) {
    const rgb = [rng.int(256), rng.int(256), rng.int(256)];
    const px = new Uint8Array(size * size * 3);
    for (let p = 0; p < size * size; p++)
      for (let c = 0; c < 3; c++) px[p * 3 + c] = p % size < size / 2 ? rgb[c]! : 255 - rgb[c]!;
    writeFileSync(
      path.join(folder, `image${String(k).padStart(4, "0")}.png`),
      await encodePng({ width: size, height: size, pixels0to255: px }),
    );
    for (let u = 0; u < units; u++) values[u * n + (k - 1)] = (rgb[u % 3]! / 255) * (1 + u) + 0.05 * rng.next();
  }
  const responses = path.join(dir, `${name}.npy`);
  writeFileSync(responses, encodeNumericNpy([units, n], values));
  return { images: folder, responses, values };
}
