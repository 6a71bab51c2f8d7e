import { createInterface } from "node:readline/promises";
import type { ProposalDetail, ProposalPredictions } from "../store/proposals.js";
import type { Proposal } from "./campaign.js";

/** What the store keeps of a proposal besides its protocol. */
export function proposalDetail(p: Proposal): ProposalDetail {
  return {
    description: p.description,
    blocks: p.blocks,
    presentations: p.presentations,
    stimuli: p.stimuli,
    ...(p.predictions === undefined ? {} : { predictions: p.predictions }),
  };
}

function range(values: (number | null | undefined)[]): string | undefined {
  const xs = values.filter((x): x is number => typeof x === "number");
  if (xs.length === 0) return undefined;
  const f = (x: number): string => x.toFixed(2);
  return `${f(Math.min(...xs))} to ${f(Math.max(...xs))} (mean ${f(xs.reduce((a, b) => a + b, 0) / xs.length)})`;
}

/** Per block, the range of the models' predicted responses (and of the members' disagreement where stored). */
function predictedLines(p: ProposalPredictions, block: string): string[] {
  const images = p.images.filter((i) => i.block === block);
  const predicted = range(images.map((i) => i.predicted));
  const disagreement = range(images.map((i) => i.disagreement));
  if (predicted === undefined) return [];
  return [
    `    predicted response ${predicted}` + `${disagreement === undefined ? "" : `; disagreement ${disagreement}`}`,
  ];
}

/** A proposal as the experimenter reads it before approving it. */
export function describeProposal(p: Proposal): string[] {
  const pr = p.predictions;
  return [
    `${p.label}: proposed session ${p.session} (${p.protocolFile})` +
      `${p.modelVersionId === undefined ? "" : `, designed with model version ${p.modelVersionId}`}:`,
    `  ${p.description}`,
    ...p.blocks.flatMap((b) => [
      `  block ${b.name}: ${b.images} images × ${b.repeats}`,
      ...(pr === undefined ? [] : predictedLines(pr, b.name)),
    ]),
    `  ${p.presentations} presentations in all`,
    ...(pr === undefined
      ? []
      : [
          `  predicted responses: the ensemble's mean over its ${pr.members} members and the ${pr.units} units of ` +
            `readout${pr.readouts.length === 1 ? "" : "s"} ${pr.readouts.join(", ")}` +
            `${pr.modelVersionId === null ? "" : ` (model version ${pr.modelVersionId})`}, ${pr.scale} ` +
            `(in SDs of each unit's training responses about its mean)`,
        ]),
  ];
}

/**
 * Asks on the terminal before each designed session runs: `y` runs it, anything else stops the
 * campaign with the proposal kept. Without a terminal (stdin not a TTY) nothing can be asked, so the
 * answer is no: an unattended run never records a session nobody approved.
 */
export function terminalApproval(
  say: (line: string) => void,
  input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin,
  output: NodeJS.WritableStream = process.stderr,
): (p: Proposal) => Promise<boolean> {
  return async (p) => {
    for (const line of describeProposal(p)) say(line);
    if (input.isTTY !== true) {
      say(`no terminal to ask on: session ${p.session} is not run. Run the campaign from a terminal to approve it.`);
      return false;
    }
    const rl = createInterface({ input, output });
    try {
      const answer = await rl.question(`Run session ${p.session} now? [y/N] `);
      return /^\s*y(es)?\s*$/i.test(answer);
    } finally {
      rl.close();
    }
  };
}
