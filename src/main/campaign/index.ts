export * from "./bank.js";
export * from "./campaign.js";
export * from "./dataset-from-session.js";
export * from "./rig.js";
export * from "./setup.js";
export * from "./neuron-cache.js";
export * from "./defaults.js";
export * from "./paired.js";
