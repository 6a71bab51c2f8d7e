import type { RgbImage } from "../../stimulus/index.js";
import { Random } from "../../stimulus/index.js";
import type { UnitKey } from "../store/types.js";

/** Neurons as functions from the displayed picture to firing rates (spikes/s). */
export interface NeuronPopulation {
  units: UnitKey[];
  rates(image: RgbImage): number[];
}

interface BuiltinUnit {
  cx: number;
  cy: number;
  sigma: number;
  orientation: number;
  colour: [number, number, number];
  weights: { colour: number; orientation: number; dots: number };
  baseRate: number;
  maxRate: number;
  threshold: number;
  gain: number;
}

const grid = 28;

/** Downsamples to a 28x28 RGB grid in 0..1 (area average): the units see coarse features. */
function toGrid(image: RgbImage): Float32Array {
  const out = new Float32Array(grid * grid * 3);
  const counts = new Float32Array(grid * grid);
  for (let y = 0; y < image.height; y++) {
    const gy = Math.min(grid - 1, Math.floor((y * grid) / image.height));
    for (let x = 0; x < image.width; x++) {
      const gx = Math.min(grid - 1, Math.floor((x * grid) / image.width));
      const g = gy * grid + gx;
      counts[g]!++;
      for (let c = 0; c < 3; c++) out[g * 3 + c]! += image.pixels0to255[(y * image.width + x) * 3 + c]! / 255;
    }
  }
  for (let g = 0; g < grid * grid; g++) for (let c = 0; c < 3; c++) out[g * 3 + c]! /= Math.max(1, counts[g]!);
  return out;
}

/**
 * Built-in V4-like units, deterministic from a seed: a Gaussian receptive field, a preferred colour,
 * an orientation preference (oriented contrast energy) and a preference for small blobs (dots).
 */
export function builtinNeurons(count: number, seed: number): NeuronPopulation {
  const rng = new Random(seed);
  const units: BuiltinUnit[] = [];
  for (let i = 0; i < count; i++) {
    const w = [rng.next(), rng.next(), rng.next()];
    const total = w[0]! + w[1]! + w[2]!;
    units.push({
      cx: 6 + rng.next() * 16,
      cy: 6 + rng.next() * 16,
      sigma: 3 + rng.next() * 5,
      orientation: rng.next() * Math.PI,
      colour: [rng.next() * 2 - 1, rng.next() * 2 - 1, rng.next() * 2 - 1],
      weights: { colour: w[0]! / total, orientation: w[1]! / total, dots: w[2]! / total },
      baseRate: 4 + rng.next() * 6,
      maxRate: 35 + rng.next() * 30,
      threshold: 0.15 + rng.next() * 0.2,
      gain: 6 + rng.next() * 6,
    });
  }
  return {
    units: units.map((_, i) => ({ electrode: `Electrode ${i + 1}`, sortedId: 0 })),
    rates(image) {
      const g = toGrid(image);
      const lum = new Float32Array(grid * grid);
      for (let i = 0; i < grid * grid; i++) lum[i] = (g[i * 3]! + g[i * 3 + 1]! + g[i * 3 + 2]!) / 3;
      return units.map((u) => {
        let wsum = 0;
        let colour = 0;
        let orient = 0;
        let dots = 0;
        for (let y = 1; y < grid - 1; y++) {
          for (let x = 1; x < grid - 1; x++) {
            const w = Math.exp(-((x - u.cx) ** 2 + (y - u.cy) ** 2) / (2 * u.sigma * u.sigma));
            const i = y * grid + x;
            wsum += w;
            colour +=
              w *
              ((g[i * 3]! - 0.5) * u.colour[0] +
                (g[i * 3 + 1]! - 0.5) * u.colour[1] +
                (g[i * 3 + 2]! - 0.5) * u.colour[2]);
            const gx = lum[i + 1]! - lum[i - 1]!;
            const gy = lum[i + grid]! - lum[i - grid]!;
            const along = gx * Math.cos(u.orientation) + gy * Math.sin(u.orientation);
            orient += w * along * along;
            const lap = 4 * lum[i]! - lum[i - 1]! - lum[i + 1]! - lum[i - grid]! - lum[i + grid]!;
            dots += w * Math.abs(lap);
          }
        }
        const drive =
          u.weights.colour * (colour / wsum) * 2 +
          u.weights.orientation * Math.sqrt(orient / wsum) * 3 +
          u.weights.dots * (dots / wsum) * 3;
        const s = 1 / (1 + Math.exp(-u.gain * (drive - u.threshold)));
        return u.baseRate + (u.maxRate - u.baseRate) * s;
      });
    },
  };
}
