import { useEffect, useState } from "react";
import type { CsvExport, FileDownload } from "../main/api/contract.js";
import { useCortexloop } from "./api.js";

interface Prepared {
  name: string;
  url: string;
  bytes: number;
  rows: number;
}

interface PreparedFile {
  kind: "bundle" | "nwb";
  name: string;
  url: string;
  bytes: number;
  contents: string[];
}

const running = new Set(["started", "paused", "resumed", "unknown"]);

/** Builds the session's exports in the controller (CSV, one zip, NWB), then offers each as a download. */
export function ExportPanel({
  sessionId,
  sessionName,
  state,
}: {
  sessionId: number;
  sessionName: string;
  state: string;
}) {
  const api = useCortexloop();
  const [files, setFiles] = useState<Prepared[] | null>(null);
  const [made, setMade] = useState<PreparedFile[]>([]);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState<string | null>(null);
  const [unfinished, setUnfinished] = useState<"bundle" | "nwb" | null>(null);

  // Object URLs hold memory until revoked: revoke them when replaced or when the panel goes.
  useEffect(() => {
    return () => {
      for (const f of files ?? []) URL.revokeObjectURL(f.url);
    };
  }, [files]);
  useEffect(() => {
    return () => {
      for (const f of made) URL.revokeObjectURL(f.url);
    };
  }, [made]);

  async function prepareCsv(): Promise<void> {
    setBusy("csv");
    setError(null);
    const reply = await api.exportCsv({ session: sessionId });
    setBusy(null);
    if (!reply.ok) return setError(`${reply.message} (${reply.code})`);
    setFiles(toDownloads(reply.value));
  }

  async function prepareFile(kind: "bundle" | "nwb", allowUnfinished = false): Promise<void> {
    setBusy(kind);
    setError(null);
    setUnfinished(null);
    const request = { session: sessionId, allowUnfinished };
    const reply = kind === "bundle" ? await api.exportBundle(request) : await api.exportNwb(request);
    setBusy(null);
    if (!reply.ok) {
      // A session that has not ended: say so, and offer what was stored (a crashed controller leaves the same state).
      if (reply.code === "conflict") setUnfinished(kind);
      return setError(`${reply.message} (${reply.code})`);
    }
    const prepared = toFile(kind, reply.value);
    setMade((old) => [...old.filter((f) => f.kind !== kind), prepared]);
    // Start the download at once; the link stays for another copy.
    const a = document.createElement("a");
    a.href = prepared.url;
    a.download = prepared.name;
    a.click();
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
        The database is only read; the files are made in the controller for download. Means count complete counts only;
        every file says so.
        {running.has(state) && (
          <span className="warn">
            {" "}
            This session has not ended (state {state}); the zip and NWB file wait until it has.
          </span>
        )}
      </p>
      <div className="row">
        <button
          type="button"
          className="primary"
          onClick={() => void prepareFile("bundle")}
          disabled={busy !== null}
          data-testid="export-bundle"
        >
          {busy === "bundle" ? "Preparing…" : "Download everything (zip)"}
        </button>
        <button
          type="button"
          className="primary"
          onClick={() => void prepareFile("nwb")}
          disabled={busy !== null}
          data-testid="export-nwb"
        >
          {busy === "nwb" ? "Writing NWB…" : "Download NWB 2.7"}
        </button>
        <button type="button" onClick={() => void prepareCsv()} disabled={busy !== null} data-testid="export-csv">
          {busy === "csv" ? "Preparing…" : files === null ? "Export CSV" : "Export CSV again"}
        </button>
        {files !== null && files.length > 1 && (
          <button type="button" onClick={downloadAll}>
            Download all CSV ({files.length} files)
          </button>
        )}
      </div>
      <p className="muted small">
        The zip holds the CSV files, the protocol and rig text, a protocol that replays the session, every stimulus as
        PNG named by its SHA-256, and a README of the columns. The NWB file holds the units, the presentations (with
        counts per unit and bin), the stimuli, the faults, the protocol and rig text and the software version.
      </p>
      {error !== null && (
        <div className="error" role="alert" data-testid="export-error">
          {error}
          {unfinished !== null && (
            <p>
              <button type="button" onClick={() => void prepareFile(unfinished, true)} data-testid="export-unfinished">
                Export what was stored so far
              </button>
            </p>
          )}
        </div>
      )}
      {made.length > 0 && (
        <ul className="downloads" data-testid="made-files">
          {made.map((f) => (
            <li key={f.kind}>
              <a href={f.url} download={f.name} data-testid={`download-${f.kind}`}>
                {f.name}
              </a>{" "}
              <span className="muted">
                {(f.bytes / 1024).toFixed(1)} KiB · {f.contents.length} {f.kind === "bundle" ? "files" : "parts"}
              </span>
            </li>
          ))}
        </ul>
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

function toFile(kind: "bundle" | "nwb", value: FileDownload): PreparedFile {
  const binary = atob(value.base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  const blob = new Blob([bytes], { type: value.mediaType });
  return { kind, name: value.fileName, url: URL.createObjectURL(blob), bytes: blob.size, contents: value.contents };
}
