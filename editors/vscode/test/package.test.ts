import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

// out/test/package.test.js → the extension's package.json
const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
const properties: Record<string, { scope?: string }> = manifest.contributes.configuration.properties;

/** Settings that start a process, or choose where code and the token go. */
const SENSITIVE = [
  "nanocomplete.serverCommand",
  "nanocomplete.serverUrl",
  "nanocomplete.apiToken",
  "nanocomplete.autoStartServer",
];

describe("package.json: settings per language", () => {
  it("lets the tier be set per language (`[python]`), as the replay measured it pays only there", () => {
    assert.equal(properties["nanocomplete.tier"]?.scope, "language-overridable");
  });
});

describe("package.json: settings a cloned repository must not control", () => {
  it("are machine-scoped, so a workspace's .vscode/settings.json cannot set them", () => {
    for (const name of SENSITIVE) assert.equal(properties[name]?.scope, "machine", name);
  });

  it("are restricted in untrusted workspaces", () => {
    const untrusted = manifest.capabilities?.untrustedWorkspaces;
    assert.equal(untrusted?.supported, "limited");
    assert.deepEqual([...untrusted.restrictedConfigurations].sort(), [...SENSITIVE].sort());
  });
});

describe("package.json: keys", () => {
  it("binds Alt+\\ to Dash: Trigger Completion, which the `enabled` setting promises works when off", () => {
    const bindings: { command: string; key: string }[] = manifest.contributes.keybindings;
    assert.ok(bindings.some((b) => b.command === "nanocomplete.trigger" && b.key === "alt+\\"));
    assert.ok(properties["nanocomplete.enabled"]);
  });
});
