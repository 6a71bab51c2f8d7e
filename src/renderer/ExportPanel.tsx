import { useEffect, useState } from "react";
import type { CsvExport } from "../main/api/contract.js";
import { useCortexloop } from "./api.js";

interface Prepared {
  name: string;
  url: string;
  bytes: number;
  rows: number;
}

/** Builds the session's CSV files in the controller, then offers each as a download. */
export function ExportPanel({ sessionId, sessionName }: { sessionId: number; sessionName: string }) {
  const api = useCortexloop();
  const [files, setFiles] = useState<Prepared[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  // Object URLs hold memory until revoked: revoke them when replaced or when the panel goes.
  useEffect(() => {
    return () => {
      for (const f of files ?? []) URL.revokeObjectURL(f.url);
    };
  }, [files]);

  async function prepare(): Promise<void> {
    setBusy(true);
    setError(null);
    const reply = await api.exportCsv({ session: sessionId });
    setBusy(false);
    if (!reply.ok) {
      setError(`${reply.message} (${reply.code})`);
      return;
    }
    setFiles(toDownloads(reply.value));
  }

  function downloadAll(): void {
    for (const f of files ?? []) {
      const a = document.createElement("a");
      a.href = f.url;
      a.download = fileName(sessionName, sessionId, f.name);
      a.click();
    }
  }

  return (
    <section className="panel">
      <p>
        CSV files of this session: presentations (with TTL onsets), units, spike counts per bin, faults. The database is only read; the files are made
        for download.
      </p>
      <div className="row">
        <button type="button" className="primary" onClick={() => void prepare()} disabled={busy} data-testid="export-csv">
          {busy ? "Preparing…" : files === null ? "Export CSV" : "Export again"}
        </button>
        {files !== null && files.length > 1 && (
          <button type="button" onClick={downloadAll}>
            Download all ({files.length} files)
          </button>
        )}
      </div>
      {error !== null && (
        <div className="error" role="alert">
          {error}
        </div>
      )}
      {files !== null && (
        <ul className="downloads" data-testid="csv-files">
          {files.map((f) => (
            <li key={f.name}>
              <a href={f.url} download={fileName(sessionName, sessionId, f.name)} data-testid={`download-${f.name}`}>
                {f.name}
              </a>{" "}
              <span className="muted">
                {f.rows} rows · {(f.bytes / 1024).toFixed(1)} KiB
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function fileName(sessionName: string, id: number, name: string): string {
  const safe = sessionName.replace(/[^A-Za-z0-9._-]+/g, "-").slice(0, 40) || "session";
  return `${safe}-${id}-${name}`;
}

function toDownloads(value: CsvExport): Prepared[] {
  return value.files.map((f) => {
    const blob = new Blob([f.text], { type: "text/csv;charset=utf-8" });
    const lines = f.text.split("\n").filter((l) => l.length > 0).length;
    return { name: f.name, url: URL.createObjectURL(blob), bytes: blob.size, rows: Math.max(0, lines - 1) };
  });
}
