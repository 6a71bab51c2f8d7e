export * from "./store.js";
export * from "./types.js";
export { migrate, migrations, latestSchemaVersion, currentSchemaVersion } from "./migrations.js";
export * from "./display-timing.js";
export * from "./studies.js";
