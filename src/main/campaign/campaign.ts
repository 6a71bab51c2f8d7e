import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { LoadedProtocol } from "../protocol/load.js";
import { decideProposal, getProposal, type ProposalPredictions } from "../store/proposals.js";
import { SessionDesigner } from "./designer.js";
import { CampaignImages } from "./images.js";
import { activeRule, makePlan } from "./plan.js";
import { SessionRecorder } from "./recorder.js";
import { campaignResult } from "./report.js";
import { Retrainer } from "./retrainer.js";
import type { ArmState, CampaignOptions, CampaignResult, Selection, TrainedModel, Turnaround } from "./types.js";

export type {
  CampaignOptions,
  CampaignResult,
  CampaignSessionRecord,
  CurvePoint,
  Proposal,
  Selection,
  TrainingSettings,
  TrueRates,
  Turnaround,
} from "./types.js";
export { formatCurves } from "./report.js";
export { trueRateScores } from "./retrainer.js";

/**
 * The closed loop over K sessions: run session 1 (normal images); after each session retrain the
 * deep ensemble on every session so far, score it on the held-out test images (r²_ER), and design
 * the next session (active learning or random picks, gaudy and normal images) as a protocol file
 * that is written, validated, stored and run. The Campaign only orchestrates: recording
 * (recorder.ts), retraining (retrainer.ts), designing (designer.ts) and reporting (report.ts) are
 * their own pieces, sharing the campaign's pictures (images.ts) and the bank's division (plan.ts).
 */
export class Campaign {
  private readonly log: (line: string) => void;
  private readonly images: CampaignImages;
  private readonly recorder: SessionRecorder;
  private readonly retrainer: Retrainer;
  private readonly designer: SessionDesigner;

  constructor(private readonly options: CampaignOptions) {
    this.log = options.log ?? (() => {});
    const plan = makePlan(options);
    this.images = new CampaignImages(options, options.bank.images[0]?.image.width ?? 0, this.log);
    this.recorder = new SessionRecorder(options, this.images, this.log);
    this.retrainer = new Retrainer(options, this.images, this.log);
    this.designer = new SessionDesigner(options, this.images, plan, this.log);
  }

  /** How the active arm picks: "top-k", "coreset F" or "power P" (campaign.json's activeRule). */
  get activeRule(): string {
    return activeRule(this.options);
  }

  private newArm(selection: Selection, outDir: string, label: string): ArmState {
    return { selection, outDir, label, sessions: [], used: new Set(), curve: [], turnarounds: [], modelVersionIds: [] };
  }

  private fork(base: ArmState, selection: Selection, outDir: string, label: string): ArmState {
    return {
      selection,
      outDir,
      label,
      sessions: [...base.sessions],
      used: new Set(base.used),
      curve: [...base.curve],
      turnarounds: [...base.turnarounds],
      modelVersionIds: [...base.modelVersionIds],
    };
  }

  /** Session 1 (the held-out test images and natural images), then the first retrain. */
  private async firstSession(arm: ArmState): Promise<TrainedModel> {
    const { file, loaded } = await this.designer.designFirst(arm);
    arm.sessions.push(await this.recorder.record(arm, 1, file, loaded));
    return (await this.retrainer.retrainedBefore(arm)) ?? this.retrainer.retrain(arm);
  }

  /** Sessions 2..K of an arm, starting from the model trained on what the arm has run so far. */
  private async continueArm(arm: ArmState, model: TrainedModel): Promise<CampaignResult> {
    const o = this.options;
    let current = model;
    let proposedProtocolFile: string | undefined;
    for (let number = arm.sessions.length + 1; number <= o.sessions + ((o.proposeNext ?? true) ? 1 : 0); number++) {
      if (o.signal?.aborted) break;
      const before = o.journal?.designed(number);
      const designed = await this.designer.design(arm, current.ensemble, number, before);
      current.ensemble?.dispose();
      const turnaround: Turnaround = before?.turnaround ?? {
        afterSession: number - 1,
        retrainSeconds: current.seconds,
        scoreSelectSeconds: designed.selectSeconds,
        totalSeconds: current.seconds + designed.selectSeconds,
        candidatesScored: designed.scored,
      };
      arm.turnarounds.push(turnaround);
      if (before === undefined) {
        this.log(
          `${arm.label}: turnaround after session ${number - 1}: retrain ${turnaround.retrainSeconds.toFixed(1)} s + ` +
            `score ${designed.scored} candidates and select ${turnaround.scoreSelectSeconds.toFixed(1)} s = ` +
            `${turnaround.totalSeconds.toFixed(1)} s`,
        );
        o.journal?.noteDesigned({
          number,
          file: designed.file,
          protocolText: designed.loaded.text,
          picked: designed.picked,
          scored: designed.scored,
          selectSeconds: designed.selectSeconds,
          turnaround,
        });
      }
      if (number > o.sessions) {
        o.store.putProtocol(`${designed.loaded.protocol.name} (proposed)`, designed.loaded.text);
        proposedProtocolFile = designed.file;
        if (o.finishLater !== true) o.journal?.noteFinished({ sessions: arm.sessions.length, proposedProtocolFile });
        this.log(
          `${arm.label}: proposed the next session, not run: ${designed.file} (run it with \`cortexloop run ` +
            `${designed.file} --db ${o.store.file}\` against \`cortexloop sim-rig --rig ` +
            `${join(arm.outDir, "rig.json")}\`)`,
        );
        return campaignResult(arm, this.images.testHashes, proposedProtocolFile);
      }
      const approval = await this.approved(arm, number, designed.file, designed.loaded, designed.predictions);
      if (!approval.approved) {
        o.store.putProtocol(`${designed.loaded.protocol.name} (proposed)`, designed.loaded.text);
        o.journal?.noteStopped(number, approval.proposalId);
        this.log(
          `${arm.label}: session ${number} was not approved; the campaign stops here. Its protocol is kept: ` +
            `${designed.file}`,
        );
        return campaignResult(arm, this.images.testHashes, designed.file);
      }
      arm.sessions.push(await this.recorder.record(arm, number, designed.file, designed.loaded));
      current = (await this.retrainer.retrainedBefore(arm)) ?? (await this.retrainer.retrain(arm, current.checkpoint));
    }
    current.ensemble?.dispose();
    if (!o.signal?.aborted && o.finishLater !== true) o.journal?.noteFinished({ sessions: arm.sessions.length });
    return campaignResult(arm, this.images.testHashes, proposedProtocolFile);
  }

  /**
   * Asks `approve` about session `number` (every session runs when there is none). A study stores the
   * proposal first and its decision after; one decided before a stop is not asked again.
   */
  private async approved(
    arm: ArmState,
    number: number,
    file: string,
    loaded: LoadedProtocol,
    predictions: ProposalPredictions | undefined,
  ): Promise<{ approved: boolean; proposalId?: number }> {
    const o = this.options;
    if (o.approve === undefined) return { approved: true };
    const proposal = this.designer.proposal(arm, number, file, loaded, predictions);
    if (o.journal === undefined) return { approved: await o.approve(proposal) };
    const stored = o.journal.proposal(proposal);
    if (stored.decision !== null) {
      this.log(
        `${arm.label}: proposal ${stored.id} (session ${number}) was ${stored.decision.decision} before the stop ` +
          `(${stored.decision.via}, ${stored.decision.decidedAt})`,
      );
      return { approved: stored.decision.decision === "approved", proposalId: stored.id };
    }
    const approved = await o.approve({ ...proposal, proposalId: stored.id });
    // A hook that does not store its answer (the terminal, a program): the study stores it.
    if (getProposal(o.store.db, stored.id)?.decision === null)
      decideProposal(o.store.db, stored.id, approved ? "approved" : "declined", o.approvalVia ?? "program");
    return { approved, proposalId: stored.id };
  }

  /** Runs the whole campaign with one selection rule. */
  async run(selection: Selection): Promise<CampaignResult> {
    const o = this.options;
    mkdirSync(o.outDir, { recursive: true });
    const arm = this.newArm(selection, o.outDir, o.name);
    const model = await this.firstSession(arm);
    return this.continueArm(arm, model);
  }

  /**
   * The comparison: session 1 and its model are shared; then the campaign goes on twice, once picking
   * by ensemble disagreement and once at random (same seed, same test, gaudy and normal images).
   */
  async compare(): Promise<{ active: CampaignResult; random: CampaignResult }> {
    const o = this.options;
    mkdirSync(o.outDir, { recursive: true });
    const base = this.newArm("active", o.outDir, `${o.name}`);
    const model = await this.firstSession(base);
    const active = this.fork(base, "active", join(o.outDir, "active"), `${o.name} active`);
    const random = this.fork(base, "random", join(o.outDir, "random"), `${o.name} random`);
    // Both arms start from session 1's model (one model version); random picks need no ensemble.
    const activeResult = await this.continueArm(active, model);
    const randomResult = await this.continueArm(random, { ...model, ensemble: undefined });
    return { active: activeResult, random: randomResult };
  }
}
