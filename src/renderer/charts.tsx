import { useEffect, useMemo, useRef, useState } from "react";
import { CartesianGrid, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { UnitResponses } from "../main/api/contract.js";
import { formatNumber, rampColor, seriesColor } from "./format.js";

/** Mean response per stimulus: one line per (visible) unit, stimuli in order of first presentation. */
export function ResponsesChart({ data, hiddenUnits, onToggleUnit, onShowAll }: { data: UnitResponses; hiddenUnits: number[]; onToggleUnit: (id: number) => void; onShowAll: () => void }) {
  const rows = useMemo(
    () =>
      data.stimuli.map((s, i) => {
        const row: Record<string, number | string | null> = { stimulus: i + 1, block: s.block, sha: s.sha256.slice(0, 8) };
        data.units.forEach((u, k) => {
          row[`u${u.id}`] = s.meanByUnit[k] === null ? null : Number((s.meanByUnit[k] as number).toFixed(3));
        });
        return row;
      }),
    [data],
  );
  const visible = data.units.filter((u) => !hiddenUnits.includes(u.id));
  return (
    <figure className="chart" data-testid="responses-chart" data-series={visible.length}>
      <figcaption>
        <strong>Mean response per stimulus</strong> <span className="muted">spikes in the count window, averaged over repeats · {visible.length} of {data.units.length} units shown</span>
      </figcaption>
      <div className="chart-area">
        <ResponsiveContainer width="100%" height={340}>
          <LineChart data={rows} margin={{ top: 8, right: 16, bottom: 20, left: 4 }}>
            <CartesianGrid stroke="#e3e6ea" strokeDasharray="3 3" />
            <XAxis dataKey="stimulus" tick={{ fontSize: 11 }} label={{ value: "stimulus (order of first presentation)", position: "insideBottom", offset: -12, fontSize: 12 }} />
            <YAxis tick={{ fontSize: 11 }} width={44} label={{ value: "mean spikes", angle: -90, position: "insideLeft", fontSize: 12 }} />
            <Tooltip
              isAnimationActive={false}
              labelFormatter={(label, payload) => {
                const p = payload?.[0]?.payload as { block?: string; sha?: string } | undefined;
                return `stimulus ${String(label)}${p ? ` · ${p.block} · ${p.sha}` : ""}`;
              }}
              contentStyle={{ fontSize: 12 }}
            />
            {visible.map((u) => (
              <Line key={u.id} type="linear" dataKey={`u${u.id}`} name={u.label} stroke={seriesColor(data.units.indexOf(u))} strokeWidth={1.5} dot={false} isAnimationActive={false} connectNulls />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </div>
      <div className="legend" role="group" aria-label="units">
        {data.units.map((u, k) => {
          const hidden = hiddenUnits.includes(u.id);
          return (
            <button key={u.id} type="button" className={`chip ${hidden ? "off" : ""}`} aria-pressed={!hidden} onClick={() => onToggleUnit(u.id)} title={hidden ? "show this unit" : "hide this unit"}>
              <span className="swatch" style={{ background: seriesColor(k) }} />
              {u.label}
            </button>
          );
        })}
        {hiddenUnits.length > 0 && (
          <button type="button" className="chip all" onClick={onShowAll}>
            show all
          </button>
        )}
      </div>
    </figure>
  );
}

/** Unit × presentation heatmap of summed counts, drawn on a canvas so long sessions stay fast. */
export function Heatmap({ data }: { data: UnitResponses }) {
  const canvasRef = useRef<HTMLCanvasElement | null>(null);
  const boxRef = useRef<HTMLDivElement | null>(null);
  const [width, setWidth] = useState(800);
  const [hover, setHover] = useState<string>("");
  const rowPx = 14;
  const labelPx = useMemo(() => labelWidth(data.units.map((u) => u.label)), [data]);
  const nUnits = data.units.length;
  const nPres = data.matrix.presentationIdxs.length;
  const height = Math.max(1, nUnits) * rowPx;

  useEffect(() => {
    const box = boxRef.current;
    if (box === null) return;
    const observer = new ResizeObserver((entries) => {
      const w = Math.floor(entries[0]?.contentRect.width ?? 800);
      if (w > 0) setWidth(w);
    });
    observer.observe(box);
    return () => observer.disconnect();
  }, []);

  useEffect(() => {
    const canvas = canvasRef.current;
    if (canvas === null) return;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.floor(width * ratio);
    canvas.height = Math.floor(height * ratio);
    canvas.style.width = `${width}px`;
    canvas.style.height = `${height}px`;
    const ctx = canvas.getContext("2d");
    if (ctx === null) return;
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    const plotW = Math.max(1, width - labelPx);
    const cellW = plotW / Math.max(1, nPres);
    const max = Math.max(1, data.matrix.max);
    data.matrix.counts.forEach((row, i) => {
      ctx.fillStyle = "#333";
      ctx.fillText(data.units[i].label, 2, i * rowPx + rowPx / 2);
      row.forEach((v, j) => {
        ctx.fillStyle = v === null ? "#d9dce1" : rampColor(v / max);
        ctx.fillRect(labelPx + j * cellW, i * rowPx, Math.ceil(cellW), rowPx - 1);
      });
    });
  }, [data, width, height, nPres, labelPx]);

  const onMove = (e: React.MouseEvent<HTMLCanvasElement>): void => {
    const rect = e.currentTarget.getBoundingClientRect();
    const x = e.clientX - rect.left - labelPx;
    const i = Math.floor((e.clientY - rect.top) / rowPx);
    const j = Math.floor((x / Math.max(1, width - labelPx)) * nPres);
    if (x < 0 || i < 0 || i >= nUnits || j < 0 || j >= nPres) {
      setHover("");
      return;
    }
    const v = data.matrix.counts[i][j];
    setHover(`unit ${data.units[i].label} · presentation ${data.matrix.presentationIdxs[j]} · ${v === null ? "no counts stored" : `${v} spikes`}`);
  };

  return (
    <figure className="chart" data-testid="heatmap" data-rows={nUnits} data-columns={nPres}>
      <figcaption>
        <strong>Unit × presentation</strong> <span className="muted">summed spikes per presentation, in presentation order · grey: no counts stored</span>
      </figcaption>
      <div ref={boxRef} className="heatmap-box">
        <canvas ref={canvasRef} onMouseMove={onMove} onMouseLeave={() => setHover("")} aria-label={`heatmap of ${nUnits} units by ${nPres} presentations`} />
      </div>
      <div className="heatmap-foot">
        <span className="ramp" aria-hidden="true" />
        <span className="muted">0 … {formatNumber(data.matrix.max, 0)} spikes</span>
        <span className="hover mono">{hover || "\u00a0"}</span>
      </div>
    </figure>
  );
}

/** Width of the heatmap's unit labels, measured in the canvas font, so no label is cut off. */
function labelWidth(labels: string[]): number {
  const ctx = document.createElement("canvas").getContext("2d");
  if (ctx === null) return 90;
  ctx.font = "11px system-ui, sans-serif";
  const widest = Math.max(0, ...labels.map((l) => ctx.measureText(l).width));
  return Math.min(220, Math.ceil(widest) + 8);
}
