import type { MouseEvent } from "react";
import { describe, expect, it } from "vitest";
import { drawUnitRows, unitRowAt } from "./canvas.js";

/** A 2D context that records what was drawn, with the fill in force. */
function recorder() {
  const calls: { op: "text" | "rect"; fill: string; args: (string | number)[] }[] = [];
  const ctx = {
    fillStyle: "",
    fillText(text: string, x: number, y: number) {
      calls.push({ op: "text", fill: this.fillStyle, args: [text, x, y] });
    },
    fillRect(x: number, y: number, w: number, h: number) {
      calls.push({ op: "rect", fill: this.fillStyle, args: [x, y, w, h] });
    },
  };
  return { ctx: ctx as unknown as CanvasRenderingContext2D, calls };
}

function pointer(clientX: number, clientY: number): MouseEvent<HTMLCanvasElement> {
  const rect = { left: 10, top: 20 };
  return {
    clientX,
    clientY,
    currentTarget: { getBoundingClientRect: () => rect },
  } as unknown as MouseEvent<HTMLCanvasElement>;
}

describe("units × images canvas", () => {
  // 2 units, 4 columns over 200 px after 100 px of labels: cells 50 px wide, rows 14 px high.
  const layout = { labelPx: 100, width: 300, rowPx: 14 };

  it("labels each unit's row and fills each of its cells with the colour asked for, in place", () => {
    const { ctx, calls } = recorder();
    drawUnitRows(ctx, {
      ...layout,
      labels: ["e1/0", "e2/0"],
      columns: 4,
      cellColor: (row, column) => `c${row}${column}`,
      labelColor: (row) => (row === 1 ? "blue" : "#333"),
    });
    expect(calls.filter((c) => c.op === "text")).toEqual([
      { op: "text", fill: "#333", args: ["e1/0", 2, 7] },
      { op: "text", fill: "blue", args: ["e2/0", 2, 21] },
    ]);
    const rects = calls.filter((c) => c.op === "rect");
    expect(rects).toHaveLength(8);
    expect(rects[0]).toEqual({ op: "rect", fill: "c00", args: [100, 0, 50, 13] });
    expect(rects[7]).toEqual({ op: "rect", fill: "c13", args: [250, 14, 50, 13] });
  });

  it("finds the unit and column under the pointer, and nothing over the labels or below the rows", () => {
    const o = { ...layout, rows: 2, columns: 4 };
    // Canvas origin at (10, 20): x 10 + 100 + 175 is in the fourth column, y 20 + 15 in the second row.
    expect(unitRowAt(pointer(285, 35), o)).toEqual({ row: 1, column: 3 });
    expect(unitRowAt(pointer(110, 20), o)).toEqual({ row: 0, column: 0 });
    expect(unitRowAt(pointer(105, 25), o)).toBeNull();
    expect(unitRowAt(pointer(150, 20 + 28), o)).toBeNull();
    expect(unitRowAt(pointer(10 + 300, 25), o)).toBeNull();
  });
});
