export * from "./image.js";
export * from "./generators.js";
export * from "./random.js";
