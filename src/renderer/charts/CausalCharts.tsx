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
import { causalKindOrder, formatP, kindColor, kindLabel, niceRange } from "./causal-format.js";

/**
 * Per kind, the measured %Δr (mean ± s.e. over units) beside the predicted one. `sameScale` false (compact models'
 * predictions, whose offset is arbitrary): the predicted bars get their own axis, on the right.
 */
export function CausalKindChart({
  rows,
  fileName,
  sameScale,
}: {
  rows: CausalKindRow[];
  fileName: string;
  sameScale: boolean;
}) {
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
  // Two axes: each symmetric around 0, so both zeros are the one baseline.
  const extent = (key: "measured" | "predicted"): { lo: number; hi: number; ticks: number[] } => {
    const m = Math.max(...data.map((d) => Math.abs(d[key] ?? 0) + d[`${key}Se`]));
    return niceRange(-m, m);
  };
  const left = sameScale ? undefined : extent("measured");
  const right = sameScale ? undefined : extent("predicted");
  return (
    <Figure
      title="%Δr by kind"
      note={
        "measured (mean ± s.e. over units) and the model's prediction; maximizing against random normal " +
        "images, the rest against their bases" +
        (sameScale ? "" : "; predictions of compact models (arbitrary offset) on the right-hand axis")
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
            yAxisId="measured"
            domain={left === undefined ? undefined : [left.lo, left.hi]}
            ticks={left?.ticks}
            tick={{ fontSize: 11 }}
            width={56}
            label={{ value: sameScale ? "%Δr" : "measured %Δr", angle: -90, position: "insideLeft", fontSize: 12 }}
          />
          <YAxis
            yAxisId="predicted"
            orientation="right"
            hide={sameScale}
            domain={right === undefined ? undefined : [right.lo, right.hi]}
            ticks={right?.ticks}
            tick={{ fontSize: 11 }}
            width={64}
            label={{ value: "predicted %Δr", angle: 90, position: "insideRight", fontSize: 12 }}
          />
          <ReferenceLine yAxisId="measured" y={0} stroke="#4d5560" />
          <Tooltip
            isAnimationActive={false}
            contentStyle={{ fontSize: 12 }}
            formatter={(v) => `${Number(v).toFixed(1)} %`}
          />
          <Legend verticalAlign="top" height={24} wrapperStyle={{ fontSize: 12 }} />
          <Bar yAxisId="measured" dataKey="measured" name="measured" fill="#b5520b" isAnimationActive={false}>
            <ErrorBar dataKey="measuredSe" width={4} stroke="#1d232b" isAnimationActive={false} />
          </Bar>
          <Bar
            yAxisId={sameScale ? "measured" : "predicted"}
            dataKey="predicted"
            name="predicted"
            fill="#8fb3d9"
            isAnimationActive={false}
          >
            <ErrorBar dataKey="predictedSe" width={4} stroke="#1d232b" isAnimationActive={false} />
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

/**
 * Each unit and kind: measured %Δr against the predicted one, with the identity line on one common range.
 * `sameScale` false (compact models' predictions, whose offset is arbitrary): each axis its own range, no line.
 */
export function CausalScatter({
  rows,
  fileName,
  sameScale,
}: {
  rows: CausalUnitRow[];
  fileName: string;
  sameScale: boolean;
}) {
  const { series, x, y, points } = useMemo(() => {
    const byKind = causalKindOrder.flatMap((kind) => {
      const pts: Point[] = rows.flatMap((r) =>
        r.kind === kind && r.measuredChange !== null && r.predictedChange !== null
          ? [{ predicted: r.predictedChange, measured: r.measuredChange, unit: r.unit, p: r.p }]
          : [],
      );
      return pts.length === 0 ? [] : [{ kind, pts }];
    });
    const predicted = byKind.flatMap((s) => s.pts.map((p) => p.predicted));
    const measured = byKind.flatMap((s) => s.pts.map((p) => p.measured));
    const all = [...predicted, ...measured];
    const common = niceRange(Math.min(...all), Math.max(...all));
    return {
      series: byKind,
      x: sameScale ? common : niceRange(Math.min(...predicted), Math.max(...predicted)),
      y: sameScale ? common : niceRange(Math.min(...measured), Math.max(...measured)),
      points: byKind.reduce((n, s) => n + s.pts.length, 0),
    };
  }, [rows, sameScale]);
  return (
    <Figure
      title="Measured against predicted %Δr"
      note={
        sameScale
          ? "one dot per unit and kind; the line is measured = predicted"
          : "one dot per unit and kind; predictions of compact models (arbitrary offset): compare signs and order"
      }
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
            domain={[x.lo, x.hi]}
            ticks={x.ticks}
            tick={{ fontSize: 11 }}
            label={{ value: "predicted %Δr", position: "insideBottom", offset: -12, fontSize: 12 }}
          />
          <YAxis
            dataKey="measured"
            type="number"
            domain={[y.lo, y.hi]}
            ticks={y.ticks}
            tick={{ fontSize: 11 }}
            width={60}
            label={{ value: "measured %Δr", angle: -90, position: "insideLeft", fontSize: 12 }}
          />
          {sameScale && (
            <ReferenceLine
              segment={[
                { x: x.lo, y: x.lo },
                { x: x.hi, y: x.hi },
              ]}
              stroke="#8a94a0"
              strokeDasharray="4 3"
            />
          )}
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
