import { afterEach, describe, expect, it } from "vitest";
import { join } from "node:path";
import { SessionStore } from "../../src/main/store/index.js";
import { decideProposal, getProposal, listProposals, putProposal } from "../../src/main/store/proposals.js";
import { tempDir } from "../helpers/tmp.js";

const cleanups: (() => void)[] = [];
afterEach(() =>
  cleanups
    .splice(0)
    .reverse()
    .forEach((c) => c()),
);

function fixture() {
  const tmp = tempDir("cortexloop-proposals-");
  const store = SessionStore.open(join(tmp.dir, "lab.db"));
  cleanups.push(() => {
    store.close();
    tmp.cleanup();
  });
  const png = new Uint8Array([137, 80, 78, 71, 1]);
  const sha = store.putStimulus(png, { width: 1, height: 1, channels: 3, origin: "test" });
  const protocolId = store.putProtocol("campaign 1 session 2 (proposed)", "{}");
  const put = (stimuli: string[]) =>
    putProposal(store.db, {
      campaign: "campaign 1",
      sessionNumber: 2,
      protocolId,
      protocolFile: "campaign/session-2.json",
      modelVersionId: null,
      detail: {
        description: "designed after session 1",
        blocks: [{ name: "test", images: stimuli.length, repeats: 2 }],
        presentations: 2 * stimuli.length,
        stimuli,
      },
    });
  return { store, sha, put };
}

describe("proposals in the store (schema 7)", () => {
  it("stores a proposal with its detail and records one decision", () => {
    const { store, sha, put } = fixture();
    const id = put([sha]);
    expect(getProposal(store.db, id)).toMatchObject({
      id,
      campaign: "campaign 1",
      sessionNumber: 2,
      presentations: 2,
      stimuli: [sha],
      decision: null,
    });
    const decided = decideProposal(store.db, id, "approved", "web");
    expect(decided.decision).toMatchObject({ decision: "approved", via: "web" });
    expect(listProposals(store.db).map((p) => p.decision?.decision)).toEqual(["approved"]);
  });

  it("refuses approving twice, or declining what was approved: a decision is never changed", () => {
    const { store, sha, put } = fixture();
    const id = put([sha]);
    decideProposal(store.db, id, "approved", "terminal");
    expect(() => decideProposal(store.db, id, "approved", "web")).toThrow(
      new RegExp(
        "Proposal \\d+ \\(session 2 of campaign 1\\) was already approved \\(terminal, .*\\); a decision " +
          "is never changed and nothing was done",
      ),
    );
    expect(() => decideProposal(store.db, id, "declined", "web")).toThrow(/already approved/);
    expect(getProposal(store.db, id)!.decision).toMatchObject({ decision: "approved", via: "terminal" });
    // Append-only: not even SQL can change it.
    expect(() => store.db.prepare("UPDATE proposal_decisions SET decision = 'declined'").run()).toThrow(/append-only/);
  });

  it(
    "refuses approving a proposal whose images are not all in the store, writing nothing; it can still be " +
      "declined",
    () => {
      const { store, sha, put } = fixture();
      const gone = "f".repeat(64);
      const id = put([sha, gone]);
      expect(() => decideProposal(store.db, id, "approved", "web")).toThrow(
        new RegExp(`shows 1 image\\(s\\) that are no longer in the store \\(first ${gone}\\); it was not approved`),
      );
      expect(getProposal(store.db, id)!.decision).toBeNull();
      expect(decideProposal(store.db, id, "declined", "web").decision?.decision).toBe("declined");
    },
  );

  it("an unknown proposal is not found", () => {
    const { store } = fixture();
    expect(() => decideProposal(store.db, 99, "approved", "web")).toThrow(
      /There is no proposal 99; nothing was decided/,
    );
  });
});
