/** `cortexloop preflight`: the tech view's pre-flight checklist on a terminal. */
import type { Command } from "commander";
import { loadRigFile } from "./protocol/index.js";
import { defaultDb } from "./paths.js";
import { formatPreflight, runPreflight } from "./tech/preflight.js";

interface PreflightFlags {
  rig: string;
  db: string;
  timeout: string;
  json?: boolean;
}

export function registerPreflightCommand(program: Command): void {
  program
    .command("preflight")
    .description(
      "check a rig before a session: data port, data arriving, heartbeat, event box or Network Events, display, " +
        "disk space, database",
    )
    .requiredOption("--rig <file>", "rig file")
    .option("--db <file>", "lab database (SQLite) a session would write to", defaultDb)
    .option("--timeout <ms>", "how long each socket check waits for an answer", "2000")
    .option("--json", "print the report as JSON instead of the checklist")
    .action(async (flags: PreflightFlags) => {
      const timeoutMs = Number(flags.timeout);
      if (!Number.isFinite(timeoutMs) || timeoutMs < 10 || timeoutMs > 60_000) {
        process.stderr.write(`--timeout must be a number of ms from 10 to 60000, got "${flags.timeout}"\n`);
        process.exitCode = 2;
        return;
      }
      const { rig } = loadRigFile(flags.rig);
      const report = await runPreflight(rig, { db: flags.db, rigFile: flags.rig, timeoutMs });
      if (flags.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else for (const line of formatPreflight(report)) process.stdout.write(`${line}\n`);
      process.exitCode = report.ok ? 0 : 1;
    });
}
