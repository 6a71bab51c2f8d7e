/**
 * The review view's place as a URL fragment, so a reload or Back keeps it and a link can be
 * shared in the lab: `#/` lists sessions, `#/session/<id>/<tab>` opens one, and the query holds
 * the unit, model version, filters and sort. Unknown or malformed parts fall back to defaults.
 */
export const tabIds = [
  "overview",
  "responses",
  "unit",
  "tuning",
  "presentations",
  "faults",
  "models",
  "causal",
  "export",
] as const;
export type SessionTab = (typeof tabIds)[number];

/**
 * The app's top-level views: session review (the default), the lab tech's view at `#/tech`, and the experimenter's
 * live view of a running session at `#/live`.
 */
export const viewIds = ["review", "tech", "live"] as const;
export type View = (typeof viewIds)[number];

export type SortDir = "asc" | "desc";
export type SessionSortKey = "date" | "name" | "protocol" | "rig" | "faults" | "presentations";
/** Images by first presentation, by the measured response (all units, or one), or by a model's prediction. */
export type HeatmapOrder = "shown" | "population" | "unit" | "prediction" | "unit-prediction";

export interface SessionFilters {
  sort: SessionSortKey;
  dir: SortDir;
  protocol: string;
  rig: string;
  /** "with": only sessions that had faults; "without": only clean ones. */
  faults: "" | "with" | "without";
  /** Sessions created on or after this day (YYYY-MM-DD). */
  since: string;
}

export interface PresentationFilters {
  block: string;
  status: string;
  counts: "" | "complete" | "incomplete" | "none";
  /** Only presentations shown later than planned by more than this many ms; null: all. */
  lateMs: number | null;
}

export interface Route {
  view: View;
  sessionId: number | null;
  tab: SessionTab;
  unitId: number | null;
  modelId: number | null;
  page: number;
  includeIncomplete: boolean;
  heatmapOrder: HeatmapOrder;
  sessions: SessionFilters;
  presentations: PresentationFilters;
  faultCode: string;
}

export const defaultRoute: Route = {
  view: "review",
  sessionId: null,
  tab: "overview",
  unitId: null,
  modelId: null,
  page: 0,
  includeIncomplete: false,
  heatmapOrder: "population",
  sessions: { sort: "date", dir: "desc", protocol: "", rig: "", faults: "", since: "" },
  presentations: { block: "", status: "", counts: "", lateMs: null },
  faultCode: "",
};

const sessionSortKeys: readonly SessionSortKey[] = ["date", "name", "protocol", "rig", "faults", "presentations"];
const heatmapOrders: readonly HeatmapOrder[] = ["shown", "population", "unit", "prediction", "unit-prediction"];

function positiveInt(v: string | null): number | null {
  if (v === null || !/^\d{1,9}$/.test(v)) return null;
  const n = Number(v);
  return n > 0 ? n : null;
}

function oneOf<T extends string>(v: string | null, allowed: readonly T[], fallback: T): T {
  return v !== null && (allowed as readonly string[]).includes(v) ? (v as T) : fallback;
}

/** Parses `#/session/3/unit?unit=12` (the leading `#` optional). */
export function parseRoute(hash: string): Route {
  const text = hash.replace(/^#/, "");
  const [path = "", query = ""] = text.split("?", 2);
  const q = new URLSearchParams(query);
  const parts = path.split("/").filter((p) => p.length > 0);
  const r: Route = structuredClone(defaultRoute);
  if (parts[0] === "tech") r.view = "tech";
  if (parts[0] === "live") r.view = "live";
  if (parts[0] === "session") {
    r.sessionId = positiveInt(parts[1] ?? null);
    if (r.sessionId !== null) r.tab = oneOf(parts[2] ?? null, tabIds, "overview");
  }
  r.unitId = positiveInt(q.get("unit"));
  r.modelId = positiveInt(q.get("model"));
  r.page = Math.max(0, (positiveInt(q.get("page")) ?? 1) - 1);
  r.includeIncomplete = q.get("incomplete") === "include";
  r.heatmapOrder = oneOf(q.get("order"), heatmapOrders, defaultRoute.heatmapOrder);
  r.sessions = {
    sort: oneOf(q.get("sort"), sessionSortKeys, defaultRoute.sessions.sort),
    dir: oneOf(q.get("dir"), ["asc", "desc"] as const, defaultRoute.sessions.dir),
    protocol: q.get("protocol") ?? "",
    rig: q.get("rig") ?? "",
    faults: oneOf(q.get("faults"), ["", "with", "without"] as const, ""),
    since: /^\d{4}-\d{2}-\d{2}$/.test(q.get("since") ?? "") ? q.get("since")! : "",
  };
  const late = q.get("late");
  r.presentations = {
    block: q.get("block") ?? "",
    status: q.get("status") ?? "",
    counts: oneOf(q.get("counts"), ["", "complete", "incomplete", "none"] as const, ""),
    lateMs: late !== null && /^\d+(\.\d+)?$/.test(late) ? Number(late) : null,
  };
  r.faultCode = q.get("code") ?? "";
  return r;
}

/** The fragment for a route: only what differs from the defaults, so links stay short. */
export function formatRoute(r: Route): string {
  const q = new URLSearchParams();
  const put = (key: string, value: string | number | null, fallback: string | number | null = ""): void => {
    if (value !== null && value !== fallback && value !== "") q.set(key, String(value));
  };
  let path = "#/";
  if (r.view === "tech") return "#/tech";
  if (r.view === "live") return "#/live";
  if (r.sessionId === null) {
    put("sort", r.sessions.sort, defaultRoute.sessions.sort);
    put("dir", r.sessions.dir, defaultRoute.sessions.dir);
    put("protocol", r.sessions.protocol);
    put("rig", r.sessions.rig);
    put("faults", r.sessions.faults);
    put("since", r.sessions.since);
  } else {
    path = `#/session/${r.sessionId}/${r.tab}`;
    put("unit", r.unitId);
    put("model", r.modelId);
    if (r.includeIncomplete) q.set("incomplete", "include");
    if (r.tab === "responses") put("order", r.heatmapOrder, defaultRoute.heatmapOrder);
    if (r.tab === "presentations") {
      put("page", r.page > 0 ? r.page + 1 : null);
      put("block", r.presentations.block);
      put("status", r.presentations.status);
      put("counts", r.presentations.counts);
      put("late", r.presentations.lateMs);
    }
    if (r.tab === "faults") put("code", r.faultCode);
  }
  const query = q.toString();
  return query.length > 0 ? `${path}?${query}` : path;
}
