import js from "@eslint/js";
import prettier from "eslint-config-prettier";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["build/", "node_modules/", ".demo/", ".test-tmp/", ".compat/", "bench-results/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    files: ["**/*.js"],
    languageOptions: { sourceType: "commonjs", globals: { ...globals.node, ...globals.mocha } },
    rules: { "@typescript-eslint/no-require-imports": "off" },
  },
  {
    // Editor code that runs in the browser, beside Node-RED's editor (jQuery and RED).
    files: ["resources/**/*.js"],
    languageOptions: {
      sourceType: "script",
      globals: { ...globals.browser, $: "readonly", RED: "readonly" },
    },
  },
  prettier,
);
