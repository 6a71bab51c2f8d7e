export * from "./image.js";
export * from "./generators.js";
export * from "./random.js";
export * from "./calibration.js";
export * from "./frame-timing.js";
export * from "./parametric.js";
export * from "./sweeps.js";
export * from "./ahead.js";
