/**
 * The causal images a session showed, one cell each: the image, its base image (adversarial and smoothed images),
 * its unit and kind, the model's predicted response and the recorded unit's measured mean. Drawn as one SVG (the
 * pictures as data: URLs from the stimulus channel), so the figure saves as PNG or SVG like the charts.
 */
import { useEffect, useMemo, useState } from "react";
import type { CausalImageItem, CortexloopApi } from "../../main/api/contract.js";
import { useCortexloop } from "../api.js";
import { Figure } from "../Figure.js";
import { loadThumb } from "../Thumb.js";
import { causalKindOrder, kindColor, kindLabel } from "./causal-format.js";

const columns = 5;
const pageSize = 20;
const cellW = 216;
const cellH = 216;
const imagePx = 112;
const basePx = 60;

/** Data URLs of the stimuli (null: not in the database), through Thumb's per-hash cache. */
function useStimulusUrls(api: CortexloopApi, shas: readonly string[]): Map<string, string | null> {
  const [urls, setUrls] = useState<Map<string, string | null>>(new Map());
  const key = shas.join(",");
  useEffect(() => {
    let current = true;
    Promise.all(shas.map(async (sha) => [sha, await loadThumb(api, sha)] as const)).then((entries) => {
      if (current) setUrls(new Map(entries));
    });
    return () => {
      current = false;
    };
    // `key` stands for the hashes' content.
  }, [api, key]);
  return urls;
}

const number = (v: number | null, digits = 2): string => (v === null ? "—" : v.toFixed(digits));

export function CausalGallery({ images, fileName }: { images: CausalImageItem[]; fileName: string }) {
  const api = useCortexloop();
  const [unit, setUnit] = useState("");
  const [kind, setKind] = useState("");
  const [page, setPage] = useState(0);
  const units = useMemo(() => [...new Set(images.map((i) => i.unit))].sort(), [images]);
  const kinds = useMemo(() => causalKindOrder.filter((k) => images.some((i) => i.kind === k)), [images]);
  const shown = useMemo(
    () =>
      images
        .filter((i) => (unit === "" || i.unit === unit) && (kind === "" || i.kind === kind))
        .sort(
          (a, b) =>
            a.unit.localeCompare(b.unit) ||
            causalKindOrder.indexOf(a.kind) - causalKindOrder.indexOf(b.kind) ||
            (a.baseSha256 ?? "").localeCompare(b.baseSha256 ?? "") ||
            a.sha256.localeCompare(b.sha256),
        ),
    [images, unit, kind],
  );
  // An adversarial or smoothed image's base, as its unit's base row (its predicted and measured responses).
  const bases = useMemo(
    () =>
      new Map(
        images
          .filter((i) => i.kind === "adversarial-base" || i.kind === "smooth-base")
          .map((i) => [`${i.unit}|${i.kind}|${i.sha256}`, i]),
      ),
    [images],
  );
  const baseOf = (c: CausalImageItem): CausalImageItem | undefined =>
    c.baseSha256 === null
      ? undefined
      : bases.get(`${c.unit}|${c.kind.startsWith("adversarial") ? "adversarial-base" : "smooth-base"}|${c.baseSha256}`);
  const pages = Math.max(1, Math.ceil(shown.length / pageSize));
  const at = Math.min(page, pages - 1);
  const cells = shown.slice(at * pageSize, (at + 1) * pageSize);
  const wanted = [...new Set(cells.flatMap((c) => (c.baseSha256 === null ? [c.sha256] : [c.sha256, c.baseSha256])))];
  const urls = useStimulusUrls(api, wanted);
  const rows = Math.max(1, Math.ceil(cells.length / columns));
  const width = columns * cellW;
  const height = rows * cellH;
  const filterTitle = `${unit === "" ? "all units" : `unit ${unit}`}, ${kind === "" ? "all kinds" : kind}`;
  return (
    <>
      <div className="row controls">
        <label className="picker">
          Unit{" "}
          <select value={unit} onChange={(e) => (setUnit(e.target.value), setPage(0))} data-testid="causal-unit">
            <option value="">all units</option>
            {units.map((u) => (
              <option key={u} value={u}>
                {u}
              </option>
            ))}
          </select>
        </label>
        <label className="picker">
          Kind{" "}
          <select value={kind} onChange={(e) => (setKind(e.target.value), setPage(0))} data-testid="causal-kind">
            <option value="">all kinds</option>
            {kinds.map((k) => (
              <option key={k} value={k}>
                {kindLabel(k)}
              </option>
            ))}
          </select>
        </label>
        <span className="pager">
          <button type="button" className="small-btn" disabled={at === 0} onClick={() => setPage(at - 1)}>
            ← previous
          </button>
          <span className="muted" data-testid="causal-page">
            {shown.length === 0
              ? "no images"
              : `images ${at * pageSize + 1}–${at * pageSize + cells.length} of ${shown.length}`}
          </span>
          <button
            type="button"
            className="small-btn"
            disabled={at >= pages - 1}
            onClick={() => setPage(at + 1)}
            data-testid="causal-next"
          >
            next →
          </button>
        </span>
      </div>
      <Figure
        title={`Causal images (${filterTitle})`}
        note={
          "each image with its unit, kind and base image; predicted: the model's response; measured: the " +
          "unit's mean ± s.e.m. (presentations)"
        }
        fileName={fileName}
        testId="causal-gallery"
        attrs={{ images: shown.length, cells: cells.length }}
      >
        <svg
          className="figure-surface"
          xmlns="http://www.w3.org/2000/svg"
          width={width}
          height={height}
          style={{ maxWidth: "100%", display: "block" }}
          fontFamily="system-ui, sans-serif"
        >
          {cells.map((c, k) => (
            <Cell
              key={`${c.unit}|${c.kind}|${c.sha256}`}
              item={c}
              base={baseOf(c)}
              x={(k % columns) * cellW}
              y={Math.floor(k / columns) * cellH}
              url={urls.get(c.sha256)}
              baseUrl={c.baseSha256 === null ? undefined : urls.get(c.baseSha256)}
            />
          ))}
        </svg>
      </Figure>
    </>
  );
}

function Picture({
  url,
  x,
  y,
  size,
  testId,
}: {
  url: string | null | undefined;
  x: number;
  y: number;
  size: number;
  testId: string;
}) {
  if (url === undefined || url === null)
    return (
      <g>
        <rect x={x} y={y} width={size} height={size} fill="#eeeeee" stroke="#d5dae0" />
        {url === null && (
          <text x={x + size / 2} y={y + size / 2} fontSize={11} textAnchor="middle" fill="#6b7480">
            not stored
          </text>
        )}
      </g>
    );
  return <image href={url} x={x} y={y} width={size} height={size} preserveAspectRatio="none" data-testid={testId} />;
}

function Cell({
  item,
  x,
  y,
  url,
  baseUrl,
  base,
}: {
  item: CausalImageItem;
  x: number;
  y: number;
  url: string | null | undefined;
  baseUrl: string | null | undefined;
  base: CausalImageItem | undefined;
}) {
  const left = x + 8;
  const sem = item.measuredSem === null ? "" : ` ± ${number(item.measuredSem)}`;
  const measured =
    item.recordedUnit === null ? "not recorded" : `${number(item.measured)}${sem} (${item.presentations})`;
  return (
    <g
      data-testid="causal-image"
      data-sha={item.sha256}
      data-unit={item.unit}
      data-kind={item.kind}
      data-base={item.baseSha256 ?? ""}
      data-predicted={item.predicted}
      data-measured={item.measured ?? ""}
    >
      <rect x={x + 2} y={y + 2} width={cellW - 4} height={cellH - 4} rx={4} fill="#ffffff" stroke="#e3e6ea" />
      <Picture url={url} x={left} y={y + 8} size={imagePx} testId="causal-thumb" />
      <rect x={left} y={y + 8} width={imagePx} height={4} fill={kindColor(item.kind)} />
      {item.baseSha256 === null ? (
        <text x={left + imagePx + 10} y={y + 24} fontSize={10} fill="#6b7480">
          no base
        </text>
      ) : (
        <>
          <Picture url={baseUrl} x={left + imagePx + 10} y={y + 8} size={basePx} testId="causal-base-thumb" />
          <text x={left + imagePx + 10} y={y + 8 + basePx + 12} fontSize={10} fill="#6b7480">
            base {item.baseSha256.slice(0, 6)}
          </text>
        </>
      )}
      <text x={left} y={y + imagePx + 24} fontSize={12} fontWeight={600} fill="#1d232b" data-testid="causal-unit-label">
        {item.unit}
        <tspan fontWeight={400} fill="#6b7480">
          {` · ${item.source}`}
        </tspan>
      </text>
      <text x={left} y={y + imagePx + 39} fontSize={11} fill={kindColor(item.kind)} data-testid="causal-kind-label">
        {kindLabel(item.kind)}
      </text>
      <text x={left} y={y + imagePx + 54} fontSize={11} fill="#1d232b" data-testid="causal-predicted">
        predicted {number(item.predicted)}
      </text>
      <text x={left} y={y + imagePx + 69} fontSize={11} fill="#1d232b" data-testid="causal-measured">
        measured {measured}
      </text>
      {base !== undefined && (
        <text x={left} y={y + imagePx + 84} fontSize={11} fill="#6b7480" data-testid="causal-base-responses">
          base: pred. {number(base.predicted)} · meas. {number(base.measured)}
        </text>
      )}
    </g>
  );
}
