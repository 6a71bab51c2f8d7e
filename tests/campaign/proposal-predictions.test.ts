/** The predictions a proposal carries: per-image means of the members' predictions, and the CLI prompt's summary. */
import { describe, expect, it } from "vitest";
import { describeProposal, proposalDetail } from "../../src/main/campaign/approve-prompt.js";
import { memberMeans } from "../../src/main/campaign/predict-images.js";
import type { Proposal } from "../../src/main/campaign/index.js";

const proposal: Proposal = {
  label: "lab study",
  session: 3,
  protocolFile: "out/session-3.json",
  description: "designed after session 2",
  blocks: [
    { name: "test", images: 2, repeats: 4 },
    { name: "active-learning", images: 2, repeats: 1 },
  ],
  presentations: 10,
  modelVersionId: 7,
  protocolText: "{}",
  stimuli: ["a", "b", "c", "d"],
};

describe("proposal predictions", () => {
  it("memberMeans averages members [m, n, u] over members and units, per image", () => {
    // 2 members, 3 images, 2 units.
    const members = Float32Array.from([1, 3, 0, 0, 10, 20, /* member 2 */ 3, 5, 2, -2, 10, 40]);
    expect(Array.from(memberMeans(members, 2, 3, 2))).toEqual([3, 0, 20]);
  });

  it("the prompt prints each block's predicted range, active learning's disagreement, and the model", () => {
    const lines = describeProposal({
      ...proposal,
      predictions: {
        modelVersionId: 7,
        readouts: ["session 1", "session 2"],
        units: 12,
        members: 4,
        scale: "z-scored",
        images: [
          { block: "test", sha256: "a", predicted: -0.5 },
          { block: "test", sha256: "b", predicted: 1.25 },
          { block: "active-learning", sha256: "c", predicted: 0.1, disagreement: 0.8 },
          { block: "active-learning", sha256: "d", predicted: null, disagreement: 1.2 },
        ],
      },
    });
    const text = lines.join("\n");
    expect(text).toMatch(/block test: 2 images × 4\n {4}predicted response -0\.50 to 1\.25 \(mean 0\.38\)\n/);
    expect(text).toMatch(/block active-learning: 2 images × 1\n {4}predicted response 0\.10 to 0\.10 \(mean 0\.10\); /);
    expect(text).toMatch(/\(mean 0\.10\); disagreement 0\.80 to 1\.20 \(mean 1\.00\)\n/);
    expect(text).toMatch(/its 4 members and the 12 units of readouts session 1, session 2 \(model version 7\)/);
  });

  it("a proposal without predictions prints as before and stores no predictions field", () => {
    const text = describeProposal(proposal).join("\n");
    expect(text).toMatch(/block active-learning: 2 images × 1\n {2}10 presentations in all$/);
    expect(text).not.toMatch(/predicted/);
    expect(proposalDetail(proposal)).not.toHaveProperty("predictions");
  });
});
