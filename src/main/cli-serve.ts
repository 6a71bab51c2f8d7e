/** `cortexloop serve`: the review UI in a browser, over the local web API. */
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { SessionStore } from "./store/index.js";
import { projectRoot } from "./paths.js";
import { isLoopbackHost, startServer, type RunningServer } from "./api/server.js";
import { builtinProtocolsDir } from "./paths.js";
import { loadRigFile } from "./protocol/index.js";
import { checkDatabase } from "./tech/preflight.js";
import { TechService } from "./tech/service.js";

interface ServeFlags {
  db: string;
  port: string;
  host?: string;
  rendererDir?: string;
  /** The lab's rig file: the tech view's pre-flight, and replays on the rig. */
  rig?: string;
  /** Folders of protocol files for the tech view's library (besides the project's protocols/). */
  protocols?: string[];
  /** Let the tech view start replays and dry runs (they write sessions to the database). */
  allowRuns?: boolean;
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function serve(flags: ServeFlags): Promise<number> {
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    say(
      `--port must be a whole number from 0 to 65535 (0 picks a free one); got "${flags.port}". Nothing was started.`,
    );
    return 2;
  }
  const host = flags.host ?? "127.0.0.1";
  if (!isLoopbackHost(host)) {
    say(
      `WARNING: serving on ${host}, not loopback: anyone who can reach this address and has the token can read ` +
        `every session in ${flags.db}. Use --host 127.0.0.1 unless you mean it.`,
    );
  }
  const rendererDir = resolve(flags.rendererDir ?? join(projectRoot, "dist-renderer"));
  if (!existsSync(join(rendererDir, "index.html"))) {
    say(
      `The review UI is not built (${rendererDir}/index.html is missing). Run \`npm run build:renderer\`, then ` +
        `this command again. Nothing was started.`,
    );
    return 1;
  }
  if (flags.rig !== undefined) {
    // A broken rig file is refused now, with the parser's words, not at the first pre-flight.
    loadRigFile(flags.rig);
  }
  for (const dir of flags.protocols ?? []) {
    if (!existsSync(dir)) {
      say(`--protocols ${dir}: no such folder. Nothing was started.`);
      return 1;
    }
  }
  if (flags.allowRuns) {
    // Runs write sessions: a new database is made here, an existing one must take the write lock.
    if (!existsSync(flags.db)) SessionStore.open(flags.db).close();
    const writable = checkDatabase(flags.db);
    if (writable.status === "fail") {
      say(`--allow-runs: ${writable.detail} Nothing was started.`);
      return 1;
    }
  }
  if (!existsSync(flags.db)) {
    say(
      `No database at ${flags.db}. Pass --db <file> (for a demo: \`cortexloop demo --db demo.db\`). Nothing was ` +
        `started.`,
    );
    return 1;
  }
  const store = SessionStore.open(flags.db, { readonly: true });
  const tech = new TechService(
    {
      db: resolve(flags.db),
      protocolDirs: [builtinProtocolsDir, ...(flags.protocols ?? []).map((d) => resolve(d))],
      rigFile: flags.rig === undefined ? undefined : resolve(flags.rig),
      allowRuns: flags.allowRuns ?? false,
      log: say,
    },
    store,
  );
  let server: RunningServer;
  try {
    server = await startServer({ store, rendererDir, port, host, log: say, context: { tech } });
  } catch (err) {
    store.close();
    say(
      `Could not listen on ${host}:${port} (${err instanceof Error ? err.message : String(err)}). Try another ` +
        `--port. Nothing was started.`,
    );
    return 1;
  }
  say(
    `cortexloop review of ${flags.db} (${flags.allowRuns ? "replays and dry runs may write sessions" : "read-only"}` +
      `${flags.rig === undefined ? "" : `; rig ${flags.rig}`}). Open this URL in a browser; it carries the access ` +
      "token:",
  );
  process.stdout.write(`${server.openUrl}\n`);
  say("Press Ctrl+C to stop.");
  await new Promise<void>((resolveStop) => {
    const stop = (sig: NodeJS.Signals): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      const after = flags.allowRuns ? "a running replay or dry run ends cleanly" : "the database was only read";
      say(`${sig}: stopping the server; ${after}.`);
      resolveStop();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await tech.close();
  await server.close();
  store.close();
  return 0;
}

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve the review UI and its API to a browser on this machine (loopback, token)")
    .requiredOption("--db <file>", "lab database (SQLite), opened read-only (runs write it from their own process)")
    .option("--port <port>", "TCP port (0 picks a free one)", "0")
    .option("--host <address>", "address to bind; default 127.0.0.1 (anything else is reachable by other machines)")
    .option("--renderer-dir <dir>", "built renderer folder (default: dist-renderer/ of the project)")
    .option("--rig <file>", "the lab's rig file: the tech view's pre-flight, and replays on the rig")
    .option(
      "--protocols <dir>",
      "a folder of protocol files for the tech view's library (repeatable; the project's protocols/ is always listed)",
      (dir: string, dirs: string[] = []) => [...dirs, dir],
    )
    .option("--allow-runs", "let the tech view start replays and dry runs (they write sessions to --db)")
    .action(async (flags: ServeFlags) => {
      process.exitCode = await serve(flags);
    });
}
