import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dispatch } from "../../src/main/api/handlers.js";
import type { CompactModelDetail, ModelVersionItem } from "../../src/main/api/contract.js";
import { SessionStore } from "../../src/main/store/index.js";
import { putCompactVersion } from "../../src/main/compact/versions.js";
import { compactModelArrays, createCompactModel } from "../../src/models/compact/index.js";
import { selectBackend } from "../../src/models/backend.js";
import { groupCompactModels } from "../../src/renderer/tabs/CompactModels.js";
import { tempDir } from "../helpers/tmp.js";
import { compactFixture, type CompactFixture } from "./fixture.js";

const tmp = tempDir("cl-compact-inspect-");
let fx: CompactFixture;
let compactId: number;

beforeAll(async () => {
  await selectBackend({ prefer: "wasm", log: () => undefined });
  fx = await compactFixture(tmp.dir, { images: 12, units: 2 });
  const model = createCompactModel([4, 5, 3, 3, 2], { seed: 2 });
  const arrays = compactModelArrays(model);
  model.dispose();
  const store = SessionStore.open(fx.db);
  try {
    compactId = putCompactVersion(store, {
      name: "compact S1 e1#0",
      arrays,
      teacherId: fx.teacherId,
      unit: {
        sessionId: fx.sessionId,
        sessionName: "S1",
        unitId: 2,
        electrode: "e1",
        sortedId: 0,
        name: "e1#0",
        column: 1,
      },
      metrics: {
        r2Teacher: 0.9,
        r2TeacherBeforePruning: 0.92,
        filtersBeforePruning: [8, 8, 4, 4, 4],
        recorded: { metric: "r2raw", student: 0.3, teacher: 0.35, images: 5 },
      },
    });
  } finally {
    store.close();
  }
}, 120_000);
afterAll(() => tmp.cleanup());

describe("compact models in the review API and UI", () => {
  it("compactModel: filters per layer, layer-0 filters as pictures, the readout's map, the metrics", async () => {
    const store = SessionStore.open(fx.db);
    try {
      const reply = await dispatch(store, "compactModel", { id: compactId });
      expect(reply.ok).toBe(true);
      if (!reply.ok) return;
      const d = reply.value as CompactModelDetail;
      expect(d.filters).toEqual([4, 5, 3, 3, 2]);
      expect(d.filtersBeforePruning).toEqual([8, 8, 4, 4, 4]);
      expect(d.teacherId).toBe(fx.teacherId);
      expect(d.unit).toMatchObject({ name: "e1#0", column: 1, sessionName: "S1" });
      expect(d.layer0.count).toBe(4);
      expect(d.layer0.pixels0to255).toHaveLength(4 * 5 * 5 * 3);
      // Each filter is scaled to its own largest weight: every picture reaches 0 or 255 somewhere.
      for (let f = 0; f < 4; f++) {
        const px = d.layer0.pixels0to255.slice(f * 75, (f + 1) * 75);
        expect(Math.max(...px.map((v) => Math.abs(v - 127.5)))).toBeGreaterThan(127);
      }
      expect(d.readoutMap.side).toBe(28);
      expect(d.readoutMap.values).toHaveLength(784);
      expect(d.r2Teacher).toBe(0.9);
      expect(d.recorded).toEqual({ metric: "r2raw", student: 0.3, teacher: 0.35, images: 5 });
    } finally {
      store.close();
    }
  });

  it("compactModel: a missing version or one that is not a compact model is not-found, with what to do", async () => {
    const store = SessionStore.open(fx.db);
    try {
      const missing = await dispatch(store, "compactModel", { id: 999 });
      expect(missing).toMatchObject({ ok: false, code: "not-found" });
      const ensemble = await dispatch(store, "compactModel", { id: fx.teacherId });
      expect(ensemble.ok).toBe(false);
      if (!ensemble.ok) expect(ensemble.message).toMatch(/is a deep-ensemble, not a compact model/);
      expect(await dispatch(store, "compactModel", { id: "x" })).toMatchObject({ ok: false, code: "bad-request" });
    } finally {
      store.close();
    }
  });

  it("the model-versions view groups compact models under their ensemble, imported ones apart", async () => {
    const store = SessionStore.open(fx.db);
    try {
      const reply = await dispatch(store, "modelVersions", {});
      if (!reply.ok) throw new Error(reply.message);
      const items = reply.value as ModelVersionItem[];
      const imported: ModelVersionItem = { ...items.find((m) => m.id === compactId)!, id: 500, parentId: null };
      const groups = groupCompactModels([...items, imported]);
      expect(groups.map((g) => g.teacherId)).toEqual([fx.teacherId, null]);
      expect(groups[0]!.teacher?.kind).toBe("deep-ensemble");
      expect(groups[0]!.models.map((m) => m.id)).toEqual([compactId]);
      expect(groups[1]!.models.map((m) => m.id)).toEqual([500]);
    } finally {
      store.close();
    }
  });
});
