import { useMemo } from "react";
import {
  Bar,
  BarChart,
  CartesianGrid,
  ErrorBar,
  Legend,
  ReferenceLine,
  ResponsiveContainer,
  Scatter,
  ScatterChart,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import type { CausalKindRow, CausalUnitRow } from "../../main/api/contract.js";
import { Figure } from "../Figure.js";
import { causalKindOrder, formatP, kindColor, kindLabel } from "./causal-format.js";

/** Per kind, the measured %Δr (mean ± s.e. over units) beside the predicted one. */
export function CausalKindChart({ rows, fileName }: { rows: CausalKindRow[]; fileName: string }) {
  const data = useMemo(
    () =>
      rows.map((s) => ({
        kind: kindLabel(s.kind),
        measured: s.mean,
        measuredSe: s.se ?? 0,
        predicted: s.predictedMean,
        predictedSe: s.predictedSe ?? 0,
      })),
    [rows],
  );
  return (
    <Figure
      title="%Δr by kind"
      note={
        "measured (mean ± s.e. over units) and the model's prediction; maximizing against random normal " +
        "images, the rest against their bases"
      }
      fileName={fileName}
      testId="causal-kinds"
      attrs={{ kinds: rows.length }}
    >
      <ResponsiveContainer width="100%" height={300}>
        <BarChart data={data} margin={{ top: 8, right: 12, bottom: 56, left: 28 }}>
          <CartesianGrid stroke="#e3e6ea" strokeDasharray="3 3" />
          <XAxis dataKey="kind" tick={{ fontSize: 10 }} interval={0} angle={-25} textAnchor="end" />
          <YAxis
            tick={{ fontSize: 11 }}
            width={48}
            label={{ value: "%Δr", angle: -90, position: "insideLeft", fontSize: 12 }}
          />
          <ReferenceLine y={0} stroke="#4d5560" />
          <Tooltip
            isAnimationActive={false}
            contentStyle={{ fontSize: 12 }}
            formatter={(v) => `${Number(v).toFixed(1)} %`}
          />
          <Legend verticalAlign="top" height={24} wrapperStyle={{ fontSize: 12 }} />
          <Bar dataKey="measured" name="measured" fill="#b5520b" isAnimationActive={false}>
            <ErrorBar dataKey="measuredSe" width={4} stroke="#1d232b" />
          </Bar>
          <Bar dataKey="predicted" name="predicted" fill="#8fb3d9" isAnimationActive={false}>
            <ErrorBar dataKey="predictedSe" width={4} stroke="#1d232b" />
          </Bar>
        </BarChart>
      </ResponsiveContainer>
    </Figure>
  );
}

interface Point {
  predicted: number;
  measured: number;
  unit: string;
  p: number | null;
}

/** Each unit and kind: measured %Δr against the predicted one, with the identity line. */
export function CausalScatter({ rows, fileName }: { rows: CausalUnitRow[]; fileName: string }) {
  const { series, lo, hi, ticks, points } = useMemo(() => {
    const byKind = causalKindOrder.flatMap((kind) => {
      const pts: Point[] = rows.flatMap((r) =>
        r.kind === kind && r.measuredChange !== null && r.predictedChange !== null
          ? [{ predicted: r.predictedChange, measured: r.measuredChange, unit: r.unit, p: r.p }]
          : [],
      );
      return pts.length === 0 ? [] : [{ kind, pts }];
    });
    const all = byKind.flatMap((s) => s.pts.flatMap((p) => [p.predicted, p.measured]));
    const min = Math.min(0, ...all);
    const max = Math.max(0, ...all);
    // Both axes on one range, in whole tens, so the identity line is the diagonal.
    const step = max - min > 200 ? 50 : 10;
    const lo = Math.floor(min / step) * step - step;
    const hi = Math.ceil(max / step) * step + step;
    let every = step;
    while ((hi - lo) / every > 10) every *= 2;
    return {
      series: byKind,
      lo,
      hi,
      ticks: Array.from({ length: Math.floor((hi - lo) / every) + 1 }, (_, i) => lo + i * every),
      points: byKind.reduce((n, s) => n + s.pts.length, 0),
    };
  }, [rows]);
  return (
    <Figure
      title="Measured against predicted %Δr"
      note="one dot per unit and kind; the line is measured = predicted"
      fileName={fileName}
      testId="causal-scatter"
      attrs={{ points }}
    >
      <ResponsiveContainer width="100%" height={300}>
        <ScatterChart margin={{ top: 8, right: 16, bottom: 20, left: 4 }}>
          <CartesianGrid stroke="#e3e6ea" strokeDasharray="3 3" />
          <XAxis
            dataKey="predicted"
            type="number"
            domain={[lo, hi]}
            ticks={ticks}
            tick={{ fontSize: 11 }}
            label={{ value: "predicted %Δr", position: "insideBottom", offset: -12, fontSize: 12 }}
          />
          <YAxis
            dataKey="measured"
            type="number"
            domain={[lo, hi]}
            ticks={ticks}
            tick={{ fontSize: 11 }}
            width={48}
            label={{ value: "measured %Δr", angle: -90, position: "insideLeft", fontSize: 12 }}
          />
          <ReferenceLine
            segment={[
              { x: lo, y: lo },
              { x: hi, y: hi },
            ]}
            stroke="#8a94a0"
            strokeDasharray="4 3"
          />
          <Tooltip
            isAnimationActive={false}
            contentStyle={{ fontSize: 12 }}
            content={({ payload }) => {
              const p = payload?.[0]?.payload as Point | undefined;
              if (p === undefined) return null;
              return (
                <div className="tip">
                  <strong>{p.unit}</strong>
                  <br />
                  predicted {p.predicted.toFixed(1)} %, measured {p.measured.toFixed(1)} %, p {formatP(p.p)}
                </div>
              );
            }}
          />
          <Legend verticalAlign="top" height={24} wrapperStyle={{ fontSize: 12 }} />
          {series.map((s) => (
            <Scatter
              key={s.kind}
              name={kindLabel(s.kind)}
              data={s.pts}
              fill={kindColor(s.kind)}
              isAnimationActive={false}
            />
          ))}
        </ScatterChart>
      </ResponsiveContainer>
    </Figure>
  );
}
