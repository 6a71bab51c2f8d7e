import { createInterface } from "node:readline/promises";
import type { Proposal } from "./campaign.js";

/** A proposal as the experimenter reads it before approving it. */
export function describeProposal(p: Proposal): string[] {
  return [
    `${p.label}: proposed session ${p.session} (${p.protocolFile})` +
      `${p.modelVersionId === undefined ? "" : `, designed with model version ${p.modelVersionId}`}:`,
    `  ${p.description}`,
    ...p.blocks.map((b) => `  block ${b.name}: ${b.images} images × ${b.repeats}`),
    `  ${p.presentations} presentations in all`,
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
