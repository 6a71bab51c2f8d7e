// Options several commands share: repeatable comma-separated lists, and the model version(s), units and readout
// that `design causal` and `design tuning` both take.
import type { Command } from "commander";

/** A repeatable, comma-separated list option: every value given, trimmed, empty ones dropped. */
export function collect(value: string, prior: string[]): string[] {
  return [
    ...prior,
    ...value
      .split(",")
      .map((s) => s.trim())
      .filter((s) => s.length > 0),
  ];
}

/**
 * Parsers of numeric options that throw the command's own error: `whole` takes integers, `number` any finite
 * number (ranges are checked where the value is used).
 */
export function numberParsers(fail: (message: string) => Error): {
  whole: (flag: string) => (v: string) => number;
  number: (flag: string) => (v: string) => number;
} {
  return {
    whole: (flag) => (v) => {
      const n = Number(v);
      if (!Number.isInteger(n)) throw fail(`${flag} takes a whole number, got "${v}".`);
      return n;
    },
    number: (flag) => (v) => {
      const n = Number(v);
      if (v.trim() === "" || !Number.isFinite(n)) throw fail(`${flag} takes a number, got "${v}".`);
      return n;
    },
  };
}

/** Adds `--model` (required), `--units` and `--session`; `whole` parses an id, throwing the command's own error. */
export function addModelUnitOptions(command: Command, whole: (flag: string) => (v: string) => number): Command {
  return command
    .requiredOption(
      "--model <id>",
      "model version: a deep ensemble (each unit through its compact model where one was distilled, else the " +
        "ensemble), or compact models (repeat or comma-separate; one unit each)",
      (v: string, prior: number[] | undefined) => [
        ...(prior ?? []),
        ...v
          .split(",")
          .filter((x) => x.trim() !== "")
          .map((x) => whole("--model")(x.trim())),
      ],
    )
    .option(
      "--units <list>",
      "units (e3#1, e3/1 or readout columns; repeat or comma-separate; default all)",
      collect,
      [],
    )
    .option("--session <name|id>", "whose readout's units, when the ensemble has several");
}
