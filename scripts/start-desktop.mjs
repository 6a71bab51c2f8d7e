#!/usr/bin/env node
// `npm start`: build the desktop app (renderer with Vite, Electron main and preload with esbuild)
// and launch Electron. Without Electron's binary (offline installs), try to fetch it once, then
// say plainly what to do instead. Flags: --build-only (no launch), --no-download; the rest go to the app.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, readdirSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const argv = process.argv.slice(2);
const buildOnly = argv.includes("--build-only");
const noDownload = argv.includes("--no-download") || process.env.CORTEXLOOP_NO_ELECTRON_DOWNLOAD === "1";
const appArgs = argv.filter((a) => a !== "--build-only" && a !== "--no-download");
const electronDir = join(root, "node_modules", "electron");

function say(line) {
  process.stderr.write(`${line}\n`);
}

/** Where Electron's binary is, without require("electron") (which would start a download). */
function electronBinary() {
  const pathFile = join(electronDir, "path.txt");
  if (!existsSync(pathFile)) return undefined;
  const rel = readFileSync(pathFile, "utf8").trim();
  const base = process.env.ELECTRON_OVERRIDE_DIST_PATH ?? join(electronDir, "dist");
  const full = join(base, rel);
  return existsSync(full) ? full : undefined;
}

function tryDownload() {
  if (!existsSync(join(electronDir, "install.js"))) return false;
  say("Electron's binary is not installed; trying to download it (node node_modules/electron/install.js)…");
  const r = spawnSync(process.execPath, [join(electronDir, "install.js")], {
    cwd: root,
    stdio: ["ignore", "inherit", "pipe"],
    timeout: 120_000,
    encoding: "utf8",
  });
  if (r.status === 0) return true;
  const why = r.error
    ? r.error.message
    : (r.stderr ?? "")
        .trim()
        .split("\n")
        .filter((l) => /error|ENOTFOUND|ECONN|ETIMEDOUT|EAI_AGAIN|fetch failed/i.test(l))[0];
  say(`  the download failed${why ? `: ${why.slice(0, 200)}` : ` (exit ${r.status ?? r.signal})`}`);
  return false;
}

function newest(dir) {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

async function buildRenderer() {
  // Tests that build the renderer themselves set this so two builds never race on dist-renderer/.
  if (process.env.CORTEXLOOP_SKIP_RENDERER_BUILD === "1") return;
  const index = join(root, "dist-renderer", "index.html");
  if (existsSync(index) && statSync(index).mtimeMs >= newest(join(root, "src", "renderer"))) return;
  say("building the review UI (vite build → dist-renderer/)…");
  const { build } = await import("vite");
  await build({ configFile: join(root, "vite.config.ts"), logLevel: "warn" });
}

async function buildElectron() {
  const { build } = await import("esbuild");
  const common = {
    bundle: true,
    platform: "node",
    target: "node20",
    packages: "external",
    logLevel: "warning",
    sourcemap: "linked",
    absWorkingDir: root,
  };
  // Electron 45 runs an ESM main (package.json "type": "module"); a sandboxed preload must be CommonJS.
  await build({
    ...common,
    entryPoints: [join(root, "src/main/electron/main.ts")],
    outfile: join(root, "dist/main/electron/main.js"),
    format: "esm",
  });
  await build({
    ...common,
    entryPoints: [join(root, "src/main/electron/preload.ts")],
    outfile: join(root, "dist/main/electron/preload.cjs"),
    format: "cjs",
  });
}

async function main() {
  try {
    await buildRenderer();
    await buildElectron();
  } catch (err) {
    say(
      `The desktop app could not be built: ${err instanceof Error ? err.message : String(err)}\nNothing was ` +
        `started; fix the error above and run \`npm start\` again.`,
    );
    return 1;
  }
  if (buildOnly) {
    say("built dist-renderer/ and dist/main/electron/ (main.js, preload.cjs)");
    return 0;
  }
  let binary = electronBinary();
  if (binary === undefined && !noDownload && tryDownload()) binary = electronBinary();
  if (binary === undefined) {
    say(
      [
        "",
        "cortexloop: Electron's binary is not installed here, so the desktop app cannot start.",
        "The app is built (dist-renderer/, dist/main/electron/); nothing else was changed. What you can do:",
        "  • on a machine with internet access: node node_modules/electron/install.js   (then npm start)",
        "  • behind a mirror or proxy: ELECTRON_MIRROR=https://your.mirror/electron/ node " +
          "node_modules/electron/install.js",
        "  • or use the same review UI in a browser:",
        "        npx cortexloop serve --db <file>      (then open the printed http://127.0.0.1:…/#token=… URL)",
        "",
      ].join("\n"),
    );
    return 1;
  }
  const child = spawn(binary, [root, ...appArgs], {
    cwd: root,
    stdio: "inherit",
    env: { ...process.env, ELECTRON_RUN_AS_NODE: undefined },
  });
  const forward = (sig) => child.kill(sig);
  process.on("SIGINT", forward);
  process.on("SIGTERM", forward);
  return await new Promise((resolveExit) => {
    child.on("error", (err) => {
      say(
        `Electron did not start (${err.message}); nothing was changed. Try \`cortexloop serve --db <file>\` instead.`,
      );
      resolveExit(1);
    });
    child.on("exit", (code, signal) => {
      process.off("SIGINT", forward);
      process.off("SIGTERM", forward);
      resolveExit(code ?? (signal ? 1 : 0));
    });
  });
}

process.exitCode = await main();
