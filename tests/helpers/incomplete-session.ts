/**
 * A session written straight into a store with known counts: 6 generated gratings × 4 repeats,
 * 3 units, 4 bins. Two repeats of some stimuli have INCOMPLETE counts set far above every complete
 * count (90 spikes a bin), one presentation is skipped (no counts), and two faults are recorded.
 * Every expected mean is computable from `complete` below, so a test can tell whether incomplete
 * counts leaked into a mean.
 */
import { encodePng, generateImages } from "../../src/stimulus/index.js";
import type { SessionStore } from "../../src/main/store/index.js";

export const fixtureBins = 4;
export const fixtureUnits = [
  { electrode: "CH1", sortedId: 1 },
  { electrode: "CH1", sortedId: 2 },
  { electrode: "CH7", sortedId: 1 },
];
export const incompleteCount = 90;

export interface IncompleteFixture {
  sessionId: number;
  shas: string[];
  /** Presentation index → stimulus index, repeat, and what its counts are. */
  presentations: {
    idx: number;
    image: number;
    repeat: number;
    counts: "complete" | "incomplete" | "none";
    onsetSample: number | null;
  }[];
  /** The complete count of (presentation, unit, bin): a fixed pattern. */
  complete(idx: number, unit: number, bin: number): number;
  /** Expected mean over complete repeats of an image's summed count, per unit. */
  expectedMean(image: number, unit: number): number;
  /** The same mean if incomplete counts were (wrongly) averaged in. */
  meanWithIncomplete(image: number, unit: number): number;
}

const images = 6;
const repeats = 4;
/** (image, repeat) pairs whose counts arrive incomplete. */
const incompletePairs = new Set(["0:1", "0:3", "2:0", "5:2"]);
const skippedPair = "3:3";

export async function writeIncompleteSession(
  store: SessionStore,
  options: { finish?: boolean } = {},
): Promise<IncompleteFixture> {
  const pictures = generateImages("gratings", images, 16, 11);
  const shas: string[] = [];
  for (let i = 0; i < images; i++) {
    shas.push(
      store.putStimulus(await encodePng(pictures[i]!), {
        width: 16,
        height: 16,
        channels: 3,
        origin: `gratings:11:${i}`,
      }),
    );
  }
  const rigText = JSON.stringify({ name: "fixture-rig", acquisition: { format: "openephys-zmq", sampleRate: 30000 } });
  const protocol = {
    version: 1,
    name: "incomplete-fixture",
    seed: 5,
    timing: { fixationMs: 0, stimulusMs: 100, interStimulusMs: 50 },
    countWindow: { startMs: 40, endMs: 200, bins: fixtureBins },
    sources: { g: { kind: "generator", generator: "gratings", count: images, size: 16, seed: 11 } },
    blocks: [{ name: "gratings", source: "g", repeats }],
  };
  const protocolId = store.putProtocol(protocol.name, JSON.stringify(protocol, null, 2));
  const rigId = store.putRig("fixture-rig", rigText);
  const session = store.createSession({
    name: "incomplete-fixture",
    protocolId,
    rigId,
    seed: 5,
    countWindow: { startMs: 40, endMs: 200, bins: fixtureBins },
  });
  store.appendSessionEvent(session.id, "started", "fixture");
  const complete = (idx: number, unit: number, bin: number): number => (idx * 7 + unit * 3 + bin * 5) % 9;
  const writer = store.writer(session.id);
  const presentations: IncompleteFixture["presentations"] = [];
  let idx = 0;
  for (let r = 0; r < repeats; r++) {
    for (let i = 0; i < images; i++) {
      const key = `${i}:${r}`;
      const skipped = key === skippedPair;
      const counts = skipped ? "none" : incompletePairs.has(key) ? "incomplete" : "complete";
      const onsetSample = skipped ? null : 1000 + idx * 4500;
      writer.addPresentation({
        idx,
        block: "gratings",
        stimulusSha256: shas[i]!,
        eventCode: 10 + idx,
        scheduledMs: idx * 150,
        shownMs: skipped ? null : idx * 150 + 1.5,
        durationMs: 100,
        status: skipped ? "skipped" : "shown",
      });
      if (!skipped) {
        writer.addTtlOnset({ presentationIdx: idx, eventCode: 10 + idx, onsetSample: onsetSample! });
        const at = idx;
        writer.addCounts({
          presentationIdx: idx,
          onsetSample,
          complete: counts === "complete",
          units: fixtureUnits.map((unit, u) => ({
            unit,
            bins: Array.from({ length: fixtureBins }, (_, b) =>
              counts === "incomplete" ? incompleteCount : complete(at, u, b),
            ),
          })),
        });
      }
      presentations.push({ idx, image: i, repeat: r, counts, onsetSample });
      idx++;
    }
  }
  writer.addFault({
    code: "counts-incomplete",
    message:
      "The rig stopped sending spikes inside the count window of 4 presentations; " +
      "their counts are kept, marked incomplete.",
    presentationIdxs: presentations.filter((p) => p.counts === "incomplete").map((p) => p.idx),
  });
  writer.addFault({
    code: "heartbeat-lost",
    message: "Rig stopped answering heartbeats; reconnected after 800 ms.",
    presentationIdxs: [],
  });
  writer.close();
  if (options.finish ?? true) store.appendSessionEvent(session.id, "completed", "fixture");

  const summed = (p: number, u: number): number =>
    Array.from({ length: fixtureBins }, (_, b) => complete(p, u, b)).reduce((a, b) => a + b, 0);
  const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
  return {
    sessionId: session.id,
    shas,
    presentations,
    complete,
    expectedMean: (image, u) =>
      mean(presentations.filter((p) => p.image === image && p.counts === "complete").map((p) => summed(p.idx, u))),
    meanWithIncomplete: (image, u) =>
      mean(
        presentations
          .filter((p) => p.image === image && p.counts !== "none")
          .map((p) => (p.counts === "incomplete" ? incompleteCount * fixtureBins : summed(p.idx, u))),
      ),
  };
}
