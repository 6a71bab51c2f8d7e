#!/usr/bin/env node
// Runs the TypeScript command line through tsx, so the headless controller needs no build step.
import { register } from "tsx/esm/api";
import { fileURLToPath, pathToFileURL } from "node:url";
import { dirname, join } from "node:path";

register();
const here = dirname(fileURLToPath(import.meta.url));
const cli = await import(pathToFileURL(join(here, "..", "src", "main", "cli.ts")).href);
process.exitCode = await cli.main(process.argv.slice(2));
