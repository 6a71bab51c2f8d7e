/** Errors of the exports, with a code from a closed set so the command line and the UI can word them. */
import type { SessionRow, SessionStore } from "../store/index.js";

export type ExportErrorCode = "not-found" | "session-running" | "write-failed" | "bad-target";

export class ExportError extends Error {
  constructor(
    readonly code: ExportErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "ExportError";
  }
}

export function sessionOrThrow(store: SessionStore, ref: string | number): SessionRow {
  const session = store.findSession(ref);
  if (session === undefined) {
    throw new ExportError(
      "not-found",
      `No session "${ref}" in ${store.file}; nothing was written. Run \`cortexloop sessions\` to list them.`,
    );
  }
  return session;
}

const runningStates = new Set(["started", "paused", "resumed", "unknown"]);

/**
 * Refuses a session that has not ended (its last state is started, paused or resumed): its file
 * would be missing whatever it records next. A controller that crashed leaves the same state, so
 * `allowUnfinished` exports what was stored, and the file says the session did not end.
 */
export function assertFinished(store: SessionStore, session: SessionRow, allowUnfinished: boolean): void {
  const state = store.sessionState(session.id);
  if (allowUnfinished || !runningStates.has(state)) return;
  const events = store.sessionEvents(session.id).filter((e) => e.kind !== "note");
  const since = events.length > 0 ? ` since ${events[events.length - 1]!.at}` : "";
  throw new ExportError(
    "session-running",
    `Session ${session.id} ("${session.name}") is still running (state "${state}"${since}); nothing was written. ` +
      "Export it once it has completed or was interrupted; if the controller that ran it crashed, " +
      "export what was stored with --allow-unfinished (the file records that the session did not end).",
  );
}
