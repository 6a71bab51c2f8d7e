import { Command, CommanderError } from "commander";
import cliProgress from "cli-progress";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { z } from "zod";
import { InvalidFileError, loadProtocolFile, loadRigFile, protocolSchema, rigSchema } from "./protocol/index.js";
import { createRig, sessionCountWindow, simRigPorts } from "./rig/index.js";
import { SimRig } from "./sim/sim-rig.js";
import { realClock, replayProtocol, SessionRunner } from "./runner/index.js";
import { SessionStore } from "./store/index.js";
import { registerExportCommand } from "./cli-export.js";
import { builtinProtocolsDir, defaultDb, projectRoot } from "./paths.js";
import { startServer } from "./api/server.js";
import { writeLiveEndpoint } from "./live/endpoint-file.js";
import { LiveHub } from "./live/hub.js";
import { registerSimRigCommand, simRigOptionsFrom } from "./cli-sim.js";
import { registerServeCommand } from "./cli-serve.js";
import { registerCampaignCommand } from "./cli-campaign.js";
import { registerModelCommands } from "./cli-models.js";
import { registerCompactCommands } from "./cli-compact.js";
import { registerCausalCommands } from "./cli-causal.js";
import { sessionDisplaySetup, type DisplayFlags } from "./cli-display.js";
import { describeDisplayTiming, displayTimingSummary } from "./store/display-timing.js";
import { registerCalibrateCommands } from "./cli-calibrate.js";
import { registerPreflightCommand } from "./cli-preflight.js";

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** A progress bar on a terminal, a line every 10% otherwise (CI logs, pipes). */
function progressReporter(label: string): { update(done: number, total: number): void; stop(): void } {
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {value}/{total} {percentage}% eta {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
      },
      cliProgress.Presets.shades_classic,
    );
    let started = false;
    return {
      update(done, total) {
        if (!started) {
          bar.start(total, 0);
          started = true;
        }
        bar.update(done);
      },
      stop: () => bar.stop(),
    };
  }
  let lastDecile = -1;
  return {
    update(done, total) {
      const decile = Math.floor((done / total) * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        say(`${label}: ${done}/${total}`);
      }
    },
    stop() {},
  };
}

interface RunFlags extends DisplayFlags {
  rig?: string;
  db: string;
  name?: string;
  printStored?: boolean;
  /** Serve the app's live view of this session (and its pause / resume / stop) on loopback. */
  serve?: boolean;
}

async function runSession(protocolFile: string, flags: RunFlags): Promise<number> {
  const loaded = loadProtocolFile(protocolFile);
  const rigFile =
    flags.rig ??
    (loaded.protocol.rig
      ? resolve(dirname(resolve(protocolFile)), loaded.protocol.rig)
      : resolve(builtinProtocolsDir, "rigs", "in-process.json"));
  const { rig: rigConfig, text: rigText } = loadRigFile(rigFile);
  const countWindow = sessionCountWindow(rigConfig, loaded.protocol.countWindow);
  const store = SessionStore.open(flags.db);
  let display;
  try {
    display = await sessionDisplaySetup(rigConfig, store, flags, say);
  } catch (err) {
    store.close();
    throw err;
  }
  const rig = await createRig(rigConfig, { countWindow, log: say, window: display.window });
  const abort = new AbortController();
  const onSignal = (sig: string): void => {
    if (abort.signal.aborted) return;
    say(`\n${sig}: ending the session cleanly; everything so far is being saved.`);
    abort.abort();
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const progress = progressReporter("presentations");
  let live: Awaited<ReturnType<typeof serveLive>> | undefined;
  try {
    if (flags.serve === true) live = await serveLive(store, flags.rendererDir, flags.db);
    const checked = await display.check(rig);
    if (checked.refusal !== undefined) {
      say(checked.refusal);
      return 1;
    }
    const runner = new SessionRunner({
      clock: realClock,
      store,
      rig,
      log: say,
      progress: (done, total) => progress.update(done, total),
      onCommitted: flags.printStored
        ? (batch) => {
            // Machine-readable durability report (used by the crash-safety test).
            for (const idx of batch.counts) process.stdout.write(`stored ${idx}\n`);
          }
        : undefined,
      events: live?.hub.sink,
    });
    const result = await runner.run({
      protocol: loaded,
      rigName: rigConfig.name,
      rigText,
      countWindow,
      graceMs: rigConfig.acquisition.graceMs,
      sessionName: flags.name,
      signal: abort.signal,
      display: checked.record,
      control: live?.hub.control,
      ...(rigConfig.health === undefined ? {} : { health: rigConfig.health }),
    });
    progress.stop();
    const timing = displayTimingSummary(store.db, result.sessionId);
    if (timing !== undefined) for (const line of describeDisplayTiming(timing)) say(line);
    say(
      `session ${result.uuid}: ${result.state}; ${result.presented}/${result.scheduled} presented, ` +
        `${result.countsStored} with counts, ${result.faults} faults; stored in ${flags.db}`,
    );
    return result.state === "completed" || result.state === "interrupted" ? 0 : 1;
  } finally {
    progress.stop();
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await live?.close();
    await rig.close();
    await display.close("the session ended");
    store.close();
  }
}

/**
 * `run --serve`: the app's web API in this process with the live view's feed and controls; prints the URL to open
 * (it carries the access token). Closing pushes the last events and gives open pages a moment to show the end.
 */
async function serveLive(
  store: SessionStore,
  rendererDir: string | undefined,
  db: string,
): Promise<{ hub: LiveHub; close(): Promise<void> }> {
  const hub = new LiveHub({ log: say });
  const server = await startServer({
    store,
    rendererDir: resolve(rendererDir ?? join(projectRoot, "dist-renderer")),
    port: 0,
    log: say,
    context: { live: hub },
  });
  const url = `${server.url}/#/live&token=${server.token}`;
  say(`watch the session live (pause, resume, stop) in the app: ${url}`);
  process.stdout.write(`live-view ${url}\n`);
  // The desktop app open on the same database finds the session through this record.
  const record = writeLiveEndpoint(db, { url: server.url, token: server.token, kind: "run" }, say);
  return {
    hub,
    async close() {
      record?.remove();
      hub.flush();
      await new Promise((r) => setTimeout(r, 500));
      await server.close();
    },
  };
}

function withStore<T>(db: string, fn: (store: SessionStore) => T): T {
  const store = SessionStore.open(db);
  try {
    return fn(store);
  } finally {
    store.close();
  }
}

/**
 * Starts the built-in simulated rig (protocols/rigs/sim-network.json) in this process on free loopback
 * ports, and writes the rig file the controller uses to reach it.
 */
async function startDemoSimRig(): Promise<{ rigFile: string; stop(): Promise<void> }> {
  const { rig } = loadRigFile(resolve(builtinProtocolsDir, "rigs", "sim-network.json"));
  const { dataPort, eventsPort, displayPort } = await simRigPorts();
  const dir = mkdtempSync(join(tmpdir(), "cortexloop-demo-"));
  const rigFile = join(dir, "sim-network.json");
  const config = {
    ...rig,
    acquisition: { ...rig.acquisition, dataPort },
    eventCodes: { transport: "openephys-network-events", host: "127.0.0.1", port: eventsPort },
    display: { kind: "virtual", endpoint: `tcp://127.0.0.1:${displayPort}` },
  };
  writeFileSync(rigFile, `${JSON.stringify(config, null, 2)}\n`);
  const sim = new SimRig(await simRigOptionsFrom(rigFile, {}, say));
  await sim.start();
  say(
    `simulated rig: spikes on tcp://127.0.0.1:${dataPort}, Network Events on port ${eventsPort}, display on port ` +
      `${displayPort}`,
  );
  return {
    rigFile,
    async stop() {
      await sim.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function buildProgram(): Command {
  const program = new Command();
  program
    .name("cortexloop")
    .description("Closed-loop electrophysiology experiment controller (headless).")
    .showHelpAfterError()
    .exitOverride();

  program
    .command("run")
    .description("run a protocol as a session and store everything it records")
    .argument("<protocol>", "protocol JSON file")
    .option("--rig <file>", "rig file (default: the protocol's rig, else the built-in in-process rig)")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .option("--name <name>", "session name (default: the protocol's name)")
    .option("--print-stored", "print `stored <idx>` on stdout when a presentation's counts are committed")
    .option("--serve", "serve the app's live view of the session (pause, resume, stop) and print its URL")
    .option(
      "--accept-display <checks>",
      "window displays: go on despite these pre-flight problems (uncalibrated, calibration-old, refresh-mismatch, " +
        "screen-size, or all)",
    )
    .option("--window-timeout <s>", "window displays: seconds to wait for the stimulus window to open", "120")
    .option("--window-port <port>", "window displays: port of the stimulus page (0 picks a free one)", "0")
    .option("--renderer-dir <dir>", "window displays: the built renderer (default: dist-renderer/ of the project)")
    .action(async (protocol: string, flags: RunFlags) => {
      process.exitCode = await runSession(protocol, flags);
    });

  program
    .command("demo")
    .description("run the built-in demo protocol headless, closed-loop against a simulated rig on loopback sockets")
    .option("--db <file>", "lab database (SQLite)", "cortexloop-demo.db")
    .option("--rig <file>", "use this rig instead of starting the built-in simulated rig")
    .action(async (flags: RunFlags) => {
      const protocol = resolve(builtinProtocolsDir, "demo.json");
      if (flags.rig !== undefined) {
        process.exitCode = await runSession(protocol, flags);
        return;
      }
      const sim = await startDemoSimRig();
      try {
        process.exitCode = await runSession(protocol, { ...flags, rig: sim.rigFile });
      } finally {
        await sim.stop();
      }
    });

  program
    .command("sessions")
    .description("list the sessions of a database")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action((flags: { db: string }) => {
      withStore(flags.db, (store) => {
        const rows = store.listSessions();
        if (rows.length === 0) {
          console.log(`no sessions in ${flags.db}`);
          return;
        }
        console.table(
          rows.map((r) => ({
            id: r.id,
            uuid: r.uuid.slice(0, 8),
            name: r.name,
            date: r.createdAt,
            protocol: r.protocolName,
            rig: r.rigName,
            state: r.state,
            presentations: r.presentations,
            units: r.units,
            faults: r.faults,
          })),
        );
      });
    });

  program
    .command("show")
    .description("show one session: protocol, state history, counts and faults")
    .argument("<session>", "session id or uuid (prefix)")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action((ref: string, flags: { db: string }) => {
      withStore(flags.db, (store) => {
        const s = store.findSession(ref);
        if (s === undefined)
          throw new Error(`No session "${ref}" in ${flags.db}; run \`cortexloop sessions\` to list them.`);
        const presentations = store.presentations(s.id);
        const results = store.countResults(s.id);
        const faults = store.faults(s.id);
        console.log(`session ${s.id} ${s.uuid} "${s.name}" created ${s.createdAt}, state ${store.sessionState(s.id)}`);
        console.log(
          `count window ${s.countWindow.startMs}..${s.countWindow.endMs} ms in ${s.countWindow.bins} bin(s), seed ` +
            `${s.seed}`,
        );
        console.log(
          `presentations ${presentations.length}, with counts ${results.filter((r) => r.complete).length}, ` +
            `incomplete ${results.filter((r) => !r.complete).length}, units ${store.units(s.id).length}, faults ` +
            `${faults.length}`,
        );
        for (const e of store.sessionEvents(s.id)) console.log(`  ${e.at} ${e.kind}${e.detail ? `: ${e.detail}` : ""}`);
        const timing = displayTimingSummary(store.db, s.id);
        if (timing !== undefined) for (const line of describeDisplayTiming(timing)) console.log(line);
        for (const f of faults.slice(0, 20)) console.log(`  fault ${f.code}: ${f.message}`);
        if (faults.length > 20)
          console.log(`  … ${faults.length - 20} more faults (cortexloop export ${ref} --csv DIR)`);
        console.log("protocol:");
        console.log(store.protocolText(s.protocolId));
      });
    });

  program
    .command("replay")
    .description("write a protocol that replays a session's exact sequence of stimuli")
    .argument("<session>", "session id or uuid (prefix)")
    .requiredOption("-o, --output <file>", "protocol file to write")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action((ref: string, flags: { db: string; output: string }) => {
      withStore(flags.db, (store) => {
        const protocol = replayProtocol(store, ref);
        writeFileSync(flags.output, `${JSON.stringify(protocol, null, 2)}\n`);
        const n = protocol.blocks.reduce(
          (sum, b) =>
            sum +
            (protocol.sources[b.source]?.kind === "stored"
              ? (protocol.sources[b.source] as { hashes: string[] }).hashes.length
              : 0),
          0,
        );
        say(
          `wrote ${flags.output}: ${n} presentations in ${protocol.blocks.length} block(s); run it with ` +
            `\`cortexloop run ${flags.output} --db ${flags.db}\` (images come from that database)`,
        );
      });
    });

  registerExportCommand(program);

  program
    .command("schema")
    .description("write the JSON Schemas of protocol and rig files (for editors)")
    .option("-o, --out-dir <dir>", "folder", builtinProtocolsDir)
    .action((flags: { outDir: string }) => {
      const write = (name: string, schema: z.ZodType): void => {
        const path = resolve(flags.outDir, name);
        writeFileSync(path, `${JSON.stringify(z.toJSONSchema(schema, { io: "input" }), null, 2)}\n`);
        say(`wrote ${path}`);
      };
      write("schema.json", protocolSchema);
      write("rig.schema.json", rigSchema);
    });

  registerCalibrateCommands(program);

  registerSimRigCommand(program);

  registerPreflightCommand(program);

  registerServeCommand(program);

  registerCampaignCommand(program);

  registerModelCommands(program);

  registerCompactCommands(program);

  registerCausalCommands(program);

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (err instanceof InvalidFileError) say(err.message);
    else say(`cortexloop: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
}

const invokedDirectly = process.argv[1] !== undefined && /cli\.ts$/.test(process.argv[1]);
if (invokedDirectly) {
  process.exitCode = await main(process.argv.slice(2));
}
