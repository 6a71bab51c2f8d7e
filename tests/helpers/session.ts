import { loadProtocolFile, loadRigFile } from "../../src/main/protocol/index.js";
import { createRig, sessionCountWindow } from "../../src/main/rig/index.js";
import { realClock, SessionRunner, type SessionResult } from "../../src/main/runner/index.js";
import type { SessionStore } from "../../src/main/store/index.js";
import { inProcessRigFile } from "./tmp.js";

/** Runs a protocol file on the in-process rig into `store`. */
export async function runProtocolFile(
  store: SessionStore,
  protocolFile: string,
  signal?: AbortSignal,
): Promise<SessionResult> {
  const loaded = loadProtocolFile(protocolFile);
  const { rig: rigConfig, text } = loadRigFile(inProcessRigFile);
  const countWindow = sessionCountWindow(rigConfig, loaded.protocol.countWindow);
  const rig = await createRig(rigConfig, { countWindow });
  try {
    return await new SessionRunner({ clock: realClock, store, rig }).run({
      protocol: loaded,
      rigName: rigConfig.name,
      rigText: text,
      countWindow,
      graceMs: 50,
      signal,
    });
  } finally {
    await rig.close();
  }
}
