// `cortexloop design tuning`: a parametric sweep (gratings or dots) for a model's units, with each
// unit's predicted tuning curve; stores every image's parameters and writes the protocol that shows them.
import type { Command } from "commander";
import { SessionStore } from "./store/index.js";
import { loadDesignModel } from "./causal/index.js";
import { designTuning, storeTuningDesign, TuningInputError, tuningTable, type TuningSpec } from "./tuning/index.js";
import { defaultDotSweep, defaultGratingSweep } from "../stimulus/index.js";
import { defaultDb } from "./paths.js";
import { addModelUnitOptions, numberParsers } from "./cli-options.js";

const { whole, number } = numberParsers((message) => new TuningInputError("option", message));

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** A comma-separated list of numbers ("" is the empty list). */
function numbers(flag: string): (v: string) => number[] {
  return (v) =>
    v
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s !== "")
      .map((s) => {
        const n = Number(s);
        if (!Number.isFinite(n))
          throw new TuningInputError("option", `${flag} takes comma-separated numbers, got "${s}" in "${v}".`);
        return n;
      });
}

interface TuningFlags {
  model: number[];
  units: string[];
  session?: string;
  kind: string;
  out: string;
  csv?: string;
  repeats: number;
  seed: number;
  stimulusMs?: number;
  db: string;
  orientations: number[];
  frequencies: number[];
  phases: number;
  contrast: number;
  sizes: number[];
  grid: number;
  radius: number;
  numbers: number[];
  layouts: number;
  background: number;
  dotValue: number;
}

function specOf(flags: TuningFlags): TuningSpec {
  if (flags.kind === "gratings")
    return {
      kind: "gratings",
      sweep: {
        orientationsDeg: flags.orientations,
        cyclesPerImage: flags.frequencies,
        phases: flags.phases,
        contrast: flags.contrast,
      },
    };
  if (flags.kind === "dots")
    return {
      kind: "dots",
      sweep: {
        sizes: flags.sizes,
        grid: flags.grid,
        radius: flags.radius,
        numbers: flags.numbers,
        layouts: flags.layouts,
        background: flags.background,
        dotValue: flags.dotValue,
        seed: flags.seed,
      },
    };
  throw new TuningInputError("option", `--kind must be dots or gratings, got "${flags.kind}".`);
}

/** Adds `tuning` to the `design` command. */
export function registerTuningCommand(design: Command): void {
  const g = defaultGratingSweep;
  const d = defaultDotSweep;
  addModelUnitOptions(
    design
      .command("tuning")
      .description(
        "a parametric sweep for tuning curves: gratings (orientation × spatial frequency, phases averaged) or dots " +
          "(size, location on a grid, number); prints each unit's predicted tuning curve, stores every image's " +
          "parameters and writes the protocol",
      ),
    whole,
  )
    .requiredOption("--kind <dots|gratings>", "the family swept")
    .requiredOption("-o, --out <protocol.json>", "the protocol to write")
    .option("--csv <file>", "also write the predicted tuning curves (one row per unit and condition)")
    .option("--repeats <n>", "times each image is shown (a new random order each repeat)", whole("--repeats"), 5)
    .option("--seed <n>", "seed of the protocol's order and of the dot-number layouts", whole("--seed"), d.seed)
    .option("--stimulus-ms <ms>", "stimulus duration", whole("--stimulus-ms"))
    .option("--orientations <deg,...>", "gratings: orientations in [0, 180)", numbers("--orientations"), [
      ...g.orientationsDeg,
    ])
    .option("--frequencies <c,...>", "gratings: cycles per image side", numbers("--frequencies"), [...g.cyclesPerImage])
    .option("--phases <n>", "gratings: phases per condition, averaged", whole("--phases"), g.phases)
    .option("--contrast <x>", "gratings: contrast in (0, 1]", number("--contrast"), g.contrast)
    .option(
      "--sizes <r,...>",
      "dots: radii of one centred dot, fractions of the image side in (0, 0.5] (empty: no size sweep)",
      numbers("--sizes"),
      [...d.sizes],
    )
    .option("--grid <n>", "dots: one dot at each cell of an n × n grid (0: no location sweep)", whole("--grid"), d.grid)
    .option("--radius <r>", "dots: radius of the location and number sweeps' dots", number("--radius"), d.radius)
    .option("--numbers <n,...>", "dots: numbers of dots (empty: no number sweep)", numbers("--numbers"), [...d.numbers])
    .option("--layouts <n>", "dots: random layouts per number, averaged", whole("--layouts"), d.layouts)
    .option("--background <0-255>", "dots: background grey level", whole("--background"), d.background)
    .option("--dot-value <0-255>", "dots: the dots' grey level", whole("--dot-value"), d.dotValue)
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action(async (flags: TuningFlags) => {
      const spec = specOf(flags);
      const store = SessionStore.open(flags.db);
      try {
        const dm = await loadDesignModel(store, flags.model, flags.units, { session: flags.session, log: say });
        try {
          const design = await designTuning(dm, spec);
          const stored = await storeTuningDesign(store, dm, design, {
            modelVersionId: flags.model[0]!,
            out: flags.out,
            csv: flags.csv,
            repeats: flags.repeats,
            seed: flags.seed,
            spec,
            ...(flags.stimulusMs === undefined ? {} : { timing: { stimulusMs: flags.stimulusMs } }),
          });
          for (const line of tuningTable(dm.units, design)) console.log(line);
          const viaEnsemble = dm.units.filter((u) => u.source === "ensemble").length;
          say(
            `tuning design ${stored.designId} (${spec.kind}): ${stored.images} images, ${stored.presentations} ` +
              `presentations; ${dm.units.length} units, ${dm.units.length - viaEnsemble} through their compact ` +
              `models, ${viaEnsemble} through the ensemble's prediction; wrote ${flags.out}` +
              `${flags.csv === undefined ? "" : ` and ${flags.csv}`}; run it with \`cortexloop run ${flags.out}\``,
          );
        } finally {
          dm.dispose();
        }
      } finally {
        store.close();
      }
    });
}
