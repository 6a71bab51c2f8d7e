/** The contract's channels implemented over a SessionStore: the same code behind Electron IPC and the web API. */
import type { SessionStore } from "../store/index.js";
import { sessionCsvFiles } from "../export.js";
import {
  isChannel,
  parseRequest,
  type ApiErrorCode,
  type ApiReply,
  type Channel,
  type FaultRow,
  type ModelVersionItem,
  type ParsedRequestOf,
  type PresentationRow,
  type Replies,
  type SessionDetail,
  type SessionListItem,
  type UnitResponses,
} from "./contract.js";

/** An error with a code from the contract's closed set; anything else becomes `internal`. */
export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type Handlers = { [C in Channel]: (store: SessionStore, request: ParsedRequestOf<C>) => Replies[C] };

function sessionOrThrow(store: SessionStore, ref: string | number): NonNullable<ReturnType<SessionStore["findSession"]>> {
  const session = store.findSession(ref);
  if (session === undefined) throw new ApiError("not-found", `No session "${ref}" in this database; the session list shows the ones there are.`);
  return session;
}

function summaryOf(store: SessionStore, id: number): SessionListItem {
  const row = store.listSessions().find((s) => s.id === id);
  if (row === undefined) throw new ApiError("not-found", `Session ${id} is missing from the session list; reload the list.`);
  return { id: row.id, uuid: row.uuid, name: row.name, createdAt: row.createdAt, protocolName: row.protocolName, rigName: row.rigName, state: row.state, presentations: row.presentations, units: row.units, faults: row.faults };
}

function unitLabel(u: { electrode: string; sortedId: number }): string {
  return `${u.electrode}/${u.sortedId}`;
}

/** r²_ER from a model version's metrics: `r2er`, `r2ER`, `r2_er` as a number, or a `{ mean }` object. */
export function r2erOf(metrics: Record<string, unknown>): number | null {
  for (const key of ["r2er", "r2ER", "r2_er", "r2Er"]) {
    const v = metrics[key];
    if (typeof v === "number" && Number.isFinite(v)) return v;
    if (typeof v === "object" && v !== null && "mean" in v) {
      const m = (v as { mean: unknown }).mean;
      if (typeof m === "number" && Number.isFinite(m)) return m;
    }
  }
  return null;
}

export const handlers: Handlers = {
  listSessions(store) {
    return store.listSessions().map((r) => ({
      id: r.id,
      uuid: r.uuid,
      name: r.name,
      createdAt: r.createdAt,
      protocolName: r.protocolName,
      rigName: r.rigName,
      state: r.state,
      presentations: r.presentations,
      units: r.units,
      faults: r.faults,
    }));
  },

  getSession(store, { session: ref }): SessionDetail {
    const s = sessionOrThrow(store, ref);
    const presentations = store.presentations(s.id);
    const results = store.countResults(s.id);
    const withResult = new Set(results.map((r) => r.presentationIdx));
    return {
      ...summaryOf(store, s.id),
      seed: s.seed,
      countWindow: s.countWindow,
      protocolText: store.protocolText(s.protocolId),
      rigText: store.rigText(s.rigId),
      events: store.sessionEvents(s.id),
      counts: {
        presentations: presentations.length,
        shown: presentations.filter((p) => p.status === "shown").length,
        unconfirmed: presentations.filter((p) => p.status === "unconfirmed").length,
        skipped: presentations.filter((p) => p.status === "skipped").length,
        withCounts: results.filter((r) => r.complete).length,
        incomplete: results.filter((r) => !r.complete).length,
        missing: presentations.filter((p) => p.status !== "skipped" && !withResult.has(p.idx)).length,
      },
    };
  },

  presentations(store, { session: ref }): PresentationRow[] {
    const s = sessionOrThrow(store, ref);
    const results = new Map(store.countResults(s.id).map((r) => [r.presentationIdx, r]));
    return store.presentations(s.id).map((p) => {
      const r = results.get(p.idx);
      return { ...p, onsetSample: r?.onsetSample ?? null, countsComplete: r === undefined ? null : r.complete };
    });
  },

  stimulus(store, { sha256 }) {
    const png = store.getStimulusPng(sha256);
    if (png === undefined) throw new ApiError("not-found", `No stimulus image ${sha256.slice(0, 12)}… in this database; the presentation row is kept, only its picture is missing.`);
    return { sha256, dataUrl: `data:image/png;base64,${png.toString("base64")}` };
  },

  unitResponses(store, { session: ref }): UnitResponses {
    const s = sessionOrThrow(store, ref);
    const units = store.units(s.id);
    const unitRow = new Map(units.map((u, i) => [u.id, i]));
    const presentations = store.presentations(s.id);
    const column = new Map(presentations.map((p, j) => [p.idx, j]));
    const counts: (number | null)[][] = units.map(() => presentations.map(() => null));
    for (const c of store.spikeCounts(s.id)) {
      const i = unitRow.get(c.unitId);
      const j = column.get(c.presentationIdx);
      if (i === undefined || j === undefined) continue;
      counts[i][j] = (counts[i][j] ?? 0) + c.count;
    }
    let max = 0;
    for (const row of counts) for (const v of row) if (v !== null && v > max) max = v;

    const order: string[] = [];
    const byStimulus = new Map<string, { block: string; columns: number[] }>();
    presentations.forEach((p, j) => {
      let entry = byStimulus.get(p.stimulusSha256);
      if (entry === undefined) {
        entry = { block: p.block, columns: [] };
        byStimulus.set(p.stimulusSha256, entry);
        order.push(p.stimulusSha256);
      }
      entry.columns.push(j);
    });
    const stimuli = order.map((sha) => {
      const { block, columns } = byStimulus.get(sha) as { block: string; columns: number[] };
      const meanByUnit = counts.map((row) => {
        let sum = 0;
        let n = 0;
        for (const j of columns) {
          const v = row[j];
          if (v !== null) {
            sum += v;
            n++;
          }
        }
        return n === 0 ? null : sum / n;
      });
      return { sha256: sha, block, presentations: columns.length, meanByUnit };
    });
    return {
      units: units.map((u) => ({ id: u.id, electrode: u.electrode, sortedId: u.sortedId, label: unitLabel(u) })),
      stimuli,
      matrix: { presentationIdxs: presentations.map((p) => p.idx), counts, max },
    };
  },

  faults(store, { session: ref }): FaultRow[] {
    const s = sessionOrThrow(store, ref);
    return store.faults(s.id).map((f) => ({ id: f.id, at: f.at, code: f.code, message: f.message, presentationIdxs: f.presentationIdxs }));
  },

  modelVersions(store, { session: ref }): ModelVersionItem[] {
    const sessionId = ref === undefined ? undefined : sessionOrThrow(store, ref).id;
    return store
      .listModelVersions()
      .filter((m) => sessionId === undefined || m.sessionIds.includes(sessionId))
      .map((m) => ({ id: m.id, name: m.name, kind: m.kind, parentId: m.parentId, createdAt: m.createdAt, sessionIds: m.sessionIds, r2er: r2erOf(m.metrics), metrics: m.metrics }));
  },

  exportCsv(store, { session: ref }) {
    const s = sessionOrThrow(store, ref);
    const files = sessionCsvFiles(store, s.id);
    return { session: s.id, files: [...files].map(([name, text]) => ({ name, text })) };
  },
};

/** How an unexpected error is reported: to the log in full, to the caller in one line. */
export type ErrorLog = (message: string) => void;

/**
 * Validates a call (channel name, then arguments) and runs it. Never throws: every failure is an
 * `{ ok: false, code, message }` reply.
 */
export function dispatch(store: SessionStore, channel: unknown, raw: unknown, log: ErrorLog = () => {}): ApiReply<unknown> {
  if (!isChannel(channel)) {
    const shown = typeof channel === "string" ? `"${channel.slice(0, 60)}"` : typeof channel;
    return { ok: false, code: "unknown-channel", message: `There is no channel ${shown}; nothing was done. The channels are listed in src/main/api/contract.ts.` };
  }
  return runChannel(store, channel, raw, log);
}

function runChannel<C extends Channel>(store: SessionStore, channel: C, raw: unknown, log: ErrorLog): ApiReply<Replies[C]> {
  const parsed = parseRequest(channel, raw);
  if (!parsed.ok) return parsed;
  try {
    const handler = handlers[channel] as (store: SessionStore, request: unknown) => Replies[C];
    return { ok: true, value: handler(store, parsed.value) };
  } catch (err) {
    if (err instanceof ApiError) return { ok: false, code: err.code, message: err.message };
    const reason = err instanceof Error ? err.message : String(err);
    log(`${channel}: ${err instanceof Error && err.stack ? err.stack : reason}`);
    return { ok: false, code: "internal", message: `${channel} failed inside the controller (${reason}); the database was only read, nothing changed. Try again; if it repeats, the controller's log has the details.` };
  }
}
