import { useEffect, useRef, useState } from "react";
import type { CompactModelDetail, ModelVersionItem } from "../../main/api/contract.js";
import { useApi } from "../api.js";
import { Figure } from "../Figure.js";
import { formatNumber, rampColor } from "../format.js";
import { Status } from "../Status.js";
import { prepareCanvas } from "../charts/canvas.js";

const COMPACT_KIND = "compact-model";

/** Compact models grouped under the ensemble each was distilled from (imported ones on their own). */
export function groupCompactModels(
  models: readonly ModelVersionItem[],
): { teacher: ModelVersionItem | null; teacherId: number | null; models: ModelVersionItem[] }[] {
  const byId = new Map(models.map((m) => [m.id, m]));
  const groups = new Map<number | null, ModelVersionItem[]>();
  for (const m of models) {
    if (m.kind !== COMPACT_KIND) continue;
    const list = groups.get(m.parentId) ?? [];
    list.push(m);
    groups.set(m.parentId, list);
  }
  return [...groups.entries()]
    .sort((a, b) => (a[0] ?? Number.MAX_SAFE_INTEGER) - (b[0] ?? Number.MAX_SAFE_INTEGER))
    .map(([teacherId, list]) => ({
      teacherId,
      teacher: teacherId === null ? null : (byId.get(teacherId) ?? null),
      models: list,
    }));
}

function metric(m: ModelVersionItem, key: string): number | null {
  const v = m.metrics[key];
  return typeof v === "number" ? v : null;
}

/** The compact-model part of the model-versions view: groups, and the selected model's inspection. */
export function CompactModels({ models }: { models: readonly ModelVersionItem[] }) {
  const groups = groupCompactModels(models);
  const [selected, setSelected] = useState<number | null>(null);
  if (groups.length === 0) return null;
  return (
    <section data-testid="compact-models">
      <h3>Compact models, by the ensemble they were distilled from</h3>
      {groups.map((g) => (
        <details
          key={String(g.teacherId)}
          open={groups.length <= 2}
          data-testid={`compact-group-${g.teacherId ?? "imported"}`}
        >
          <summary>
            {g.teacherId === null
              ? "Imported (no teacher)"
              : `Ensemble ${g.teacherId}${g.teacher === null ? "" : `: ${g.teacher.name}`}`}{" "}
            — {g.models.length} model{g.models.length === 1 ? "" : "s"}
          </summary>
          <table className="grid">
            <thead>
              <tr>
                <th className="num">Id</th>
                <th>Unit</th>
                <th>Filters per layer</th>
                <th className="num">Parameters</th>
                <th className="num" title="squared correlation with the ensemble on held-out images">
                  R² with ensemble
                </th>
              </tr>
            </thead>
            <tbody>
              {g.models.map((m) => {
                const filters = Array.isArray(m.metrics.filters) ? (m.metrics.filters as number[]) : [];
                return (
                  <tr key={m.id} className={m.id === selected ? "selected" : undefined}>
                    <td className="num">
                      <button
                        type="button"
                        className="link"
                        onClick={() => setSelected(m.id)}
                        data-testid={`compact-${m.id}`}
                      >
                        {m.id}
                      </button>
                    </td>
                    <td>{m.name}</td>
                    <td className="mono">[{filters.join(", ")}]</td>
                    <td className="num">{metric(m, "parameters") ?? "—"}</td>
                    <td className="num">{formatNumber(metric(m, "r2Teacher"), 3)}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </details>
      ))}
      {selected !== null && <CompactModelView id={selected} />}
    </section>
  );
}

/** One compact model: its filters per layer, layer 0's filters as pictures, where it looks, its metrics. */
export function CompactModelView({ id }: { id: number }) {
  const detail = useApi("compactModel", { id }, String(id));
  if (detail.status !== "ok") return <Status state={detail} what={`compact model ${id}`} />;
  const d = detail.value;
  const title =
    d.unit === null
      ? `Compact model ${d.id}${d.source === null ? "" : ` (${d.source})`}`
      : `Compact model of ${d.unit.name}, session ${d.unit.sessionName}`;
  return (
    <div className="compact-model" data-testid="compact-model-view">
      <h4>{title}</h4>
      <table className="grid" data-testid="compact-filters">
        <thead>
          <tr>
            <th />
            {d.filters.map((_, l) => (
              <th key={l} className="num">
                layer {l}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          <tr>
            <td>filters kept</td>
            {d.filters.map((k, l) => (
              <td key={l} className="num">
                {k}
              </td>
            ))}
          </tr>
          {d.filtersBeforePruning !== null && (
            <tr>
              <td>before pruning</td>
              {d.filtersBeforePruning.map((k, l) => (
                <td key={l} className="num">
                  {k}
                </td>
              ))}
            </tr>
          )}
        </tbody>
      </table>
      <p data-testid="compact-metrics">
        {d.parameters} parameters
        {d.teacherId !== null && <> · distilled from ensemble {d.teacherId}</>}
        {d.r2Teacher !== null && (
          <>
            {" "}
            · R² with the ensemble on held-out images {formatNumber(d.r2Teacher, 3)} (
            {formatNumber(d.r2TeacherBeforePruning, 3)} before pruning)
          </>
        )}
        {d.recorded !== null && (
          <>
            {" "}
            · {d.recorded.metric === "r2er" ? "r²_ER" : "raw R²"} against the recorded responses{" "}
            {formatNumber(d.recorded.student, 3)} (ensemble {formatNumber(d.recorded.teacher, 3)},
            {` ${d.recorded.images} images`})
          </>
        )}
      </p>
      <div style={{ display: "flex", flexWrap: "wrap", gap: "1rem" }}>
        <Figure
          title="Layer 0 filters"
          note="each scaled to its largest weight; grey is 0"
          fileName={`compact-${d.id}-layer0`}
          testId="compact-layer0"
        >
          <Layer0Filters layer0={d.layer0} />
        </Figure>
        <Figure
          title="Where the unit looks"
          note="readout weight magnitude over the 28 × 28 map"
          fileName={`compact-${d.id}-readout`}
          testId="compact-readout"
        >
          <ReadoutMap map={d.readoutMap} />
        </Figure>
      </div>
    </div>
  );
}

function Layer0Filters({ layer0 }: { layer0: CompactModelDetail["layer0"] }) {
  const ref = useRef<HTMLCanvasElement | null>(null);
  const cell = 30;
  const gap = 4;
  const perRow = Math.max(1, Math.min(layer0.count, 16));
  const rows = Math.ceil(layer0.count / perRow);
  const width = perRow * (cell + gap);
  const height = rows * (cell + gap);
  useEffect(() => {
    const canvas = ref.current;
    if (canvas === null) return;
    const ctx = prepareCanvas(canvas, width, height);
    if (ctx === null) return;
    const s = layer0.size;
    const px = cell / s;
    for (let f = 0; f < layer0.count; f++) {
      const x0 = (f % perRow) * (cell + gap);
      const y0 = Math.floor(f / perRow) * (cell + gap);
      for (let y = 0; y < s; y++) {
        for (let x = 0; x < s; x++) {
          const o = f * s * s * 3 + (y * s + x) * 3;
          const [r, g, b] = [layer0.pixels0to255[o]!, layer0.pixels0to255[o + 1]!, layer0.pixels0to255[o + 2]!];
          ctx.fillStyle = `rgb(${r}, ${g}, ${b})`;
          ctx.fillRect(x0 + x * px, y0 + y * px, Math.ceil(px), Math.ceil(px));
        }
      }
    }
  }, [layer0, width, height, perRow]);
  return <canvas ref={ref} data-filters={layer0.count} />;
}

function ReadoutMap({ map }: { map: CompactModelDetail["readoutMap"] }) {
  const ref = useRef<HTMLCanvasElement | null>(null);
  const px = 8;
  const size = map.side * px;
  useEffect(() => {
    const canvas = ref.current;
    if (canvas === null) return;
    const ctx = prepareCanvas(canvas, size, size);
    if (ctx === null) return;
    const max = Math.max(1e-12, ...map.values);
    map.values.forEach((v, i) => {
      ctx.fillStyle = rampColor(v / max);
      ctx.fillRect((i % map.side) * px, Math.floor(i / map.side) * px, px, px);
    });
  }, [map, size]);
  return <canvas ref={ref} data-side={map.side} />;
}
