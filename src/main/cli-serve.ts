/** `cortexloop serve`: the review UI in a browser, over the local web API. */
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { SessionStore } from "./store/index.js";
import { projectRoot } from "./paths.js";
import { isLoopbackHost, startServer, type RunningServer } from "./api/server.js";

interface ServeFlags {
  db: string;
  port: string;
  host?: string;
  rendererDir?: string;
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
  if (!existsSync(flags.db)) {
    say(
      `No database at ${flags.db}. Pass --db <file> (for a demo: \`cortexloop demo --db demo.db\`). Nothing was ` +
        `started.`,
    );
    return 1;
  }
  const store = SessionStore.open(flags.db, { readonly: true });
  let server: RunningServer;
  try {
    server = await startServer({ store, rendererDir, port, host, log: say });
  } catch (err) {
    store.close();
    say(
      `Could not listen on ${host}:${port} (${err instanceof Error ? err.message : String(err)}). Try another ` +
        `--port. Nothing was started.`,
    );
    return 1;
  }
  say(`cortexloop review of ${flags.db} (read-only). Open this URL in a browser; it carries the access token:`);
  process.stdout.write(`${server.openUrl}\n`);
  say("Press Ctrl+C to stop.");
  await new Promise<void>((resolveStop) => {
    const stop = (sig: NodeJS.Signals): void => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      say(`${sig}: stopping the server; the database was only read.`);
      resolveStop();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await server.close();
  store.close();
  return 0;
}

export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description("serve the review UI and its API to a browser on this machine (loopback, token)")
    .requiredOption("--db <file>", "lab database (SQLite), opened read-only")
    .option("--port <port>", "TCP port (0 picks a free one)", "0")
    .option("--host <address>", "address to bind; default 127.0.0.1 (anything else is reachable by other machines)")
    .option("--renderer-dir <dir>", "built renderer folder (default: dist-renderer/ of the project)")
    .action(async (flags: ServeFlags) => {
      process.exitCode = await serve(flags);
    });
}
