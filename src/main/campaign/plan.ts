// How a campaign divides its image bank, fixed by the seed (test, first session, each later
// session's natural and gaudy images, candidates), and how its active arm picks.
import { SeededRandom } from "../../models/index.js";
import type { BankImage } from "./bank.js";
import type { CampaignOptions } from "./types.js";

/** How the bank is divided, fixed by the seed: both arms of a comparison share all but the selected images. */
export interface Plan {
  test: BankImage[];
  first: BankImage[];
  /** Per later session (index 0 = session 2): its normal images and the images its gaudy block is made from. */
  normal: BankImage[][];
  gaudyBase: BankImage[][];
  candidates: BankImage[];
  nActive: number;
}

/** How the active arm picks: "top-k", "coreset F" or "power P" (campaign.json's activeRule). */
export function activeRule(o: CampaignOptions): string {
  return o.samplingPower !== undefined
    ? `power ${o.samplingPower}`
    : o.coresetPoolFactor !== undefined
      ? `coreset ${o.coresetPoolFactor}`
      : "top-k";
}

/** Divides the bank (seeded): refused, with nothing run, when it is too small for the campaign. */
export function makePlan(o: CampaignOptions): Plan {
  if (o.sessions < 1) throw new Error(`A campaign needs at least 1 session, got ${o.sessions}; nothing was run.`);
  if (o.samplingPower !== undefined && o.coresetPoolFactor !== undefined)
    throw new Error("Choose k-centre thinning (--coreset) or power sampling (--power), not both; nothing was run.");
  const n = o.imagesPerSession;
  const nActive = Math.round(n * o.activeFraction);
  const nGaudy = Math.round(n * o.gaudyFraction);
  const nNormal = n - nActive - nGaudy;
  if (nNormal < 0)
    throw new Error(
      `--active-fraction ${o.activeFraction} and --gaudy-fraction ${o.gaudyFraction} add up to more than 1; ` +
        `nothing was run.`,
    );
  const later = o.sessions - 1;
  // One more later session's worth, for the proposed next protocol.
  const designed = later + ((o.proposeNext ?? true) ? 1 : 0);
  const fixed = o.testImages + n + designed * (nNormal + nGaudy);
  const bank = new SeededRandom(o.seed).shuffle([...o.bank.images]);
  const needCandidates = designed * nActive;
  if (bank.length < fixed + needCandidates) {
    throw new Error(
      `The image bank holds ${bank.length} images; this campaign needs ${fixed} for test, normal and gaudy ` +
        `images plus at least ${needCandidates} candidates. Nothing was run; use fewer sessions or images per ` +
        `session, or a larger bank (--bank-size).`,
    );
  }
  let at = 0;
  const take = (k: number): BankImage[] => bank.slice(at, (at += k));
  const test = take(o.testImages);
  const first = take(n);
  const normal: BankImage[][] = [];
  const gaudyBase: BankImage[][] = [];
  for (let s = 0; s < designed; s++) {
    normal.push(take(nNormal));
    gaudyBase.push(take(nGaudy));
  }
  const candidates = bank.slice(at, at + Math.max(needCandidates, o.candidates));
  return { test, first, normal, gaudyBase, candidates, nActive };
}
