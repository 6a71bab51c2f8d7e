import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";
import { dirname, resolve } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));

// The renderer: one build for Electron (cortexloop://app/) and the browser (cortexloop serve, cortexloop run).
export default defineConfig({
  root: resolve(here, "src/renderer"),
  base: "./",
  plugins: [react()],
  build: {
    outDir: resolve(here, "dist-renderer"),
    emptyOutDir: true,
    // No inline scripts or styles: the CSP allows 'self' only.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    chunkSizeWarningLimit: 1500,
    sourcemap: false,
    // Two pages: the review UI and the full-screen stimulus window.
    rollupOptions: {
      input: { index: resolve(here, "src/renderer/index.html"), stimulus: resolve(here, "src/renderer/stimulus.html") },
    },
  },
  server: { host: "127.0.0.1", port: 5173, strictPort: true },
});
