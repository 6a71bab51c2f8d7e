export * from "./neurons.js";
export * from "./fake-rig.js";
