export * from "./store.js";
export * from "./types.js";
export { migrate, migrations, latestSchemaVersion, currentSchemaVersion } from "./migrations.js";
