export * from "./types.js";
export * from "./codes.js";
export * from "./factory.js";
