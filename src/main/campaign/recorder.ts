// Recording: runs a designed session on the campaign's rig (or reads back one a study recorded
// before it was stopped) and turns it into training data.
import { performance } from "node:perf_hooks";
import type { LoadedProtocol } from "../protocol/load.js";
import { sessionTrainingData, type SessionTrainingData } from "./dataset-from-session.js";
import type { CampaignImages } from "./images.js";
import { everyQuarter, secondsSince as seconds } from "./report.js";
import type { ArmState, CampaignOptions, CampaignSessionRecord } from "./types.js";

export class SessionRecorder {
  constructor(
    private readonly options: CampaignOptions,
    private readonly images: CampaignImages,
    private readonly log: (line: string) => void,
  ) {}

  /** Records session `number`, or reads it back if the study recorded it before it was stopped. */
  async record(arm: ArmState, number: number, file: string, loaded: LoadedProtocol): Promise<CampaignSessionRecord> {
    const done = this.options.journal?.recorded(number);
    return done !== undefined
      ? this.recordedBefore(arm, number, file, done.sessionId)
      : this.runProtocol(arm, number, file, loaded);
  }

  private async runProtocol(
    arm: ArmState,
    number: number,
    file: string,
    loaded: LoadedProtocol,
  ): Promise<CampaignSessionRecord> {
    const o = this.options;
    const total = loaded.protocol.blocks.reduce(
      (s, b) => s + b.repeats * (loaded.protocol.sources[b.source] as { hashes: string[] }).hashes.length,
      0,
    );
    const minutes = (total * (o.timing.stimulusMs + o.timing.interStimulusMs)) / 60_000;
    this.log(
      `${arm.label}: running session ${number} (${file}): ${total} presentations, about ${minutes.toFixed(1)} min`,
    );
    const shas = new Set(
      loaded.protocol.blocks.flatMap((b) => (loaded.protocol.sources[b.source] as { hashes: string[] }).hashes),
    );
    await o.rig.prepare([...shas].flatMap((sha) => this.images.image(sha) ?? []));
    const t0 = performance.now();
    o.journal?.noteRecording(number, o.store.putProtocol(loaded.protocol.name, loaded.text), file);
    const result = await o.rig.run(
      o.store,
      loaded,
      loaded.protocol.name,
      everyQuarter((shown, all) => this.log(`${arm.label}: session ${number}: ${shown}/${all} presented`)),
      o.signal,
    );
    if (result.state !== "completed") {
      o.journal?.noteInterrupted(number, result.sessionId, { state: result.state, presented: result.presented });
      throw new Error(
        `Session ${number} (${result.uuid}) ended ${result.state} after ${result.presented}/${result.scheduled} ` +
          `presentations; it is kept in ${o.store.file}. The campaign stopped; look at \`cortexloop show ` +
          `${result.sessionId}\` and ` +
          `${
            o.journal === undefined
              ? "rerun."
              : `resume the study (\`cortexloop campaign --resume ${o.journal.study.id} --db ${o.store.file}\`).`
          }`,
      );
    }
    o.journal?.noteRecorded(number, result.sessionId, file);
    const data = await this.trainingData(result.sessionId, number);
    this.log(
      `${arm.label}: session ${number} done in ${seconds(t0).toFixed(0)} s: ${result.presented} presented, ` +
        `${data.usedPresentations} with complete counts, ${result.faults} faults, ${data.unitNames.length} units`,
    );
    return {
      number,
      sessionId: result.sessionId,
      uuid: result.uuid,
      protocolFile: file,
      state: result.state,
      presented: result.presented,
      data,
    };
  }

  private trainingData(sessionId: number, number: number): Promise<SessionTrainingData> {
    return sessionTrainingData(this.options.store, sessionId, {
      key: `session-${sessionId}`,
      heldOut: new Set(this.images.testHashes),
      features: this.images.storedFeatures,
      seed: this.options.seed + number,
    });
  }

  /** A session the study recorded before it was stopped: read back from the store, not recorded again. */
  private async recordedBefore(
    arm: ArmState,
    number: number,
    file: string,
    sessionId: number,
  ): Promise<CampaignSessionRecord> {
    const o = this.options;
    const row = o.store.findSession(sessionId)!;
    const data = await this.trainingData(sessionId, number);
    const presented = o.store.presentations(sessionId).length;
    this.log(
      `${arm.label}: session ${number} was recorded before the stop (session ${sessionId}, ${presented} presented, ` +
        `${data.usedPresentations} with complete counts); not recorded again`,
    );
    return {
      number,
      sessionId,
      uuid: row.uuid,
      protocolFile: file,
      state: o.store.sessionState(sessionId),
      presented,
      data,
    };
  }
}
