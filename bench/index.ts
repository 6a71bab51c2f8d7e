// Entry point of `npm run bench -- <name> [args]`: each benchmark is a module under bench/ that exports `run(args)`.
const benchmarks: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  active: () => import("./active.js"),
  compute: () => import("./compute.js"),
  heldout: () => import("./heldout.js"),
  readout: () => import("./readout.js"),
  distill: () => import("./distill.js"),
  ingest: () => import("./ingest.js"),
  onsets: () => import("./onsets.js"),
  selection: () => import("./selection.js"),
  synthesis: () => import("./synthesis.js"),
  "sim-transfer": () => import("./sim-transfer.js"),
  transfer: () => import("./transfer.js"),
  turnaround: () => import("./turnaround.js"),
};

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const load = name === undefined ? undefined : benchmarks[name];
  if (load === undefined) {
    console.error(`usage: npm run bench -- <${Object.keys(benchmarks).join("|")}> [options]`);
    process.exitCode = 2;
    return;
  }
  const mod = await load();
  await mod.run(args);
}

await main();
