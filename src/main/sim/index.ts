export * from "./neurons.js";
export * from "./fake-rig.js";
export * from "./sim-rig.js";
