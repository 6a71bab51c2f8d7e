import { useRef, useState, type ReactNode } from "react";
import { exportFigure } from "./figure-export.js";

/** A figure with its caption, what it counted, and PNG/SVG export. */
export function Figure({
  title,
  note,
  fileName,
  testId,
  children,
  attrs,
}: {
  title: string;
  note?: ReactNode;
  fileName: string;
  testId: string;
  children: ReactNode;
  attrs?: Record<string, string | number>;
}) {
  const ref = useRef<HTMLElement | null>(null);
  const [error, setError] = useState<string | null>(null);
  const save = (format: "png" | "svg"): void => {
    if (ref.current === null) return;
    setError(null);
    exportFigure(ref.current, format, fileName, title).catch((err: unknown) =>
      setError(err instanceof Error ? err.message : String(err)),
    );
  };
  const data = Object.fromEntries(Object.entries(attrs ?? {}).map(([k, v]) => [`data-${k}`, String(v)]));
  return (
    <figure className="chart" ref={ref} data-testid={testId} {...data}>
      <figcaption>
        <span>
          <strong>{title}</strong> {note !== undefined && <span className="muted">{note}</span>}
        </span>
        <span className="figure-tools">
          <button
            type="button"
            className="small-btn"
            onClick={() => save("png")}
            data-testid={`${testId}-png`}
            title="save as PNG"
          >
            PNG
          </button>
          <button
            type="button"
            className="small-btn"
            onClick={() => save("svg")}
            data-testid={`${testId}-svg`}
            title="save as SVG"
          >
            SVG
          </button>
        </span>
      </figcaption>
      {children}
      {error !== null && <p className="error">{error}</p>}
    </figure>
  );
}
