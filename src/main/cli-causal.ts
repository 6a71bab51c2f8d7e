// Causal tests (Cowley et al. 2023, Fig. 2): `design causal` makes the images from a model and the
// protocol that shows them; `analyze causal` measures whether the neurons did what the model said.
import type { Command } from "commander";
import { SessionStore } from "./store/index.js";
import {
  analyzeCausal,
  causalTable,
  CausalInputError,
  defaultCausalDesignOptions,
  designCausal,
  isQuantileBand,
  loadDesignModel,
  storeCausalDesign,
  streamBank,
  writeCausalCsv,
} from "./causal/index.js";
import type { PixelBudget } from "../stimulus/synthesis/index.js";
import { defaultDb } from "./paths.js";
import { registerTuningCommand } from "./cli-tuning.js";
import { addModelUnitOptions, collect, numberParsers } from "./cli-options.js";

const { whole, number } = numberParsers((message) => new CausalInputError("option", message));

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

export function parseBudget(text: string): PixelBudget {
  const m = /^(l2|linf):(.+)$/.exec(text.trim());
  const value = m === null ? Number.NaN : Number(m[2]);
  if (m === null || !Number.isFinite(value))
    throw new CausalInputError(
      "option",
      `--budget must look like l2:1500 or linf:8 (a norm on 0..255 pixels), got "${text}".`,
    );
  if (!(value > 0))
    throw new CausalInputError(
      "option",
      `--budget must be > 0, got ${text}; an adversarial image must be allowed to change.`,
    );
  return { norm: m[1] as PixelBudget["norm"], value };
}

export function parseQuantiles(text: string): [number, number] {
  const m = /^([\d.]+):([\d.]+)$/.exec(text.trim());
  const band: [number, number] = m === null ? [Number.NaN, Number.NaN] : [Number(m[1]), Number(m[2])];
  if (!isQuantileBand(band))
    throw new CausalInputError(
      "option",
      `--adversarial-bases must be two quantiles from:to with 0 ≤ from < to ≤ 1 (e.g. 0.5:0.8, or 0:1 for any ` +
        `random normal image), got "${text}".`,
    );
  return band;
}

/** `--maximizing-from`: where maximizing synthesized images start. */
export function parseMaximizingFrom(text: string): "normal" | "noise" {
  if (text === "normal" || text === "noise") return text;
  throw new CausalInputError("option", `--maximizing-from must be "normal" or "noise", got "${text}".`);
}

export function parseSmoothKeepBy(text: string): "contrast" | "drop" {
  if (text === "contrast" || text === "drop") return text;
  throw new CausalInputError("option", `--smooth-keep-by must be "contrast" or "drop", got "${text}".`);
}

interface DesignFlags {
  rankBy: string;
  model: number[];
  units: string[];
  session?: string;
  bank: string[];
  out: string;
  db: string;
  restarts: number;
  steps: number;
  normal: number;
  adversarial: number;
  budget: string;
  adversarialBases: string;
  smooth: number;
  smoothCandidates: number;
  smoothKeepBy: string;
  smoothBlurPx: number;
  patches: number;
  patchPx: number;
  stridePx?: number;
  randomNormal: number;
  repeats: number;
  seed: number;
  saliency: boolean;
  jitterPx: number;
  gradientBlurPx: number;
  maximizingFrom: string;
  maximizingCandidates: number;
}

export function registerCausalCommands(program: Command): void {
  const d = defaultCausalDesignOptions;
  const design = program.command("design").description("design sessions from models");
  registerTuningCommand(design);
  addModelUnitOptions(
    design
      .command("causal")
      .description(
        "a causal-test session: per unit, maximizing synthesized and normal images, adversarial ± pairs, " +
          "smooth− and random-smoothed images with their bases, among randomly chosen normal images; stores each " +
          "image's provenance and writes the protocol",
      ),
    whole,
  )
    .option("--bank <zip|dir>", "candidate natural images (repeatable); streamed", collect, [])
    .requiredOption("-o, --out <protocol.json>", "the protocol to write")
    .option("--restarts <n>", "maximizing synthesized starts per unit (each is shown)", whole("--restarts"), d.restarts)
    .option("--steps <n>", "gradient steps per start", whole("--steps"), d.steps)
    .option(
      "--maximizing-from <normal|noise>",
      "maximizing synthesized starts: each unit's best bank images (restart r from its r-th), or seeded noise",
      d.maximizingFrom,
    )
    .option(
      "--maximizing-candidates <n>",
      "ranked by the ensemble: per restart, the best iterate of each of n spans of the steps; the ensemble picks one",
      whole("--maximizing-candidates"),
      d.maximizingCandidates,
    )
    .option("--normal <n>", "maximizing normal images per unit", whole("--normal"), d.normalPerUnit)
    .option(
      "--rank-by <ensemble|model>",
      "units designed through compact models: rank the bank and pick synthesized iterates by their ensemble, " +
        "or by the compact models",
      "ensemble",
    )
    .option("--adversarial <n>", "adversarial pairs per unit (0: none)", whole("--adversarial"), d.adversarialPerUnit)
    .option(
      "--budget <norm:value>",
      "adversarial pixel budget on 0..255 values: l2:<norm> or linf:<largest change>",
      `${d.budget.norm}:${d.budget.value}`,
    )
    .option(
      "--adversarial-bases <from:to>",
      "adversarial bases: random normal images whose predicted response lies between these quantiles of the pool's",
      d.adversarialBases.join(":"),
    )
    .option(
      "--smooth <n>",
      "smooth− images per unit, each with its random-smoothing control (0: none)",
      whole("--smooth"),
      d.smoothPerUnit,
    )
    .option(
      "--smooth-candidates <n>",
      "per unit, top bank images smooth− is tried on; the --smooth with the largest predicted drop are shown",
      whole("--smooth-candidates"),
      d.smoothCandidates,
    )
    .option(
      "--smooth-keep-by <contrast|drop>",
      "which candidates are shown: the largest predicted drop beyond the random control's, or in itself",
      d.smoothKeepBy,
    )
    .option("--patches <n>", "patches smoothed per smooth− image", whole("--patches"), d.smoothPatches)
    .option("--patch-px <px>", "side of a smoothed patch", whole("--patch-px"), d.patchPx)
    .option("--stride-px <px>", "grid step of patch positions (default: the patch's side)", whole("--stride-px"))
    .option("--smooth-blur-px <sigma>", "blur of a smoothed patch, px", number("--smooth-blur-px"), d.smoothBlurPx)
    .option(
      "--random-normal <n>",
      "randomly chosen normal images shown to every unit",
      whole("--random-normal"),
      d.randomNormal,
    )
    .option("--repeats <n>", "times each image is shown", whole("--repeats"), 5)
    .option(
      "--jitter-px <px>",
      "maximizing and adversarial: each gradient step on the image shifted by up to this many pixels (0: off)",
      whole("--jitter-px"),
      d.priors.jitterPx,
    )
    .option(
      "--gradient-blur-px <sigma>",
      "maximizing and adversarial: blur of each step's gradient, px (0: off)",
      number("--gradient-blur-px"),
      d.priors.gradientBlurPx,
    )
    .option("--seed <n>", "seed of every random choice", whole("--seed"), d.seed)
    .option("--no-saliency", "skip the saliency maps")
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action(async (flags: DesignFlags) => {
      const budget = parseBudget(flags.budget);
      if (flags.rankBy !== "ensemble" && flags.rankBy !== "model")
        throw new CausalInputError("option", `--rank-by must be "ensemble" or "model", got "${flags.rankBy}".`);
      const options = {
        adversarialBases: parseQuantiles(flags.adversarialBases),
        maximizingFrom: parseMaximizingFrom(flags.maximizingFrom),
        maximizingCandidates: flags.maximizingCandidates,
        restarts: flags.restarts,
        steps: flags.steps,
        normalPerUnit: flags.normal,
        adversarialPerUnit: flags.adversarial,
        budget,
        smoothPerUnit: flags.smooth,
        smoothCandidates: flags.smoothCandidates,
        smoothKeepBy: parseSmoothKeepBy(flags.smoothKeepBy),
        smoothPatches: flags.patches,
        smoothBlurPx: flags.smoothBlurPx,
        patchPx: flags.patchPx,
        stridePx: flags.stridePx ?? flags.patchPx,
        randomNormal: flags.randomNormal,
        saliency: flags.saliency,
        seed: flags.seed,
        priors: { jitterPx: flags.jitterPx, gradientBlurPx: flags.gradientBlurPx },
      };
      const store = SessionStore.open(flags.db);
      try {
        const dm = await loadDesignModel(store, flags.model, flags.units, {
          session: flags.session,
          log: say,
          workers: true,
          rankWithEnsemble: flags.rankBy === "ensemble",
        });
        try {
          const viaEnsemble = dm.units.filter((u) => u.source === "ensemble").map((u) => u.name);
          say(
            `${dm.units.length} unit${dm.units.length === 1 ? "" : "s"}: ` +
              `${dm.units.length - viaEnsemble.length} through their compact models` +
              (viaEnsemble.length > 0
                ? `, ${viaEnsemble.length} through the ensemble's prediction (no compact model: ` +
                  `${viaEnsemble.join(", ")})`
                : ""),
          );
          const made = await designCausal(dm, streamBank(flags.bank, dm.imageSize), options, say);
          const stored = await storeCausalDesign(store, dm, made, {
            modelVersionId: flags.model[0]!,
            out: flags.out,
            repeats: flags.repeats,
            design: { ...defaultCausalDesignOptions, ...options },
          });
          say(
            `causal design ${stored.designId}: ${stored.images} images (${made.images.length} with ` +
              `provenance) from a bank of ${made.bankImages}, ${stored.presentations} presentations; wrote ` +
              `${flags.out}; run it with \`cortexloop run ${flags.out}\``,
          );
        } finally {
          dm.dispose();
        }
      } finally {
        store.close();
      }
    });

  const analyze = program.command("analyze").description("analyses of recorded sessions");
  analyze
    .command("causal")
    .description(
      "measured against predicted %Δr per unit and kind of a causal-test session, with permutation tests; a " +
        "table and a CSV",
    )
    .argument("<session>", "session name or id")
    .option("-o, --out <csv>", "CSV file (default causal-<session>.csv)")
    .option(
      "--unit-map <design=recorded>",
      "a design unit and the recorded unit it is, when their names differ (repeat or comma-separate)",
      collect,
      [],
    )
    .option("--db <file>", "lab database (SQLite)", defaultDb)
    .action((sessionRef: string, flags: { out?: string; db: string; unitMap: string[] }) => {
      const store = SessionStore.open(flags.db);
      try {
        const map = new Map(
          flags.unitMap.map((pair) => {
            const [d, r] = pair.split("=");
            if (!d || !r)
              throw new CausalInputError(
                "option",
                `--unit-map takes design=recorded pairs (e.g. 190923_neuron4#0=Electrode 1#0), got "${pair}".`,
              );
            return [d.trim(), r.trim()] as const;
          }),
        );
        const a = analyzeCausal(store, sessionRef, map);
        const out = flags.out ?? `causal-${a.sessionName.replace(/[^A-Za-z0-9._-]/g, "_")}.csv`;
        writeCausalCsv(a, out);
        for (const line of causalTable(a)) console.log(line);
        if (a.missingUnits.length > 0)
          say(`units of the design the session did not record (left out): ${a.missingUnits.join(", ")}`);
        say(
          `session ${a.sessionName}, design ${a.designIds.join(", ")}: ${a.rows.length} unit × kind rows; wrote ${out}`,
        );
      } finally {
        store.close();
      }
    });
}
