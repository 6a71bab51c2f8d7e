// The review's predictedResponses channel on a real SQLite store: a small ensemble trained on an imported session
// predicts that session's stored stimuli (the same numbers `cortexloop predict` gives for the image files), the
// reply is cached, and every reason a prediction is unavailable is a clear reply, not a crash.
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dispatch } from "../../src/main/api/handlers.js";
import type { ApiReply, PredictedResponses } from "../../src/main/api/contract.js";
import { importRecordedSession } from "../../src/main/import/recorded.js";
import { evaluateSessions } from "../../src/main/jobs/evaluate.js";
import { predictImages } from "../../src/main/jobs/predict.js";
import { SessionStore } from "../../src/main/store/index.js";
import { campaignFrontEnd, campaignFrontEndSpec } from "../../src/main/campaign/setup.js";
import { loadFrontEnd } from "../../src/models/frontend/index.js";
import { stripesSession } from "../helpers/stripes-session.js";
import { tempDir } from "../helpers/tmp.js";

const size = 32;

const tmp = tempDir("cortexloop-predicted-");
let store: SessionStore;
let a: number;
let b: number;
let trained: number;
let aImages: string;

async function ask(request: { session: number | string; model?: number }): Promise<ApiReply<PredictedResponses>> {
  return (await dispatch(store, "predictedResponses", request)) as ApiReply<PredictedResponses>;
}

async function refused(request: { session: number; model?: number }) {
  const reply = await ask(request);
  if (!reply.ok) throw new Error(`expected an answer, got ${reply.code}: ${reply.message}`);
  if (reply.value.available) throw new Error(`expected no prediction for ${JSON.stringify(request)}`);
  return reply.value;
}

beforeAll(async () => {
  store = SessionStore.open(path.join(tmp.dir, "lab.db"));
  const sa = await stripesSession(tmp.dir, "a", 30, 3, 4);
  const sb = await stripesSession(tmp.dir, "b", 12, 2, 5);
  aImages = sa.images;
  a = (await importRecordedSession(store, { imagesPath: sa.images, responsesPath: sa.responses, sessionName: "a" }))
    .session.id;
  b = (await importRecordedSession(store, { imagesPath: sb.images, responsesPath: sb.responses, sessionName: "b" }))
    .session.id;
  const report = await evaluateSessions(store, {
    frontEnd: { kind: "gabor", inputSize: size },
    imageSize: size,
    members: 2,
    width: 4,
    blocks: 1,
    maxCycles: 2,
    readoutSteps: 20,
    backend: "cpu",
    sessions: ["a"],
    save: true,
    testFraction: 0.2,
  });
  trained = report.modelVersionId!;
}, 240_000);

afterAll(() => {
  store?.close();
  tmp.cleanup();
});

describe("predictedResponses", () => {
  it("predicts the session's stored stimuli with the newest ensemble that covers it, as `predict` does", async () => {
    // A newer version that lists the session but cannot predict it: the default skips it.
    const noWeights = store.putModelVersion({ name: "no weights", kind: "deep-ensemble", sessionIds: [a] });
    const reply = await ask({ session: a });
    expect(reply.ok).toBe(true);
    if (!reply.ok || !reply.value.available) throw new Error(JSON.stringify(reply));
    const p = reply.value;
    expect(p.modelVersion.id).toBe(trained);
    expect(p.candidates.map((c) => c.id)).toEqual([noWeights, trained]);
    expect(p.readout).toBe(String(a));
    expect(p.scale).toBe("responses");
    expect(p.cached).toBe(false);
    expect(p.units.map((u) => u.id)).toEqual(store.units(a).map((u) => u.id));
    expect(p.stimuli).toHaveLength(30);
    expect(p.stimuli).toEqual([...new Set(store.presentations(a).map((x) => x.stimulusSha256))]);
    expect(p.predictions).toHaveLength(3);
    // The same numbers as `cortexloop predict` on the image files (image k is the session's k-th stimulus).
    const cli = await predictImages(store, {
      modelVersionId: trained,
      images: aImages,
      session: "a",
      out: path.join(tmp.dir, "a.csv"),
    });
    for (let u = 0; u < 3; u++)
      for (let i = 0; i < 30; i++) expect(p.predictions[u]![i]!).toBeCloseTo(cli.predictions[i * 3 + u]!, 4);

    const again = await ask({ session: a });
    if (!again.ok || !again.value.available) throw new Error(JSON.stringify(again));
    expect(again.value.cached).toBe(true);
    expect(again.value.predictions).toEqual(p.predictions);
    // Asked for by id (or by the session's uuid prefix), the same version gives the same numbers.
    const byId = await ask({ session: store.findSession(a)!.uuid.slice(0, 8), model: trained });
    if (!byId.ok || !byId.value.available) throw new Error(JSON.stringify(byId));
    expect(byId.value.predictions).toEqual(p.predictions);

    const explicit = await refused({ session: a, model: noWeights });
    expect(explicit.reason).toBe("no-weights");
    expect(explicit.modelVersion).toEqual({ id: noWeights, name: "no weights" });
    expect(explicit.message).toMatch(new RegExp(`Model version ${noWeights} has no weights stored`));
  });

  it("says why when no prediction is available", async () => {
    const none = await refused({ session: b });
    expect(none.reason).toBe("no-model");
    expect(none.modelVersion).toBeNull();
    expect(none.message).toMatch(new RegExp(`No deep-ensemble model version lists session ${b}`));

    const version = store.getModelVersion(trained)!;
    const { frontEndSpec: _spec, ...configWithoutSpec } = version.config;
    const unrecorded = store.putModelVersion({
      name: "front end not recorded",
      kind: "deep-ensemble",
      config: configWithoutSpec,
      checkpoint: version.checkpoint!,
      sessionIds: [a],
    });
    const noSpec = await refused({ session: a, model: unrecorded });
    expect(noSpec.reason).toBe("no-front-end");
    expect(noSpec.message).toMatch(/does not record its front end \(frontEndSpec\)/);

    // Weights that list session b but have no readout of it.
    const elsewhere = store.putModelVersion({
      name: "lists b",
      kind: "deep-ensemble",
      config: version.config,
      checkpoint: version.checkpoint!,
      sessionIds: [a, b],
    });
    const noReadout = await refused({ session: b });
    expect(noReadout.modelVersion?.id).toBe(elsewhere);
    expect(noReadout.reason).toBe("no-readout");
    expect(noReadout.message).toMatch(new RegExp(`has no readout for session ${b} \\(its readouts: ${a}\\)`));

    const broken = store.putModelVersion({
      name: "corrupt",
      kind: "deep-ensemble",
      config: version.config,
      checkpoint: Buffer.from("not a checkpoint at all"),
      sessionIds: [a],
    });
    expect((await refused({ session: a, model: broken })).reason).toBe("load-failed");
    // A session that has shown nothing yet.
    const empty = store.createSession({
      name: "empty",
      protocolId: store.putProtocol("p", "{}"),
      rigId: store.putRig("r", "{}"),
      seed: 1,
      countWindow: { startMs: 50, endMs: 150, bins: 1 },
    }).id;
    const listsEmpty = store.putModelVersion({
      name: "lists the empty session",
      kind: "deep-ensemble",
      config: version.config,
      checkpoint: version.checkpoint!,
      sessionIds: [empty],
    });
    const nothing = await refused({ session: empty });
    expect(nothing.modelVersion?.id).toBe(listsEmpty);
    expect(nothing.reason).toBe("images");
    expect(nothing.message).toMatch(/has shown no stimuli yet/);
    const compact = store.putModelVersion({ name: "compact", kind: "compact-model", sessionIds: [a] });
    expect((await refused({ session: a, model: compact })).reason).toBe("not-ensemble");
  });

  it("refuses a session or a model version that does not exist, and a malformed request", async () => {
    const noSession = await ask({ session: 999 });
    expect(noSession).toMatchObject({ ok: false, code: "not-found" });
    const noModel = await ask({ session: a, model: 999 });
    expect(noModel).toMatchObject({ ok: false, code: "not-found" });
    if (!noModel.ok) expect(noModel.message).toMatch(/No model version 999/);
    const bad = await dispatch(store, "predictedResponses", { session: a, model: "latest" });
    expect(bad).toMatchObject({ ok: false, code: "bad-request" });
  });
});

describe("a campaign's front end is recorded so its versions can be loaded again", () => {
  it("gabor-small: the recorded spec loads the very front end the campaign used", async () => {
    for (const [kind, input] of [
      ["gabor-small", 112],
      ["gabor", 64],
    ] as const) {
      const used = await campaignFrontEnd(kind, () => {}, input);
      const spec = campaignFrontEndSpec(kind, input);
      const again = await loadFrontEnd(JSON.parse(JSON.stringify(spec)));
      expect(again.name).toBe(used.name);
      expect(again.inputSize).toBe(used.inputSize);
      expect(again.outputShape).toEqual(used.outputShape);
      expect(again.description).toBe(used.description);
      used.dispose();
      again.dispose();
    }
    expect(campaignFrontEndSpec("gabor-small", 112)).toEqual({ kind: "gabor-small" });
  });
});
