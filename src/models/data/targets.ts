export interface ZScored {
  /** [N, U] z-scored values (NaN stays NaN; excluded units are all NaN). */
  values: Float32Array;
  mean: Float64Array;
  std: Float64Array;
}

/**
 * Z-scores responses `[unit][image]` per unit using the statistics of `fitIdx` images only, and
 * transposes to [image][unit]. Units with `usable[u] === false` or zero variance become NaN.
 */
export function zscoreTargets(
  meanResponses: Float64Array,
  units: number,
  images: number,
  usable: readonly boolean[],
  fitIdx: readonly number[],
): ZScored {
  const values = new Float32Array(images * units).fill(Number.NaN);
  const mean = new Float64Array(units);
  const std = new Float64Array(units);
  for (let u = 0; u < units; u++) {
    let s = 0;
    let n = 0;
    for (const i of fitIdx) {
      const v = meanResponses[u * images + i]!;
      if (!Number.isNaN(v)) {
        s += v;
        n++;
      }
    }
    const m = n > 0 ? s / n : Number.NaN;
    let ss = 0;
    for (const i of fitIdx) {
      const v = meanResponses[u * images + i]!;
      if (!Number.isNaN(v)) ss += (v - m) ** 2;
    }
    const sd = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
    mean[u] = m;
    std[u] = sd;
    if (!usable[u] || !(sd > 0)) continue;
    for (let i = 0; i < images; i++) values[i * units + u] = (meanResponses[u * images + i]! - m) / sd;
  }
  return { values, mean, std };
}
