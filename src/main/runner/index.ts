export * from "./clock.js";
export * from "./runner.js";
export * from "./schedule.js";
export * from "./replay.js";
export * from "./events.js";
export * from "./control.js";
