export { r2er, median, type R2erResult } from "./r2er.js";
export { r2Raw } from "./r2-raw.js";
export { splitHalfReliability, type SplitHalfResult } from "./split-half-reliability.js";
