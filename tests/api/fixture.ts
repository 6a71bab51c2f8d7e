import { join } from "node:path";
import { SessionStore } from "../../src/main/store/index.js";
import { runProtocolFile } from "../helpers/session.js";
import { tempDir, writeQuickProtocol } from "../helpers/tmp.js";

/** A database with one quick simulated session (24 presentations) and a model version trained on it. */
export async function quickStore(): Promise<{ store: SessionStore; sessionId: number; uuid: string; cleanup(): void }> {
  const tmp = tempDir("cortexloop-api-");
  const store = SessionStore.open(join(tmp.dir, "lab.db"));
  const result = await runProtocolFile(store, writeQuickProtocol(tmp.dir));
  const session = store.findSession(result.uuid);
  if (session === undefined) throw new Error("quickStore: the session just run is not in the store");
  store.putModelVersion({ name: "ensemble-v1", kind: "ensemble", metrics: { r2er: 0.4321 }, sessionIds: [session.id] });
  store.putModelVersion({ name: "compact-v1", kind: "compact", metrics: { r2er: { mean: 0.31 } }, sessionIds: [] });
  return {
    store,
    sessionId: session.id,
    uuid: session.uuid,
    cleanup() {
      store.close();
      tmp.cleanup();
    },
  };
}
