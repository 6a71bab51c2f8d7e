// ESLint: the JavaScript and typescript-eslint recommended rules and no line over 120 characters;
// Prettier formats (`npm run format`). `npm test` runs `npm run lint` (both checks) first.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "dist/",
      "dist-renderer/",
      "release/",
      "coverage/",
      "artifacts/",
      "scratch/",
      ".cache/",
      "campaign-demo/",
      "selection-cache/",
      "active-bench*/",
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      ecmaVersion: 2023,
      sourceType: "module",
      globals: { process: "readonly", console: "readonly", URL: "readonly", setTimeout: "readonly" },
    },
    rules: {
      "max-len": ["error", { code: 120 }],
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
    },
  },
);
