import { DEFAULT_TELEMETRY } from "../src/events";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";
import { DEFAULT_DISABLED_FILES, DEFAULT_LANGUAGES, languageEnabled } from "../src/enablement";

const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
const properties = manifest.contributes.configuration.properties;

describe("where Dash completes", () => {
  it("is off by default for plain text, Markdown and .env files, on for code", () => {
    for (const language of ["plaintext", "markdown", "dotenv"]) {
      assert.equal(languageEnabled(language, DEFAULT_LANGUAGES), false, language);
    }
    for (const language of ["python", "typescript", "typescriptreact", "javascript"]) {
      assert.equal(languageEnabled(language, DEFAULT_LANGUAGES), true, language);
    }
  });

  it("follows a user's per-language switches over the defaults", () => {
    const languages = { ...DEFAULT_LANGUAGES, markdown: true, "*": false, python: true };
    assert.equal(languageEnabled("markdown", languages), true);
    assert.equal(languageEnabled("rust", languages), false);
    assert.equal(languageEnabled("python", languages), true);
  });

  it("declares the same defaults in package.json as the code uses", () => {
    assert.deepEqual(properties["nanocomplete.languages"].default, DEFAULT_LANGUAGES);
    assert.deepEqual(properties["nanocomplete.disabledFiles"].default, DEFAULT_DISABLED_FILES);
    assert.ok(DEFAULT_DISABLED_FILES.includes("**/.env") && DEFAULT_DISABLED_FILES.includes("**/*.pem"));
    assert.equal(properties["nanocomplete.telemetry"].default, DEFAULT_TELEMETRY);
  });
});
