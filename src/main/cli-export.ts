/** `cortexloop export`: a session as CSV files, one zip bundle, and/or an NWB file. */
import type { Command } from "commander";
import { existsSync } from "node:fs";
import { SessionStore } from "./store/index.js";
import { exportSessionCsv, writeSessionBundle, writeSessionNwb } from "./export/index.js";
import { defaultDb } from "./paths.js";

interface ExportFlags {
  db: string;
  csv?: string;
  nwb?: string;
  bundle?: string;
  allowUnfinished?: boolean;
}

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

export async function runExport(ref: string, flags: ExportFlags): Promise<void> {
  if (flags.csv === undefined && flags.nwb === undefined && flags.bundle === undefined) {
    throw new Error(
      "cortexloop export: say what to write: --csv DIR, --bundle FILE.zip and/or --nwb FILE.nwb; nothing was written.",
    );
  }
  if (!existsSync(flags.db))
    throw new Error(`There is no database ${flags.db}; nothing was written. Name it with --db (or CORTEXLOOP_DB).`);
  // Read-only: an export never changes the database, even by accident.
  const store = SessionStore.open(flags.db, { readonly: true });
  try {
    const allowUnfinished = flags.allowUnfinished ?? false;
    if (flags.csv !== undefined) {
      for (const path of exportSessionCsv(store, ref, flags.csv, { allowUnfinished })) say(`wrote ${path}`);
    }
    if (flags.bundle !== undefined) {
      const b = writeSessionBundle(store, ref, flags.bundle, { allowUnfinished });
      say(`wrote ${flags.bundle}: ${b.entries.length} files in ${b.folder}/ (${b.zip.length} bytes)`);
    }
    if (flags.nwb !== undefined) {
      const n = await writeSessionNwb(store, ref, flags.nwb, { allowUnfinished });
      say(`wrote ${flags.nwb} (NWB 2.7.0, ${n.bytes.length} bytes): ${n.contents.join("; ")}`);
    }
  } finally {
    store.close();
  }
}

export function registerExportCommand(program: Command): void {
  program
    .command("export")
    .description("export a session: CSV files, one zip with everything, and/or an NWB 2.7 file")
    .argument("<session>", "session id or uuid (prefix)")
    .option("--csv <dir>", "folder to write presentations.csv, units.csv, spike_counts.csv, responses.csv, faults.csv")
    .option(
      "--bundle <file>",
      "zip: the CSV files, protocol and rig text, a replay protocol, the stimuli as PNG and a README",
    )
    .option(
      "--nwb <file>",
      "NWB 2.7 (HDF5) file: units, presentations, spike counts, stimuli, faults, protocol and provenance",
    )
    .option(
      "--allow-unfinished",
      "export a session whose controller stopped without ending it (it still reads as running)",
    )
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action(async (ref: string, flags: ExportFlags) => {
      await runExport(ref, flags);
    });
}
