/**
 * What the end-to-end test drives: processes (code-server, found by $CODE_SERVER), ports, the
 * nanocomplete server's Prometheus metrics, and the VS Code workbench in headless Chromium.
 */

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import type { Page } from "playwright-core";

export const EXTENSION_ROOT = path.resolve(__dirname, "../..");
export const REPO_ROOT = path.resolve(EXTENSION_ROOT, "../..");

export interface Paths {
  codeServer: string;
  vsix: string;
  nanocomplete: string;
  output: string;
}

export function paths(): Paths {
  const version = JSON.parse(fs.readFileSync(path.join(EXTENSION_ROOT, "package.json"), "utf8")).version;
  const codeServer = process.env.CODE_SERVER;
  if (!codeServer) throw new Error("set CODE_SERVER to a code-server binary (scripts/e2e.sh installs one)");
  return {
    codeServer,
    vsix: process.env.DASH_VSIX ?? path.join(EXTENSION_ROOT, `dash-${version}.vsix`),
    nanocomplete: process.env.NANOCOMPLETE_BIN ?? path.join(REPO_ROOT, ".venv/bin/nanocomplete"),
    output: process.env.E2E_OUTPUT ?? path.join(EXTENSION_ROOT, "test-output"),
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Starts a process in its own process group, its output appended to `logFile`. */
export function launch(
  command: string,
  args: string[],
  logFile: string,
  env: NodeJS.ProcessEnv,
): ChildProcess {
  const out = fs.openSync(logFile, "a");
  const child = spawn(command, args, { env, detached: true, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  return child;
}

export function stopGroup(child: ChildProcess | undefined): void {
  if (child?.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, "SIGTERM");
  } catch {
    // already gone
  }
}

/** Stops the processes whose command line contains `marker` (a path only this run uses). */
export function stopByMarker(marker: string): number[] {
  const stopped: number[] = [];
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    let commandLine = "";
    try {
      commandLine = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
    } catch {
      continue;
    }
    if (!commandLine.includes(marker) || Number(pid) === process.pid) continue;
    try {
      process.kill(Number(pid), "SIGTERM");
      stopped.push(Number(pid));
    } catch {
      // gone meanwhile
    }
  }
  return stopped;
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  intervalMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await Promise.resolve()
      .then(probe)
      .catch(() => undefined);
    if (value !== undefined && value !== false) return value as T;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function fetchOk(url: string): Promise<string | undefined> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return response.ok ? response.text() : undefined;
}

export function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): string {
  return execFileSync(command, args, { env, timeout: timeoutMs, encoding: "utf8", stdio: "pipe" });
}

// --- Prometheus metrics ----------------------------------------------------------------------------------

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export async function metrics(serverUrl: string): Promise<Sample[]> {
  const text = await fetchOk(`${serverUrl}/metrics`);
  if (text === undefined) throw new Error("no /metrics");
  return text
    .split("\n")
    .filter((line) => line && !line.startsWith("#"))
    .map(parseSample);
}

function parseSample(line: string): Sample {
  const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s+(\S+)/.exec(line);
  if (!match) return { name: line, labels: {}, value: NaN };
  const labels: Record<string, string> = {};
  for (const [, key, value] of (match[2] ?? "").matchAll(/(\w+)="([^"]*)"/g)) labels[key] = value;
  return { name: match[1], labels, value: Number(match[3]) };
}

/** The sum of the samples named `name` whose labels include `labels` (0 when none). */
export function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}

// --- the workbench --------------------------------------------------------------------------------------

export const GHOST = ".monaco-editor .ghost-text-decoration";
const GHOST_FIRST_LINE = ".monaco-editor .view-lines .ghost-text-decoration"; // later lines: view zones

export class Workbench {
  constructor(readonly page: Page) {}

  async ready(timeoutMs: number): Promise<void> {
    await this.page.waitForSelector(".monaco-workbench .part.editor", { timeout: timeoutMs });
    await this.page.waitForSelector(".monaco-workbench .part.statusbar", { timeout: timeoutMs });
  }

  async openFile(name: string): Promise<void> {
    await this.page.keyboard.press("Control+P");
    await this.page.waitForSelector(".quick-input-widget .quick-input-box input", { state: "visible" });
    await this.page.keyboard.type(name, { delay: 20 });
    await this.page.waitForSelector(`.quick-input-list .monaco-list-row[aria-label*="${name}"]`);
    await this.page.keyboard.press("Enter");
    await this.page.waitForSelector(`.tabs-container .tab.active[aria-label*="${name}"]`);
    await this.page.waitForSelector(".monaco-editor.focused", { timeout: 10_000 });
  }

  async goToLine(line: number): Promise<void> {
    await this.page.keyboard.press("Control+G");
    await this.page.waitForSelector(".quick-input-widget .quick-input-box input", { state: "visible" });
    await this.page.keyboard.type(String(line));
    await this.page.keyboard.press("Enter");
    await this.page.waitForSelector(".monaco-editor.focused");
  }

  /** The first line of the ghost text once it is visible (spaces as spaces). VS Code renders it as
   * several decorated spans when it colours the tokens: they are joined. */
  async ghostText(timeoutMs: number): Promise<string> {
    await this.page.locator(GHOST).first().waitFor({ state: "visible", timeout: timeoutMs });
    const parts = await this.page.locator(GHOST_FIRST_LINE).allTextContents();
    return parts.join("").replace(/\u00a0/g, " ");
  }

  ghostVisible(): Promise<boolean> {
    return this.page.locator(GHOST).first().isVisible();
  }

  /** Milliseconds from each keydown to the next rendered frame, recorded in the page. */
  async recordKeyLag(): Promise<void> {
    await this.page.evaluate(`
      window.__keyLagMs = [];
      document.addEventListener("keydown", () => {
        const start = performance.now();
        requestAnimationFrame(() => setTimeout(() => window.__keyLagMs.push(performance.now() - start), 0));
      }, true);
    `);
  }

  keyLags(): Promise<number[]> {
    return this.page.evaluate("window.__keyLagMs.slice()") as Promise<number[]>;
  }

  async statusBarText(): Promise<string> {
    const items = await this.page.locator(".statusbar-item").allTextContents();
    return items.find((t) => t.includes("Dash")) ?? "";
  }
}

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}
