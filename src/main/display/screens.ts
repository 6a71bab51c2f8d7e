/** Finding the display the rig file names among the ones the system has (no Electron import: tested in plain Node). */
import type { WindowDisplayConfig } from "../protocol/schema.js";

/** A display as Electron's screen module describes it. */
export interface SystemDisplay {
  id: number;
  label?: string;
  bounds: { x: number; y: number; width: number; height: number };
  scaleFactor: number;
  displayFrequency?: number;
}

function describe(d: SystemDisplay, i: number): string {
  const px = `${Math.round(d.bounds.width * d.scaleFactor)}×${Math.round(d.bounds.height * d.scaleFactor)}`;
  const hz = d.displayFrequency !== undefined ? ` at ${d.displayFrequency} Hz` : "";
  return `index ${i}: id ${d.id}${d.label ? ` "${d.label}"` : ""}, ${px} px at (${d.bounds.x}, ${d.bounds.y})${hz}`;
}

/**
 * The display `screen` names (by id, else by position; default the primary one), or an error that lists the displays
 * there are. Displays are ordered left to right, then top to bottom, so an index means the same after a reboot.
 */
export function pickDisplay(
  displays: readonly SystemDisplay[],
  primary: SystemDisplay,
  screen: WindowDisplayConfig["screen"],
): SystemDisplay {
  const ordered = [...displays].sort((a, b) => a.bounds.x - b.bounds.x || a.bounds.y - b.bounds.y);
  const list = ordered.map(describe).join("; ");
  if (screen === undefined || (screen.id === undefined && screen.index === undefined)) return primary;
  if (screen.id !== undefined) {
    const found = ordered.find((d) => d.id === screen.id);
    if (found === undefined) {
      throw new Error(
        `The rig file names display id ${screen.id}, which this computer does not have (it has ${list}); ` +
          "nothing was run. Fix display.screen.",
      );
    }
    return found;
  }
  const found = ordered[screen.index!];
  if (found === undefined) {
    throw new Error(
      `The rig file names display index ${screen.index}, but this computer has ${ordered.length} (${list}); ` +
        "nothing was run. Fix display.screen.",
    );
  }
  return found;
}
