/**
 * Starting `nanocomplete serve` when no server answers, and explaining why it did not start. The
 * command runs through the shell in the workspace root, in a process group of its own, its output goes
 * to the log, and the extension stops the group when it deactivates. No `vscode` here.
 */

import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

export type Problem = "not_found" | "model_missing" | "port_in_use" | "exited";

export interface Diagnosis {
  problem: Problem;
  message: string;
}

const KEPT_OUTPUT_CHARS = 20_000;
const LOOPBACK = new Set(["127.0.0.1", "localhost", "[::1]", "::1"]);

export function isLoopback(serverUrl: string): boolean {
  try {
    return LOOPBACK.has(new URL(serverUrl).hostname);
  } catch {
    return false;
  }
}

/** Where `nanocomplete register` (which `make setup` runs) writes the command that starts the server:
 * platformdirs' `user_config_dir("nanocomplete", appauthor=False)` + `server.json`. */
export function registrationPath(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
  home: string = os.homedir(),
): string {
  if (platform === "win32") {
    return path.join(env.LOCALAPPDATA ?? path.join(home, "AppData", "Local"), "nanocomplete", "server.json");
  }
  if (platform === "darwin")
    return path.join(home, "Library", "Application Support", "nanocomplete", "server.json");
  const config = env.XDG_CONFIG_HOME?.trim() ? env.XDG_CONFIG_HOME : path.join(home, ".config");
  return path.join(config, "nanocomplete", "server.json");
}

/** The registered command as one shell command line, or undefined when none is registered (or the file
 * is not one `register` wrote). */
export function registeredCommand(file: string = registrationPath()): string | undefined {
  let command: unknown;
  try {
    command = (JSON.parse(fs.readFileSync(file, "utf8")) as { command?: unknown }).command;
  } catch {
    return undefined;
  }
  const valid = Array.isArray(command) && command.length > 0 && command.every((a) => typeof a === "string");
  return valid ? (command as string[]).map(shellQuote).join(" ") : undefined;
}

/** The command Dash starts: the setting when given, else what `make setup` registered, else
 * `nanocomplete serve` from the PATH. */
export function serverCommand(
  setting: string,
  registered: () => string | undefined = registeredCommand,
): string {
  return setting.trim() || registered() || "nanocomplete serve";
}

function shellQuote(arg: string): string {
  if (/^[\w@%+=:,./-]+$/.test(arg)) return arg;
  return process.platform === "win32" ? `"${arg.replace(/"/g, '\\"')}"` : `'${arg.replace(/'/g, "'\\''")}'`;
}

/** `command` with `--port` from `serverUrl` added unless the command sets it. */
export function serverCommandLine(command: string, serverUrl: string): string {
  if (/(^|\s)--port(\s|=)/.test(command)) return command.trim();
  const url = new URL(serverUrl);
  const port = url.port || (url.protocol === "https:" ? "443" : "80");
  return `${command.trim()} --port ${port}`;
}

/** Why the server process ended, from its output and exit code. */
export function diagnose(output: string, exitCode: number | null): Diagnosis {
  const pull = /run `(nanocomplete pull[^`]*)`/.exec(output);
  if (pull) {
    return {
      problem: "model_missing",
      message: `the model is not downloaded yet: run \`${pull[1]}\` in a terminal`,
    };
  }
  if (/address already in use/i.test(output)) {
    return {
      problem: "port_in_use",
      message: "another program uses the server's port: change nanocomplete.serverUrl",
    };
  }
  if (exitCode === 127 || /command not found|: not found|No such file or directory/.test(output)) {
    const message =
      "the nanocomplete command was not found: run `make setup` in the nanocomplete checkout (it registers " +
      "the server for Dash), or set nanocomplete.serverCommand to a command that starts it";
    return { problem: "not_found", message };
  }
  const tail = output.trim().split("\n").slice(-1)[0] ?? "";
  return { problem: "exited", message: `the server exited with code ${exitCode}${tail ? `: ${tail}` : ""}` };
}

/** uvicorn's line per HTTP request: the extension logs its own requests, with timings. */
export function isAccessLog(line: string): boolean {
  return /^INFO: +\S+ - "[A-Z]+ \S+ HTTP\/[\d.]+" \d{3}/.test(line);
}

export class ServerProcess {
  private child: ChildProcess | undefined;
  private output = "";
  private readonly stopped = new WeakSet<ChildProcess>();

  constructor(private readonly log: (line: string) => void) {}

  get running(): boolean {
    return this.child !== undefined;
  }

  start(commandLine: string, cwd: string, onExit: (diagnosis: Diagnosis) => void): void {
    this.output = "";
    const env = { ...process.env, PYTHONUNBUFFERED: "1" };
    const detached = process.platform !== "win32"; // its own process group, stopped as a whole
    const child = spawn(commandLine, { cwd, env, shell: true, detached, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    child.stdout?.on("data", (data: Buffer) => this.collect(data));
    child.stderr?.on("data", (data: Buffer) => this.collect(data));
    child.on("error", (error) => this.collect(Buffer.from(`${error.message}\n`)));
    child.on("close", (code) => {
      if (this.child === child) this.child = undefined;
      if (!this.stopped.has(child)) onExit(diagnose(this.output, code));
    });
  }

  stop(): void {
    if (!this.child) return;
    this.stopped.add(this.child);
    const pid = this.child.pid;
    if (pid !== undefined && process.platform !== "win32") {
      try {
        process.kill(-pid, "SIGTERM");
      } catch {
        // already gone
      }
    } else this.child.kill("SIGTERM");
    this.child = undefined;
  }

  private collect(data: Buffer): void {
    const text = data.toString("utf8");
    this.output = (this.output + text).slice(-KEPT_OUTPUT_CHARS);
    for (const line of text.split("\n")) if (line.trim() && !isAccessLog(line)) this.log(line.trimEnd());
  }
}
