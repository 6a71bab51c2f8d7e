import { useEffect, useMemo, useRef, useState } from "react";
import { Bar, BarChart, CartesianGrid, ErrorBar, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import type { UnitRaster } from "../../main/api/contract.js";
import { Figure } from "../Figure.js";
import { formatNumber, rampColor } from "../format.js";
import { hatch, prepareCanvas, useWidth } from "./canvas.js";

const gutterPx = 44;
const axisPx = 22;

/**
 * Binned raster: one row per presentation (repeats of a stimulus together, stimuli in order of
 * first presentation), one column per stored bin, aligned on the onset. Incomplete rows hatched.
 */
export function RasterPlot({ raster, fileName }: { raster: UnitRaster; fileName: string }) {
  const canvasRef = useRef<HTMLCanvasElement | null>(null);
  const boxRef = useRef<HTMLDivElement | null>(null);
  const width = useWidth(boxRef);
  const [hover, setHover] = useState("");
  const n = raster.rows.length;
  const rowPx = n > 400 ? 1 : n > 200 ? 2 : n > 80 ? 3 : 5;
  const height = n * rowPx + axisPx;
  const endMs = raster.windowStartMs + raster.bins * raster.binMs;

  useEffect(() => {
    const canvas = canvasRef.current;
    if (canvas === null) return;
    const ctx = prepareCanvas(canvas, width, height);
    if (ctx === null) return;
    const plotW = Math.max(1, width - gutterPx - 8);
    const binW = plotW / raster.bins;
    const max = Math.max(1, raster.max);
    let lastSha = "";
    let group = 0;
    raster.rows.forEach((row, r) => {
      const y = r * rowPx;
      if (row.sha256 !== lastSha) {
        lastSha = row.sha256;
        group++;
      }
      ctx.fillStyle = group % 2 === 0 ? "#e8ebef" : "#cfd5dc";
      ctx.fillRect(gutterPx - 8, y, 6, rowPx);
      row.bins.forEach((v, b) => {
        ctx.fillStyle = v === null ? "#d9dce1" : v === 0 ? "#ffffff" : rampColor(0.15 + (0.85 * v) / max);
        ctx.fillRect(gutterPx + b * binW, y, Math.ceil(binW), rowPx);
      });
      if (row.counts === "incomplete") hatch(ctx, gutterPx, y, plotW, Math.max(rowPx, 2));
    });
    // Time axis: the count window in ms after onset.
    const y0 = n * rowPx + 2;
    ctx.strokeStyle = "#555";
    ctx.beginPath();
    ctx.moveTo(gutterPx, y0);
    ctx.lineTo(gutterPx + plotW, y0);
    ctx.stroke();
    ctx.fillStyle = "#333";
    const ticks = Math.min(raster.bins, 5);
    for (let k = 0; k <= ticks; k++) {
      const t = raster.windowStartMs + ((endMs - raster.windowStartMs) * k) / ticks;
      const x = gutterPx + (plotW * k) / ticks;
      ctx.fillText(`${Math.round(t)}`, Math.min(width - 24, Math.max(0, x - 8)), y0 + 10);
    }
    ctx.fillText("trials", 0, 8);
  }, [raster, width, height, rowPx, n, endMs]);

  const onMove = (e: React.MouseEvent<HTMLCanvasElement>): void => {
    const rect = e.currentTarget.getBoundingClientRect();
    const r = Math.floor((e.clientY - rect.top) / rowPx);
    const b = Math.floor(((e.clientX - rect.left - gutterPx) / Math.max(1, width - gutterPx - 8)) * raster.bins);
    const row = raster.rows[r];
    if (row === undefined || b < 0 || b >= raster.bins) return setHover("");
    const t0 = raster.windowStartMs + b * raster.binMs;
    setHover(
      `presentation ${row.idx} · image ${row.sha256.slice(0, 10)} · ` +
        `${Math.round(t0)}–${Math.round(t0 + raster.binMs)} ms · ` +
        `${row.bins[b] ?? "no"} spikes · ${row.counts}${row.counted ? "" : " (not averaged)"}`,
    );
  };
  const incomplete = raster.rows.filter((r) => r.counts === "incomplete").length;
  return (
    <Figure
      title={`Raster · unit ${raster.unit.label}`}
      note={
        `spikes per ${formatNumber(raster.binMs, 1)} ms bin, aligned on onset; rows grouped by image · ` +
        `hatched: incomplete counts (${incomplete})`
      }
      fileName={fileName}
      testId="raster"
      attrs={{ rows: n, bins: raster.bins, incomplete }}
    >
      <div ref={boxRef} className="heatmap-box">
        <canvas
          ref={canvasRef}
          onMouseMove={onMove}
          onMouseLeave={() => setHover("")}
          aria-label={`raster of ${n} presentations`}
        />
      </div>
      <div className="heatmap-foot">
        <span className="muted">ms after onset</span>
        <span className="hover mono">{hover || "\u00a0"}</span>
      </div>
    </Figure>
  );
}

/** PSTH: mean rate per bin over the counted presentations, ± s.e.m. */
export function PsthChart({ raster, fileName }: { raster: UnitRaster; fileName: string }) {
  const rows = useMemo(
    () =>
      raster.psth.rateHz.map((rate, b) => ({
        t: Math.round(raster.windowStartMs + (b + 0.5) * raster.binMs),
        rate: rate === null ? null : Number(rate.toFixed(3)),
        sem: raster.psth.semHz[b] ?? 0,
      })),
    [raster],
  );
  return (
    <Figure
      title={`PSTH · unit ${raster.unit.label}`}
      note={`mean rate ± s.e.m. over ${raster.psth.n} presentations · ${raster.counting.text}`}
      fileName={fileName}
      testId="psth"
      attrs={{ bins: rows.length }}
    >
      <div className="chart-area short">
        <ResponsiveContainer width="100%" height={220}>
          <BarChart data={rows} margin={{ top: 8, right: 16, bottom: 20, left: 4 }} barCategoryGap={1}>
            <CartesianGrid stroke="#e3e6ea" strokeDasharray="3 3" />
            <XAxis
              dataKey="t"
              tick={{ fontSize: 11 }}
              label={{ value: "ms after onset (bin centre)", position: "insideBottom", offset: -12, fontSize: 12 }}
            />
            <YAxis
              tick={{ fontSize: 11 }}
              width={48}
              label={{ value: "spikes/s", angle: -90, position: "insideLeft", fontSize: 12 }}
            />
            <Tooltip
              isAnimationActive={false}
              contentStyle={{ fontSize: 12 }}
              formatter={(v) => [`${formatNumber(Number(v), 1)} spikes/s`, "rate"]}
            />
            <Bar dataKey="rate" fill="#2457c5" isAnimationActive={false}>
              <ErrorBar dataKey="sem" width={4} stroke="#1d232b" />
            </Bar>
          </BarChart>
        </ResponsiveContainer>
      </div>
    </Figure>
  );
}
