// A stored compact model as the review UI shows it: filters per layer, layer 0's filters as
// pictures, the readout's spatial map, its metrics.
import type { SessionStore } from "../store/index.js";
import type { CompactModelDetail } from "./inspect-types.js";
import { compactVersion, unitOf } from "./versions.js";

export type { CompactModelDetail };

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

export function compactModelDetail(store: SessionStore, id: number): CompactModelDetail {
  const { row, arrays } = compactVersion(store, id);
  const filters = [1, 8, 15, 22, 29].map((i) => arrays[i]!.shape[0]!);
  // Layer 0: [5, 5, 3, K0] → K0 pictures of 5 × 5 × 3.
  const kernel = arrays[0]!;
  const [kh, kw, , k0] = kernel.shape as [number, number, number, number];
  const pixels: number[] = [];
  for (let f = 0; f < k0; f++) {
    let max = 0;
    for (let p = 0; p < kh * kw * 3; p++) max = Math.max(max, Math.abs(kernel.data[p * k0 + f]!));
    for (let p = 0; p < kh * kw * 3; p++)
      pixels.push(Math.round(127.5 + (127.5 * kernel.data[p * k0 + f]!) / (max || 1)));
  }
  // Readout: [side * side * K4, 1], rows in (y, x, channel) order.
  const readout = arrays[34]!;
  const k4 = filters[4]!;
  const side = Math.round(Math.sqrt(readout.shape[0]! / k4));
  const values: number[] = [];
  for (let p = 0; p < side * side; p++) {
    let s = 0;
    for (let c = 0; c < k4; c++) s += readout.data[p * k4 + c]! ** 2;
    values.push(Math.sqrt(s));
  }
  const unit = unitOf(row);
  const m = row.metrics;
  const rec = m.recorded as { metric?: unknown; student?: unknown; teacher?: unknown; images?: unknown } | undefined;
  return {
    id: row.id,
    name: row.name,
    teacherId: row.parentId,
    unit:
      unit === undefined
        ? null
        : { sessionId: unit.sessionId, sessionName: unit.sessionName, name: unit.name, column: unit.column },
    source: typeof row.config.file === "string" ? row.config.file : null,
    filters,
    filtersBeforePruning: Array.isArray(m.filtersBeforePruning) ? (m.filtersBeforePruning as number[]) : null,
    parameters: num(m.parameters) ?? 0,
    r2Teacher: num(m.r2Teacher),
    r2TeacherBeforePruning: num(m.r2TeacherBeforePruning),
    recorded:
      rec === undefined
        ? null
        : {
            metric: rec.metric === "r2er" ? "r2er" : "r2raw",
            student: num(rec.student),
            teacher: num(rec.teacher),
            images: num(rec.images) ?? 0,
          },
    layer0: { count: k0, size: kh, pixels0to255: pixels },
    readoutMap: { side, values },
  };
}
