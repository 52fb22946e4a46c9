/**
 * End to end in a real VS Code (code-server, headless Chromium) with the packaged extension and the real
 * nanocomplete server running the real 0.5B model, which the extension itself starts
 * from the command `nanocomplete register` wrote (as `make setup` does), with no serverCommand setting and no
 * `nanocomplete` on the PATH. scripts/e2e.sh installs and builds what this needs.
 *
 *   1. ghost text appears in a real source file, Tab accepts it, the saved file holds it
 *   2. Escape dismisses a suggestion and the server counts a `rejected` event
 *   3. a completion accepted inside auto-closed `')` leaves the line balanced (no `')')`)
 *   4. typing in a 2,000-line file: the server's counters show requests cancelled, not queued
 *
 * Screenshots, the extension's log and a metrics summary go to test-output/.
 */

import * as assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, before, describe, it } from "node:test";
import { type Browser, chromium } from "playwright-core";
import {
  fetchOk,
  freePort,
  launch,
  metrics,
  paths,
  percentile,
  run,
  type Sample,
  sleep,
  stopByMarker,
  stopGroup,
  value,
  waitFor,
  Workbench,
} from "./harness";
import { SUM_TEST, writeWorkspace } from "./workspace";

const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const GHOST_TIMEOUT_MS = 90_000;
const KEY_MS = 60;
const WORD_PAUSE_MS = 400;

describe("Dash in VS Code (code-server) with the real nanocomplete server", () => {
  const p = paths();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dash-e2e-"));
  const workspace = path.join(tmp, "workspace");
  const { bigMiddleLine } = writeWorkspace(workspace);
  let serverUrl = "";
  let codeServer: ChildProcess | undefined;
  let browser: Browser | undefined;
  let bench: Workbench;

  before(async () => {
    fs.mkdirSync(p.output, { recursive: true });
    serverUrl = `http://127.0.0.1:${await freePort()}`;
    const codeServerPort = await freePort();
    const env = prepareCodeServer(tmp, serverUrl);
    // What `make setup` does on a user's machine: register the server. Dash has no serverCommand setting
    // and `nanocomplete` is on no PATH it sees, so this registration is how it starts the server.
    const flags = (process.env.E2E_SERVE_FLAGS ?? "--threads 2").split(" ").filter(Boolean);
    const telemetry = ["--telemetry-db", path.join(tmp, "telemetry.sqlite3")];
    console.log(run(p.nanocomplete, ["register", "--", ...flags, ...telemetry], env, 60_000).trim());
    const installed = run(
      p.codeServer,
      [...codeServerDirs(tmp), "--install-extension", p.vsix],
      env,
      120_000,
    );
    console.log(installed.trim());
    const args = [...codeServerDirs(tmp), "--bind-addr", `127.0.0.1:${codeServerPort}`, ...CODE_SERVER_FLAGS];
    codeServer = launch(p.codeServer, [...args, workspace], path.join(tmp, "code-server.log"), env);
    const codeServerUrl = `http://127.0.0.1:${codeServerPort}`;
    await waitFor("code-server /healthz", () => fetchOk(`${codeServerUrl}/healthz`), 60_000);
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(`${codeServerUrl}/?folder=${encodeURIComponent(workspace)}`);
    bench = new Workbench(page);
    await bench.ready(90_000);
    // The extension finds no server at serverUrl and starts `nanocomplete serve` itself.
    const health = await waitFor(
      "the server the extension starts",
      () => fetchOk(`${serverUrl}/health`),
      120_000,
    );
    console.log(`server started by the extension: ${health}`);
  });

  after(async () => {
    await bench?.page.screenshot({ path: path.join(p.output, "last.png") }).catch(() => {});
    await browser?.close().catch(() => {});
    stopGroup(codeServer);
    await sleep(500);
    const stopped = stopByMarker(tmp); // the server the extension started, should it outlive its host
    if (stopped.length) console.log(`stopped leftover processes: ${stopped.join(", ")}`);
    copyLogs(tmp, p.output);
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  it("shows ghost text in a real file, accepts it with Tab, and the saved file holds it", async () => {
    await bench.openFile("inventory.py");
    await sleep(2_000); // a user who reads before typing: the warm-up on opening goes out (WARM_DELAY_MS)
    const page = bench.page;
    await page.keyboard.press("Control+End");
    const typed = "    return ";
    await page.keyboard.type(typed, { delay: 80 });
    const ghost = await bench.ghostText(GHOST_TIMEOUT_MS);
    console.log(`ghost text: ${JSON.stringify(ghost)}`);
    assert.ok(ghost.trim().length > 0);
    await page.screenshot({ path: path.join(p.output, "ghost-text.png") });
    await acceptAndSave(bench);
    const file = path.join(workspace, "inventory.py");
    const expected = typed + ghost.trimEnd();
    const saved = await waitFor("the saved file", () => fileHolding(file, expected), 15_000);
    assert.ok(saved.includes(expected));
    const accepted = await waitFor("an accepted event", () => eventCount(serverUrl, "accepted"), 15_000);
    console.log(`server events: accepted ${accepted}, shown ${await eventCount(serverUrl, "shown")}`);
    console.log(`status bar: ${await bench.statusBarText()}`);
    // the `[python]` tier setting reached the server, on completions and on the warm-up of the opened file
    const asked = await metrics(serverUrl);
    const auto = (endpoint: string) =>
      value(asked, "nanocomplete_tier_asked_total", { endpoint, tier: "auto" });
    assert.ok(auto("complete") > 0, "no Python completion asked for tier auto");
    assert.ok(auto("warm") > 0, "no Python warm-up asked for tier auto");
    assert.equal(value(asked, "nanocomplete_tier_asked_total", { endpoint: "complete", tier: "server" }), 0);
  });

  it("counts a suggestion dismissed with Escape as rejected", async () => {
    await bench.openFile("pricing.py");
    const page = bench.page;
    await page.keyboard.press("Control+End");
    await page.keyboard.type("    return ", { delay: 80 });
    const ghost = await bench.ghostText(GHOST_TIMEOUT_MS);
    console.log(`ghost text: ${JSON.stringify(ghost)}`);
    await page.screenshot({ path: path.join(p.output, "ghost-text-before-escape.png") });
    const before = (await eventCount(serverUrl, "rejected")) ?? 0;
    await page.keyboard.press("Escape");
    await waitFor("the ghost text to go", async () => !(await bench.ghostVisible()) || undefined, 10_000);
    const rejected = await waitFor(
      "a rejected event",
      async () => ((await eventCount(serverUrl, "rejected")) ?? 0) > before || undefined,
      15_000,
    );
    assert.ok(rejected);
    console.log(`rejected events: ${before} before Escape, ${await eventCount(serverUrl, "rejected")} after`);
  });

  it("accepting a completion typed inside auto-closed quotes and brackets leaves the line balanced", async () => {
    await bench.openFile("sum.test.js");
    const page = bench.page;
    await page.keyboard.press("Control+End");
    await page.keyboard.type("describe('sum", { delay: KEY_MS }); // the editor adds ')' after the cursor
    const ghost = await bench.ghostText(GHOST_TIMEOUT_MS);
    console.log(`ghost text inside auto-closed characters: ${JSON.stringify(ghost)}`);
    await acceptAndSave(bench);
    const file = path.join(workspace, "sum.test.js");
    const line = await waitFor("the saved line", () => typedLine(file, SUM_TEST), 15_000);
    console.log(`the line after accepting: ${JSON.stringify(line)}`);
    assert.ok(line.startsWith("describe('sum"), `the typed line: ${line}`);
    assert.ok(line.length > "describe('sum')".length, "something was accepted");
    if (!/['")\]}]/.test(ghost)) assert.equal(line, `describe('sum${ghost.trimEnd()}')`); // inserted before `')`
    assert.equal((line.match(/'/g) ?? []).length % 2, 0, `quotes balanced in ${line}`);
    assert.ok(!/'\)'\)|''|\)\)$/.test(line), `no closing characters doubled in ${line}`);
    const opened = (line.match(/[([{]/g) ?? []).length;
    const closed = (line.match(/[)\]}]/g) ?? []).length;
    assert.ok(closed <= opened, `no more closers than openers in ${line}`);
  });

  it("typing in a 2,000-line file cancels requests instead of queueing them", async () => {
    await bench.openFile("orders.py");
    await bench.goToLine(bigMiddleLine);
    await sleep(8_000); // the user reads: the warmup for the jump is sent after 1.5 s and runs
    const page = bench.page;
    await bench.recordKeyLag();
    const before = await metrics(serverUrl);
    const line = "def order_total_with_tax(order: Order, tax_percent: int) -> int:";
    const started = Date.now();
    const words = line.split(/(?<= )/);
    for (const [i, word] of words.entries()) {
      await page.keyboard.type(word, { delay: KEY_MS }); // a fast typist, who pauses between words
      if (i < words.length - 1) await sleep(WORD_PAUSE_MS);
    }
    await page.keyboard.press("Enter");
    const typedAt = Date.now();
    await bench.ghostText(GHOST_TIMEOUT_MS);
    const ghostAfterMs = Date.now() - typedAt;
    await page.screenshot({ path: path.join(p.output, "ghost-text-2000-lines.png") });
    const afterSamples = await settledMetrics(serverUrl);
    const lags = await bench.keyLags();
    const report = typingReport(before, afterSamples, line.length + 1, typedAt - started, ghostAfterMs, lags);
    console.log(report.text);
    console.log(`  the last answer, as the extension logged it: ${lastAnswer(tmp)}`);
    fs.writeFileSync(path.join(p.output, "typing-2000-lines.json"), JSON.stringify(report.numbers, null, 2));
    const { ok, cancelled } = report.numbers.requests;
    assert.ok(ok >= 1, "the last request completed");
    assert.ok(ok + cancelled <= line.length + 1, "at most one request per keystroke");
  });

  it("takes the next words of a suggestion with Ctrl+Right (partially_accepted)", async () => {
    const page = bench.page;
    await page.keyboard.press("Control+End");
    await page.keyboard.press("Enter");
    await page.keyboard.type("def line_count(order: Order) -> int:", { delay: KEY_MS });
    await page.keyboard.press("Enter");
    const ghost = await bench.ghostText(GHOST_TIMEOUT_MS);
    console.log(`ghost text: ${JSON.stringify(ghost)}`);
    const before = (await eventCount(serverUrl, "partially_accepted")) ?? 0;
    await page.keyboard.press("Control+ArrowRight");
    await page.keyboard.press("Control+ArrowRight"); // two words: the first may be a space
    const after = await waitFor(
      "a partially_accepted event",
      async () => {
        const count = (await eventCount(serverUrl, "partially_accepted")) ?? 0;
        return count > before ? count : undefined;
      },
      15_000,
    );
    await page.keyboard.press("Control+S");
    const saved = await waitFor(
      "the saved file",
      () => fileHolding(path.join(workspace, "orders.py"), "def line_count(order: Order) -> int:\n"),
      15_000,
    );
    const body = saved.split("def line_count(order: Order) -> int:\n")[1].split("\n")[0];
    console.log(
      `partially_accepted events: ${before} -> ${after}; the new line holds ${JSON.stringify(body)}`,
    );
    assert.ok(body.trim().length > 0 && ghost.trimStart().startsWith(body.trim()));
  });
});

// --- code-server ---------------------------------------------------------------------------------

const CODE_SERVER_FLAGS = [
  "--auth",
  "none",
  "--disable-telemetry",
  "--disable-update-check",
  "--disable-workspace-trust",
  "--disable-getting-started-override",
  "--ignore-last-opened",
];

const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

function codeServerDirs(tmp: string): string[] {
  const dirs = ["--extensions-dir", path.join(tmp, "extensions"), "--user-data-dir", path.join(tmp, "data")];
  return [...dirs, "--config", path.join(tmp, "code-server.yaml")];
}

/** User settings: the server URL for Dash (no serverCommand: the registered server starts), and a quiet,
 * predictable workbench (no word suggestions competing for Tab, no update checks). Returns the
 * environment code-server runs in: no `nanocomplete` on its PATH. */
function prepareCodeServer(tmp: string, serverUrl: string): NodeJS.ProcessEnv {
  const userDir = path.join(tmp, "data", "User");
  const machineDir = path.join(tmp, "data", "Machine");
  fs.mkdirSync(userDir, { recursive: true });
  fs.mkdirSync(machineDir, { recursive: true });
  // Machine-scoped settings, where a remote window (code-server is one) reads them: from User settings
  // it takes them only until the first settings write (README, "VS Code: the Dash extension")
  const machine = { "nanocomplete.serverUrl": serverUrl, "nanocomplete.autoStartServer": true };
  fs.writeFileSync(path.join(machineDir, "settings.json"), JSON.stringify(machine, null, 2));
  const settings = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.enableExperiments": false,
    "security.workspace.trust.enabled": false,
    "extensions.autoCheckUpdates": false,
    "extensions.autoUpdate": false,
    "extensions.ignoreRecommendations": true,
    "telemetry.telemetryLevel": "off",
    "nanocomplete.telemetry": "on", // kept locally although VS Code's own telemetry is off
    // a per-language tier (language-overridable): Python's requests ask for `auto` (a one-model server
    // answers it with its model); the first check reads the server's count of what was asked
    "[python]": { "nanocomplete.tier": "auto" },
    "update.mode": "none",
    "editor.quickSuggestions": { other: "off", comments: "off", strings: "off" },
    "editor.suggestOnTriggerCharacters": false,
    "editor.wordBasedSuggestions": "off",
    "editor.parameterHints.enabled": false,
    "editor.hover.enabled": false,
    "editor.minimap.enabled": false,
    "files.autoSave": "off",
    "git.enabled": false,
  };
  fs.writeFileSync(path.join(userDir, "settings.json"), JSON.stringify(settings, null, 2));
  const xdg = path.join(tmp, "xdg");
  return {
    ...process.env,
    PATH: withoutNanocomplete(process.env.PATH ?? ""),
    XDG_CONFIG_HOME: path.join(xdg, "config"),
    XDG_DATA_HOME: path.join(xdg, "data"),
    XDG_CACHE_HOME: path.join(xdg, "cache"),
    NANOCOMPLETE_CACHE_DIR: process.env.NANOCOMPLETE_CACHE_DIR ?? defaultModelCache(),
  };
}

/** PATH without any folder that holds a `nanocomplete` command: the test must not find it there. */
function withoutNanocomplete(pathList: string): string {
  const dirs = pathList
    .split(path.delimiter)
    .filter((d) => d && !fs.existsSync(path.join(d, "nanocomplete")));
  return dirs.join(path.delimiter);
}

/** The cache `nanocomplete pull` used (models/ inside it): the test's XDG_CACHE_HOME must not hide it. */
function defaultModelCache(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), ".cache"), "nanocomplete");
}

function dashLog(tmp: string): string | undefined {
  const logs = path.join(tmp, "data", "logs");
  const files = fs.existsSync(logs) ? fs.readdirSync(logs, { recursive: true, encoding: "utf8" }) : [];
  const found = files.find((f) => path.basename(f) === "Dash.log");
  return found && path.join(logs, found);
}

function lastAnswer(tmp: string): string {
  const log = dashLog(tmp);
  const answers = log
    ? fs
        .readFileSync(log, "utf8")
        .split("\n")
        .filter((l) => l.includes(" chars in "))
    : [];
  return answers.at(-1)?.replace(/^.*\[info\] /, "") ?? "(not in the log yet)";
}

function copyLogs(tmp: string, output: string): void {
  const copies: [string | undefined, string][] = [
    [dashLog(tmp), "dash.log"],
    [path.join(tmp, "code-server.log"), "code-server.log"],
  ];
  for (const [from, to] of copies) {
    if (from && fs.existsSync(from)) fs.copyFileSync(from, path.join(output, to));
  }
}

// --- checks --------------------------------------------------------------------------------------

/** Tab accepts the ghost text; once it is in the document, Ctrl+S saves the file. */
async function acceptAndSave(bench: Workbench): Promise<void> {
  await bench.page.keyboard.press("Tab");
  await waitFor(
    "the ghost text to be inserted",
    async () => !(await bench.ghostVisible()) || undefined,
    10_000,
  );
  await bench.page.keyboard.press("Control+S");
}

/** The line typed at the end of a file that held `original`, once the saved file holds it. */
function typedLine(file: string, original: string): string | undefined {
  const text = fs.readFileSync(file, "utf8");
  if (text === original) return undefined;
  return text.trimEnd().split("\n").at(-1);
}

function fileHolding(file: string, expected: string): string | undefined {
  const text = fs.readFileSync(file, "utf8");
  return text.includes(expected) ? text : undefined;
}

async function eventCount(serverUrl: string, kind: string): Promise<number | undefined> {
  const count = value(await metrics(serverUrl), "nanocomplete_events_total", { kind });
  return count > 0 ? count : undefined;
}

/** Metrics once the completion counters have not moved for 2 s (cancellations land at batch ends). */
async function settledMetrics(serverUrl: string): Promise<Sample[]> {
  const answered = (s: Sample[]) => value(s, "nanocomplete_requests_total", { endpoint: "complete" });
  let last = await metrics(serverUrl);
  for (let i = 0; i < 10; i++) {
    await sleep(2_000);
    const now = await metrics(serverUrl);
    if (answered(now) === answered(last)) return now;
    last = now;
  }
  return last;
}

function typingReport(
  before: Sample[],
  after: Sample[],
  keys: number,
  typingMs: number,
  ghostMs: number,
  lags: number[],
) {
  const delta = (name: string, labels: Record<string, string> = {}) =>
    value(after, name, labels) - value(before, name, labels);
  const requests = {
    ok: delta("nanocomplete_requests_total", { endpoint: "complete", outcome: "ok" }),
    cancelled: delta("nanocomplete_requests_total", { endpoint: "complete", outcome: "cancelled" }),
  };
  const cache = Object.fromEntries(
    ["hit", "snapshot", "miss", "result_cache"].map((o) => [
      o,
      delta("nanocomplete_cache_total", { outcome: o }),
    ]),
  );
  const tokens = {
    evaluated: delta("nanocomplete_prompt_tokens_evaluated_total"),
    reused: delta("nanocomplete_prompt_tokens_reused_total"),
  };
  const runs = delta("nanocomplete_completion_latency_seconds_count");
  const latency = {
    completions: runs,
    mean_ms: Math.round((1000 * delta("nanocomplete_completion_latency_seconds_sum")) / Math.max(1, runs)),
  };
  const keyLagMs = {
    p50: percentile(lags, 50),
    p95: percentile(lags, 95),
    max: Math.max(...lags),
    keys: lags.length,
  };
  const numbers = {
    keys,
    typingMs,
    ghostAfterLastKeyMs: ghostMs,
    requests,
    cache,
    tokens,
    latency,
    keyLagMs,
  };
  const r = (x: number) => Math.round(x);
  const text = [
    `2,000-line file: ${keys} keystrokes typed in ${(typingMs / 1000).toFixed(1)} s`,
    `  keydown -> next frame: p50 ${r(keyLagMs.p50)} ms, p95 ${r(keyLagMs.p95)} ms, max ${r(keyLagMs.max)} ms`,
    `  /v1/complete answered: ok ${requests.ok}, cancelled ${requests.cancelled}`,
    `  cache: hit ${cache.hit}, snapshot ${cache.snapshot}, miss ${cache.miss}, result_cache ${cache.result_cache}`,
    `  prompt tokens: evaluated ${tokens.evaluated}, reused ${tokens.reused}`,
    `  completions run to the end: ${latency.completions}, mean ${latency.mean_ms} ms`,
    `  ghost text visible ${ghostMs} ms after the last keystroke`,
  ].join("\n");
  return { numbers, text };
}
