/** The contract's channels implemented over a SessionStore: the same code behind Electron IPC and the web API. */
import type { SessionStore } from "../store/index.js";
import { ExportError, sessionBundle, sessionCsvFiles, sessionNwb } from "../export/index.js";
import { SessionReview, learningCurve, r2erOf, type CountingRule } from "../review/index.js";
import { compactModelDetail } from "../compact/inspect.js";
import { CompactVersionError } from "../compact/versions.js";
import { WindowHostError, type StimulusWindowHost } from "../display/window-host.js";
import { listProposals, ProposalError, type ProposalRow } from "../store/proposals.js";
import { predictedResponses } from "./predicted-responses.js";
import { causalImageCount, causalReview, CausalReviewError } from "./causal-review.js";
import { TechJobError } from "../tech/jobs.js";
import type { TechService } from "../tech/service.js";
import { LiveControlError, type LiveHub } from "../live/hub.js";
import { readLiveEndpoint } from "../live/endpoint-file.js";
import {
  isChannel,
  parseRequest,
  type ApiErrorCode,
  type ApiReply,
  type Channel,
  type FaultRow,
  type FileDownload,
  type ModelVersionItem,
  type ParsedRequestOf,
  type ProposalItem,
  type PresentationRow,
  type Replies,
  type SessionDetail,
  type SessionListItem,
  type UnitResponses,
} from "./contract.js";

export { r2erOf };

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

/** What a handler may reach besides the store: the stimulus window's host while a session or calibration uses one. */
export interface HandlerContext {
  stimulus?: StimulusWindowHost;
  /** A campaign waiting for approval (cortexloop campaign --serve): decides its proposals. */
  proposals?: { decide(id: number, decision: "approved" | "declined", via: "web"): ProposalRow };
  /** The tech view (protocol library, pre-flight, replays and dry runs); absent where it was not set up. */
  tech?: TechService;
  /** The live view's feed and controls while a session or campaign runs in this process (`--serve`). */
  live?: LiveHub;
}

function proposalItem(p: ProposalRow): ProposalItem {
  const { protocolId: _protocolId, ...item } = p;
  return item;
}

type Handlers = {
  [C in Channel]: (
    store: SessionStore,
    request: ParsedRequestOf<C>,
    context: HandlerContext,
  ) => Replies[C] | Promise<Replies[C]>;
};

function stimulusHost(context: HandlerContext): StimulusWindowHost {
  if (context.stimulus === undefined) {
    throw new ApiError(
      "not-found",
      "No session or calibration is waiting for a stimulus window here; start one (cortexloop run with a window " +
        "display, or cortexloop calibrate), then open the URL it prints.",
    );
  }
  return context.stimulus;
}

function liveHub(context: HandlerContext): LiveHub {
  if (context.live === undefined) {
    throw new ApiError(
      "not-found",
      "No session runs in this controller, so there is nothing live to show or control. Start one with " +
        "`cortexloop run <protocol> --serve` (or `cortexloop campaign --serve`) and open the URL it prints.",
    );
  }
  return context.live;
}

/** The host's refusals keep their meaning over the API. */
async function hostCall<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof WindowHostError) throw new ApiError(err.code, err.message);
    throw err;
  }
}

function sessionOrThrow(
  store: SessionStore,
  ref: string | number,
): NonNullable<ReturnType<SessionStore["findSession"]>> {
  const session = store.findSession(ref);
  if (session === undefined)
    throw new ApiError("not-found", `No session "${ref}" in this database; the session list shows the ones there are.`);
  return session;
}

function summaryOf(store: SessionStore, id: number): SessionListItem {
  const row = store.listSessions().find((s) => s.id === id);
  if (row === undefined)
    throw new ApiError("not-found", `Session ${id} is missing from the session list; reload the list.`);
  return {
    id: row.id,
    uuid: row.uuid,
    name: row.name,
    createdAt: row.createdAt,
    protocolName: row.protocolName,
    rigName: row.rigName,
    state: row.state,
    presentations: row.presentations,
    units: row.units,
    faults: row.faults,
  };
}

function rule(request: { includeIncomplete?: boolean }): CountingRule {
  return { includeIncomplete: request.includeIncomplete ?? false };
}

/** Export errors keep their meaning over the API: a missing session is not-found, a running one a conflict. */
function exportError(err: unknown): never {
  if (err instanceof ExportError) {
    const code = err.code === "not-found" ? "not-found" : err.code === "session-running" ? "conflict" : "internal";
    throw new ApiError(code, err.message);
  }
  throw err;
}

function download(
  session: number,
  fileName: string,
  mediaType: string,
  bytes: Uint8Array,
  contents: string[],
): FileDownload {
  const base64 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
  return { session, fileName, mediaType, bytes: bytes.length, base64, contents };
}

function techOf(context: HandlerContext): TechService {
  if (context.tech === undefined)
    throw new ApiError(
      "not-found",
      "The tech view is not set up in this controller; open the URL that `cortexloop serve` printed.",
    );
  return context.tech;
}

/** The tech view's refusals keep their meaning over the API (a running job is a conflict, and so on). */
function techCall<T>(fn: () => T): T {
  try {
    const out = fn();
    if (out instanceof Promise)
      return out.catch((err: unknown) => {
        if (err instanceof TechJobError) throw new ApiError(err.code, err.message);
        throw err;
      }) as T;
    return out;
  } catch (err) {
    if (err instanceof TechJobError) throw new ApiError(err.code, err.message);
    throw err;
  }
}

export const handlers: Handlers = {
  stimulusAttach(_store, request, context) {
    return hostCall(() => stimulusHost(context).attach(request));
  },

  async stimulusCommands(_store, { windowId, after, waitMs }, context) {
    return { commands: await hostCall(() => stimulusHost(context).commands(windowId, after, waitMs ?? 0)) };
  },

  async stimulusReport(_store, { windowId, reports }, context) {
    return { accepted: await hostCall(() => stimulusHost(context).report(windowId, reports)) };
  },

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
      causalImages: causalImageCount(store, s.id),
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
    if (png === undefined)
      throw new ApiError(
        "not-found",
        `No stimulus image ${sha256.slice(0, 12)}… in this database; the presentation row is kept, only its ` +
          `picture is missing.`,
      );
    return { sha256, dataUrl: `data:image/png;base64,${png.toString("base64")}` };
  },

  unitResponses(store, request): UnitResponses {
    const s = sessionOrThrow(store, request.session);
    const review = new SessionReview(store, s.id);
    const { data } = review;
    const nP = data.presentations.length;
    let max = 0;
    const counts = data.units.map((_, u) =>
      data.presentations.map((_p, j) => {
        let sum = 0;
        for (let b = 0; b < data.bins; b++) {
          const v = data.values[(u * nP + j) * data.bins + b]!;
          if (Number.isNaN(v)) return null;
          sum += v;
        }
        if (sum > max) max = sum;
        return sum;
      }),
    );
    return {
      units: data.units,
      counting: review.counting(rule(request)),
      stimuli: review.means(rule(request)),
      matrix: {
        presentationIdxs: data.presentations.map((p) => p.idx),
        counts,
        state: data.presentations.map((p) => p.counts),
        max,
      },
    };
  },

  unitRaster(store, request) {
    const s = sessionOrThrow(store, request.session);
    const review = new SessionReview(store, s.id);
    const index = review.data.units.findIndex((u) => u.id === request.unit);
    if (index < 0) {
      const known = review.data.units.map((u) => u.id).join(", ") || "none";
      throw new ApiError("not-found", `Session ${s.id} has no unit ${request.unit}; its units are ${known}.`);
    }
    return review.raster(index, rule(request));
  },

  tuning(store, request) {
    const s = sessionOrThrow(store, request.session);
    const review = new SessionReview(store, s.id);
    const counting = review.counting(rule(request));
    return { units: review.data.units, counting, curves: review.tuning(rule(request)) };
  },

  reliability(store, request) {
    const s = sessionOrThrow(store, request.session);
    const review = new SessionReview(store, s.id);
    return { counting: review.counting(rule(request)), units: review.reliability(rule(request)) };
  },

  learningCurve(store) {
    return { series: learningCurve(store.listModelVersions()) };
  },

  async predictedResponses(store, { session: ref, model }) {
    const s = sessionOrThrow(store, ref);
    const reply = await predictedResponses(store, s.id, model);
    if (reply === undefined)
      throw new ApiError(
        "not-found",
        `No model version ${model} in this database; the Models tab lists the ones there are.`,
      );
    return reply;
  },

  faults(store, { session: ref }): FaultRow[] {
    const s = sessionOrThrow(store, ref);
    return store
      .faults(s.id)
      .map((f) => ({ id: f.id, at: f.at, code: f.code, message: f.message, presentationIdxs: f.presentationIdxs }));
  },

  causal(store, { session: ref, unitMap }) {
    const s = sessionOrThrow(store, ref);
    try {
      return causalReview(store, s.id, new Map(Object.entries(unitMap ?? {})));
    } catch (err) {
      if (err instanceof CausalReviewError) throw new ApiError("bad-request", err.message);
      throw err;
    }
  },

  modelVersions(store, { session: ref }): ModelVersionItem[] {
    const sessionId = ref === undefined ? undefined : sessionOrThrow(store, ref).id;
    return store
      .listModelVersions()
      .filter((m) => sessionId === undefined || m.sessionIds.includes(sessionId))
      .map((m) => ({
        id: m.id,
        name: m.name,
        kind: m.kind,
        parentId: m.parentId,
        createdAt: m.createdAt,
        sessionIds: m.sessionIds,
        r2er: r2erOf(m.metrics),
        metrics: m.metrics,
      }));
  },

  compactModel(store, { id }) {
    try {
      return compactModelDetail(store, id);
    } catch (err) {
      if (err instanceof CompactVersionError)
        throw new ApiError(err.code === "corrupt" ? "internal" : "not-found", err.message);
      throw err;
    }
  },

  proposals(store) {
    return listProposals(store.db).map(proposalItem);
  },

  approveProposal(_store, { id, decision }, context) {
    if (context.proposals === undefined) {
      throw new ApiError(
        "not-found",
        "No campaign is waiting for approval here; nothing was decided. Open the URL that `cortexloop campaign " +
          "--serve` printed.",
      );
    }
    try {
      return proposalItem(context.proposals.decide(id, decision === "approve" ? "approved" : "declined", "web"));
    } catch (err) {
      if (err instanceof ProposalError) throw new ApiError(err.code, err.message);
      throw err;
    }
  },

  liveState(_store, _request, context) {
    return liveHub(context).snapshot();
  },

  liveControl(_store, { action }, context) {
    try {
      return liveHub(context).act(action);
    } catch (err) {
      if (err instanceof LiveControlError) throw new ApiError(err.code, err.message);
      throw err;
    }
  },

  liveEndpoint(store) {
    const found = readLiveEndpoint(store.file);
    if (found.state === "running") return { state: "running", ...found.record };
    return { state: "none", message: found.message };
  },

  exportCsv(store, { session: ref }) {
    const s = sessionOrThrow(store, ref);
    const files = sessionCsvFiles(store, s.id);
    return { session: s.id, files: [...files].map(([name, text]) => ({ name, text })) };
  },

  exportBundle(store, { session: ref, allowUnfinished }) {
    const s = sessionOrThrow(store, ref);
    try {
      const b = sessionBundle(store, s.id, { allowUnfinished });
      return download(
        s.id,
        b.fileName,
        "application/zip",
        b.zip,
        b.entries.map((e) => `${b.folder}/${e}`),
      );
    } catch (err) {
      return exportError(err);
    }
  },

  async exportNwb(store, { session: ref, allowUnfinished }) {
    const s = sessionOrThrow(store, ref);
    try {
      const nwb = await sessionNwb(store, s.id, { allowUnfinished });
      return download(s.id, nwb.fileName, "application/x-hdf5", nwb.bytes, nwb.contents);
    } catch (err) {
      return exportError(err);
    }
  },

  techConfig(_store, _request, context) {
    return techOf(context).config();
  },

  protocolLibrary(store, _request, context) {
    return techOf(context).library(store);
  },

  replayProtocolFile(store, { session: ref }, context) {
    const s = sessionOrThrow(store, ref);
    const file = techCall(() => techOf(context).replayFile(store, s.id));
    const bytes = new TextEncoder().encode(file.text);
    return download(s.id, file.fileName, "application/json", bytes, [
      `a protocol of ${file.presentations} presentations: session ${s.id}'s stimuli in the order shown`,
    ]);
  },

  preflight(_store, _request, context) {
    return techCall(() => techOf(context).preflight());
  },

  startTechJob(store, request, context) {
    return techCall(() => techOf(context).start(store, request));
  },

  techJobs(_store, _request, context) {
    return techOf(context).list();
  },

  cancelTechJob(_store, { id }, context) {
    return techCall(() => techOf(context).cancel(id));
  },
};

/** How an unexpected error is reported: to the log in full, to the caller in one line. */
export type ErrorLog = (message: string) => void;

/**
 * Validates a call (channel name, then arguments) and runs it. Never throws: every failure is an
 * `{ ok: false, code, message }` reply.
 */
export async function dispatch(
  store: SessionStore,
  channel: unknown,
  raw: unknown,
  log: ErrorLog = () => {},
  context: HandlerContext = {},
): Promise<ApiReply<unknown>> {
  if (!isChannel(channel)) {
    const shown = typeof channel === "string" ? `"${channel.slice(0, 60)}"` : typeof channel;
    return {
      ok: false,
      code: "unknown-channel",
      message: `There is no channel ${shown}; nothing was done. The channels are listed in src/main/api/contract.ts.`,
    };
  }
  return runChannel(store, channel, raw, log, context);
}

async function runChannel<C extends Channel>(
  store: SessionStore,
  channel: C,
  raw: unknown,
  log: ErrorLog,
  context: HandlerContext,
): Promise<ApiReply<Replies[C]>> {
  const parsed = parseRequest(channel, raw);
  if (!parsed.ok) return parsed;
  try {
    type Handler = (store: SessionStore, request: unknown, context: HandlerContext) => Replies[C] | Promise<Replies[C]>;
    const handler = handlers[channel] as Handler;
    return { ok: true, value: await handler(store, parsed.value, context) };
  } catch (err) {
    if (err instanceof ApiError) return { ok: false, code: err.code, message: err.message };
    const reason = err instanceof Error ? err.message : String(err);
    log(`${channel}: ${err instanceof Error && err.stack ? err.stack : reason}`);
    return {
      ok: false,
      code: "internal",
      message:
        `${channel} failed inside the controller (${reason}); the database was only read, nothing changed. ` +
        `Try again; if it repeats, the controller's log has the details.`,
    };
  }
}
