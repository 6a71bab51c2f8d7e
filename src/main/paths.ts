import { existsSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The project's root folder (where package.json is), found from this file. */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export const builtinProtocolsDir = resolve(projectRoot, "protocols");

/** The shared data folder beside the project (`../shared`), or CORTEXLOOP_SHARED; undefined when absent. */
export function sharedDir(): string | undefined {
  const dir = process.env.CORTEXLOOP_SHARED ?? resolve(projectRoot, "..", "shared");
  return existsSync(dir) ? dir : undefined;
}

/** The lab database the commands use unless `--db` names another: CORTEXLOOP_DB, else cortexloop.db here. */
export const defaultDb = process.env.CORTEXLOOP_DB ?? "cortexloop.db";
