// Designing: the next session's images (held-out test, active learning or random picks, gaudy and
// natural images) as a protocol file that is validated, written and proposed.
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { performance } from "node:perf_hooks";
import { kCenterGreedy, powerSample, SeededRandom, type DeepEnsemble } from "../../models/index.js";
import { gaudy } from "../../stimulus/index.js";
import { parseProtocolText, type LoadedProtocol } from "../protocol/load.js";
import type { ProtocolInput } from "../protocol/schema.js";
import type { ProposalPredictions } from "../store/proposals.js";
import type { BankImage } from "./bank.js";
import type { CampaignImages } from "./images.js";
import type { Plan } from "./plan.js";
import { finite, predictionsHeader, scoreBatch, scoreImages } from "./predict-images.js";
import { secondsSince as seconds } from "./report.js";
import type { DesignedStep } from "./study-journal.js";
import { storeSynthesizedProvenance, synthesizeForUnits, type SynthesizedBlock } from "./synthesized.js";
import type { ArmState, CampaignOptions, Proposal } from "./types.js";

export class SessionDesigner {
  constructor(
    private readonly options: CampaignOptions,
    private readonly images: CampaignImages,
    private readonly plan: Plan,
    private readonly log: (line: string) => void,
  ) {}

  /** Session 1: registers the held-out test images and writes the protocol of test and natural images. */
  async designFirst(arm: ArmState): Promise<{ file: string; loaded: LoadedProtocol }> {
    const o = this.options;
    this.images.testHashes = [];
    for (const b of this.plan.test)
      this.images.testHashes.push(await this.images.register(b.image, `campaign:test:${b.origin}`));
    const firstShas: string[] = [];
    for (const b of this.plan.first) firstShas.push(await this.images.register(b.image, `campaign:normal:${b.origin}`));
    const description =
      `Session 1 of campaign ${o.name}: held-out test (${this.images.testHashes.length} images × ` +
      `${o.testRepeats}) and ${firstShas.length} natural images from ${o.bank.description}.`;
    return this.protocolFor(
      arm,
      1,
      [
        { name: "test", hashes: this.images.testHashes, repeats: o.testRepeats },
        { name: "normal", hashes: firstShas, repeats: o.trainRepeats ?? 1 },
      ],
      description,
    );
  }

  /**
   * Designs session `number` (≥ 2) for an arm: stores its images, writes and validates its protocol. With
   * `before` (a study designed it before it was stopped) the same images are taken again, not selected anew.
   */
  async design(
    arm: ArmState,
    ensemble: DeepEnsemble | undefined,
    number: number,
    before?: DesignedStep,
  ): Promise<{
    file: string;
    loaded: LoadedProtocol;
    scored: number;
    selectSeconds: number;
    picked: string[];
    predictions?: ProposalPredictions;
  }> {
    const o = this.options;
    const t0 = performance.now();
    const { picked, scored, pickedScores } =
      before === undefined
        ? await this.select(arm, ensemble, this.plan.nActive, number)
        : { picked: this.pickedBefore(before), scored: before.scored, pickedScores: undefined };
    const selectSeconds = before?.selectSeconds ?? seconds(t0);
    for (const p of picked) arm.used.add(p.id);
    const later = number - 2;
    const normal = this.plan.normal[later]!;
    const gaudyBase = this.plan.gaudyBase[later]!;
    const pickedShas: string[] = [];
    for (const p of picked) {
      const sha = await this.images.register(
        p.image,
        `campaign:${arm.selection === "active" ? "active-learning" : "random"}:${p.origin}`,
      );
      const f = this.images.features.get(`bank:${p.id}`);
      if (f !== undefined) this.images.features.set(sha, f);
      pickedShas.push(sha);
    }
    const normalShas: string[] = [];
    for (const b of normal) normalShas.push(await this.images.register(b.image, `campaign:normal:${b.origin}`));
    const gaudyShas: string[] = [];
    for (const b of gaudyBase)
      gaudyShas.push(await this.images.register(gaudy(b.image), `campaign:gaudy-of:${b.origin}`));
    const synth = await this.synthesize(arm, number);
    const synthShas: string[] = [];
    for (const im of synth?.images ?? [])
      synthShas.push(await this.images.register(im.image, `campaign:maximizing-synthesized:${im.unit.name}`));
    const selectedName = arm.selection === "active" ? "active-learning" : "random";
    const blocks = [
      { name: "test", hashes: this.images.testHashes, repeats: o.testRepeats },
      ...(pickedShas.length > 0 ? [{ name: selectedName, hashes: pickedShas, repeats: o.trainRepeats ?? 1 }] : []),
      ...(gaudyShas.length > 0 ? [{ name: "gaudy", hashes: gaudyShas, repeats: o.trainRepeats ?? 1 }] : []),
      ...(normalShas.length > 0 ? [{ name: "normal", hashes: normalShas, repeats: o.trainRepeats ?? 1 }] : []),
      ...(synthShas.length > 0
        ? [{ name: "maximizing-synthesized", hashes: synthShas, repeats: o.trainRepeats ?? 1 }]
        : []),
    ];
    const how =
      arm.selection === "active"
        ? o.samplingPower !== undefined
          ? `${pickedShas.length} images drawn from ${scored} candidates with chance ∝ ensemble disagreement^` +
            `${o.samplingPower}`
          : `${pickedShas.length} images of highest ensemble disagreement among ${scored} candidates` +
            `${
              o.coresetPoolFactor !== undefined
                ? ` (k-centre thinned from the top ` + `${Math.ceil(pickedShas.length * o.coresetPoolFactor)})`
                : ""
            }`
        : `${pickedShas.length} candidates picked at random`;
    const description =
      `Designed by the campaign after session ${number - 1} with model version ` +
      `${arm.modelVersionIds[arm.modelVersionIds.length - 1]}: held-out test (` +
      `${this.images.testHashes.length} images × ${o.testRepeats}), ${how}, ${gaudyShas.length} gaudy versions ` +
      `of natural images, ${normalShas.length} natural images` +
      (synth === undefined
        ? "."
        : `, ${synthShas.length} maximizing synthesized images (${o.synthesizedPerUnit} per unit, through ` +
          `${synth.through}).`);
    const { file, loaded } = this.protocolFor(arm, number, blocks, description, before?.protocolText);
    // Designed before a stop: its provenance was stored then.
    if (synth !== undefined && before === undefined) storeSynthesizedProvenance(o.store, synth, synthShas, loaded.text);
    this.log(
      `${arm.label}: ${before === undefined ? "wrote" : "designed before the stop, written again:"} ${file}: ` +
        description,
    );
    const predictions =
      ensemble === undefined
        ? undefined
        : await this.predictions(arm, ensemble, blocks, selectedName, pickedShas, pickedScores);
    return { file, loaded, scored, selectSeconds, picked: picked.map((p) => p.id), predictions };
  }

  /**
   * The ensemble's predictions for every image of the designed session (stored with its proposal): the scores
   * selection computed for the images it chose, the others' predicted once here (their front-end features are
   * cached, so retraining on the session does not compute them again).
   */
  private async predictions(
    arm: ArmState,
    ensemble: DeepEnsemble,
    blocks: { name: string; hashes: string[] }[],
    selectedName: string,
    pickedShas: string[],
    pickedScores: { disagreement: number; mean: number }[] | undefined,
  ): Promise<ProposalPredictions> {
    const known = new Map<string, { disagreement: number; mean: number }>();
    if (pickedScores !== undefined) pickedShas.forEach((sha, i) => known.set(sha, pickedScores[i]!));
    const rest = [...new Set(blocks.flatMap((b) => b.hashes))].filter((sha) => !known.has(sha));
    if (rest.length > 0) {
      const s = await scoreImages(ensemble, rest, this.images.storedFeatures, this.options.frontEnd.outputShape);
      rest.forEach((sha, i) => known.set(sha, { disagreement: s.disagreement[i]!, mean: s.mean[i]! }));
    }
    const active = arm.selection === "active";
    return {
      ...predictionsHeader(ensemble, arm.modelVersionIds[arm.modelVersionIds.length - 1]),
      images: blocks.flatMap((b) =>
        b.hashes.map((sha) => ({
          block: b.name,
          sha256: sha,
          predicted: finite(known.get(sha)?.mean),
          ...(active && b.name === selectedName ? { disagreement: finite(known.get(sha)?.disagreement) } : {}),
        })),
      ),
    };
  }

  /** The maximizing synthesized images of the arm's newest model's units (none when not asked for). */
  private async synthesize(arm: ArmState, number: number): Promise<SynthesizedBlock | undefined> {
    const o = this.options;
    const perUnit = o.synthesizedPerUnit ?? 0;
    const versionId = arm.modelVersionIds[arm.modelVersionIds.length - 1];
    if (perUnit < 1 || versionId === undefined) return undefined;
    const block = await synthesizeForUnits(
      o.store,
      versionId,
      perUnit,
      { seed: o.seed * 31 + number, ...o.synthesizedSettings },
      this.log,
    );
    this.log(
      `${arm.label}: ${block.images.length} maximizing synthesized images through ${block.through} in ` +
        `${block.seconds.toFixed(1)} s`,
    );
    return block;
  }

  /** Picks `k` unused candidates: highest ensemble disagreement (optionally k-centre thinned), or at random. */
  private async select(
    arm: ArmState,
    ensemble: DeepEnsemble | undefined,
    k: number,
    number: number,
  ): Promise<{ picked: BankImage[]; scored: number; pickedScores?: { disagreement: number; mean: number }[] }> {
    const o = this.options;
    const pool = this.plan.candidates.filter((c) => !arm.used.has(c.id));
    if (pool.length < k)
      throw new Error(
        `Only ${pool.length} unused candidates are left for ${k} picks; nothing more was run. Use a larger ` +
          `--candidates.`,
      );
    if (arm.selection === "random")
      return { picked: new SeededRandom(o.seed * 7 + number).shuffle([...pool]).slice(0, k), scored: 0 };
    if (ensemble === undefined)
      throw new Error("Campaign: active-learning selection needs the trained ensemble, which was already disposed");
    const keys = pool.map((c) => `bank:${c.id}`);
    const byKey = new Map(pool.map((c) => [`bank:${c.id}`, c]));
    const [h, w, c] = o.frontEnd.outputShape;
    const scores = new Float64Array(pool.length);
    const means = new Float64Array(pool.length);
    const batch = 128;
    let lastQuarter = -1;
    for (let start = 0; start < pool.length; start += batch) {
      const chunk = keys.slice(start, start + batch);
      const feats = await this.images.featuresFor(chunk, (key) => byKey.get(key)!.image.pixels0to255, "candidates");
      const scored = await scoreBatch(ensemble, feats, chunk.length, o.frontEnd.outputShape);
      scores.set(scored.disagreement, start);
      means.set(scored.mean, start);
      const q = Math.floor(((start + chunk.length) / pool.length) * 4);
      if (q !== lastQuarter) {
        lastQuarter = q;
        this.log(`${arm.label}: scoring candidates by ensemble disagreement: ${start + chunk.length}/${pool.length}`);
      }
      await new Promise((r) => setImmediate(r));
    }
    const chosenWith = (chosen: number[]) => ({
      picked: chosen.map((i) => pool[i]!),
      scored: pool.length,
      pickedScores: chosen.map((i) => ({ disagreement: scores[i]!, mean: means[i]! })),
    });
    if (o.samplingPower !== undefined)
      return chosenWith(powerSample(scores, k, o.samplingPower, new SeededRandom(o.seed * 13 + number)));
    const order = Array.from(scores, (s, i) => ({ s, i })).sort((a, b) => b.s - a.s);
    let chosen: number[];
    if (o.coresetPoolFactor === undefined) chosen = order.slice(0, k).map((x) => x.i);
    else {
      const top = order.slice(0, Math.max(k, Math.ceil(k * o.coresetPoolFactor))).map((x) => x.i);
      // Embedding: front-end features averaged over space (as selectByDisagreement does).
      const points = new Float32Array(top.length * c);
      top.forEach((i, r) => {
        const f = this.images.features.get(keys[i]!)!;
        for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++) points[r * c + ch]! += f[p * c + ch]! / (h * w);
      });
      chosen = kCenterGreedy(points, top.length, c, k, 0).map((r) => top[r]!);
    }
    return chosenWith(chosen);
  }

  /** The candidates a study picked for a session before it was stopped, from the bank again. */
  private pickedBefore(before: DesignedStep): BankImage[] {
    const byId = new Map(this.plan.candidates.map((c) => [c.id, c]));
    return before.picked.map((id) => {
      const c = byId.get(id);
      if (c === undefined)
        throw new Error(
          `Study ${this.options.journal?.name}: session ${before.number} showed candidate ${id}, which this image ` +
            `bank does not hold; nothing more was run. Resume with the image bank the study started with ` +
            `(--images-dir).`,
        );
      return c;
    });
  }

  private protocolFor(
    arm: ArmState,
    number: number,
    blocks: { name: string; hashes: string[]; repeats: number }[],
    description: string,
    expected?: string,
  ): { file: string; loaded: LoadedProtocol } {
    const o = this.options;
    const name = `${arm.label} session ${number}`;
    const protocol: ProtocolInput = {
      name,
      description,
      rig: "rig.json",
      seed: o.seed * 100 + number,
      timing: o.timing,
      countWindow: o.countWindow,
      sources: Object.fromEntries(blocks.map((b) => [b.name, { kind: "stored" as const, hashes: b.hashes }])),
      blocks: blocks.map((b) => ({
        name: b.name,
        source: b.name,
        repeats: b.repeats,
        order: b.repeats > 1 ? ("shuffle-each-repeat" as const) : ("shuffle" as const),
      })),
    };
    mkdirSync(arm.outDir, { recursive: true });
    if (resolve(arm.outDir) !== resolve(o.outDir)) writeFileSync(join(arm.outDir, "rig.json"), o.rig.text);
    const file = join(arm.outDir, `session-${number}.json`);
    const text = `${JSON.stringify(protocol, null, 2)}\n`;
    // The file must be one the experimenter could run as it is: validate before writing it.
    const loaded = parseProtocolText(file, text);
    if (expected !== undefined && text !== expected)
      throw new Error(
        `Study ${o.journal?.name}: session ${number}'s protocol, built again from the image bank and the study's ` +
          `settings, differs from the one designed before the stop (stored in ${o.store.file}); nothing more was ` +
          `run and ${file} was not changed. Resume with the image bank and front end the study started with.`,
      );
    writeFileSync(file, text);
    return { file, loaded };
  }

  proposal(
    arm: ArmState,
    number: number,
    file: string,
    loaded: LoadedProtocol,
    predictions?: ProposalPredictions,
  ): Proposal {
    const p = loaded.protocol;
    const blocks = p.blocks.map((b) => ({
      name: b.name,
      images: (p.sources[b.source] as { hashes: string[] }).hashes.length,
      repeats: b.repeats,
    }));
    return {
      label: arm.label,
      session: number,
      protocolFile: file,
      description: p.description ?? "",
      blocks,
      presentations: blocks.reduce((sum, b) => sum + b.images * b.repeats, 0),
      modelVersionId: arm.modelVersionIds[arm.modelVersionIds.length - 1],
      protocolText: loaded.text,
      stimuli: [...new Set(p.blocks.flatMap((b) => (p.sources[b.source] as { hashes: string[] }).hashes))],
      ...(predictions === undefined ? {} : { predictions }),
    };
  }
}
