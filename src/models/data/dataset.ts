/** One session's recorded data in the form the models train on. Pixels are 0..255 RGB, row-major. */
export interface SessionDataset {
  sessionId: number;
  name: string;
  imageSize: number;
  /** One size×size×3 image per stimulus (distinct stimuli, in first-presentation order). */
  images: Uint8Array[];
  imageKeys: string[];
  unitNames: string[];
  /** False for units flagged at import (no responses, constant): excluded from fitting. */
  usable: boolean[];
  repeats: number;
  /** True when each stored value is already a repeat average (then repeats is 1). */
  averaged: boolean;
  /** `[unit][image][repeat]` in C order; NaN where a repeat is missing. */
  responses: Float64Array;
}

/** Repeat-averaged responses `[unit][image]` (NaN when an image has no repeat for that unit). */
export function meanResponses(ds: SessionDataset): Float64Array {
  const nU = ds.unitNames.length;
  const nI = ds.images.length;
  const out = new Float64Array(nU * nI);
  for (let u = 0; u < nU; u++) {
    for (let i = 0; i < nI; i++) {
      let s = 0;
      let n = 0;
      for (let r = 0; r < ds.repeats; r++) {
        const v = ds.responses[(u * nI + i) * ds.repeats + r]!;
        if (!Number.isNaN(v)) {
          s += v;
          n++;
        }
      }
      out[u * nI + i] = n > 0 ? s / n : Number.NaN;
    }
  }
  return out;
}

/** Per-unit repeat matrix (repeats × images) for r²_ER, for the given image subset. */
export function repeatMatrix(ds: SessionDataset, unit: number, imageIdx: readonly number[]): Float64Array[] {
  const nI = ds.images.length;
  const rows: Float64Array[] = [];
  for (let r = 0; r < ds.repeats; r++) {
    const row = new Float64Array(imageIdx.length);
    imageIdx.forEach((i, j) => (row[j] = ds.responses[(unit * nI + i) * ds.repeats + r]!));
    rows.push(row);
  }
  return rows;
}
