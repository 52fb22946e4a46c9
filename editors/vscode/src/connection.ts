/**
 * The server as the user sees it: the status bar item (state, model, last latency), finding the server
 * (`GET /health`), starting it when it is not reachable, and one clear notification per problem.
 */

import * as os from "node:os";
import * as vscode from "vscode";
import type * as api from "./api";
import { type Client, ForeignServer, ServerError, Unreachable } from "./client";
import type { Settings } from "./provider";
import { type Diagnosis, isLoopback, ServerProcess, serverCommand, serverCommandLine } from "./server";
import { refusal, type ServerState, statusView } from "./status";

export const START_TIMEOUT_MS = 120_000;
const HEALTH_POLL_MS = 1_000;
const RECHECK_AFTER_MS = 10_000;

export class Connection implements vscode.Disposable {
  private state: ServerState = { kind: "checking" };
  private lastLatencyMs: number | undefined;
  private lastCheck = 0;
  private checking: Promise<void> | undefined;
  private gaveUp = false;
  private unanswered = false; // a completion found no server since the last start
  private recheck: ReturnType<typeof setTimeout> | undefined;
  private readonly notified = new Set<string>();
  private readonly process: ServerProcess;

  constructor(
    private readonly client: Client,
    private readonly settings: () => Settings,
    private readonly log: vscode.LogOutputChannel,
    private readonly item: vscode.StatusBarItem,
    private readonly offHere: () => string | undefined = () => undefined,
  ) {
    this.process = new ServerProcess((line) => log.info(`[server] ${line}`));
    item.command = "nanocomplete.menu";
    this.render();
    item.show();
  }

  /** Find the server, starting it if allowed; concurrent calls share one check. After a start failed
   * for a reason that persists (no command, no model, port taken) only `retry` starts it again. */
  check(retry = false): Promise<void> {
    if (retry) this.gaveUp = false;
    this.lastCheck = Date.now();
    this.checking ??= this.findOrStart().finally(() => (this.checking = undefined));
    return this.checking;
  }

  answered(latencyMs: number, response: api.CompleteResponse): void {
    if (response.cancelled) return this.log.debug(`${response.request_id}: cancelled by a newer request`);
    this.lastLatencyMs = latencyMs;
    if (this.state.kind !== "ready" || this.state.model !== response.model) {
      this.setState({ kind: "ready", model: response.model });
    } else this.render();
    this.log.info(describeAnswer(latencyMs, response));
  }

  failed(error: unknown): void {
    if (error instanceof ServerError) {
      this.log.warn(`completion failed: ${error.message}`);
      if (this.state.kind === "foreign" || error.status >= 500) return;
      const message = refusal(error, this.settings().serverUrl);
      this.setState({ kind: "refused", status: error.status, message });
      this.notifyOnce(`http-${error.status}`, message);
      return;
    }
    this.log.warn(`completion failed: ${error instanceof Error ? error.message : String(error)}`);
    if (!(error instanceof Unreachable)) return;
    this.unanswered = true;
    if (this.state.kind === "ready") {
      // not "ready" a moment longer: a server that stopped answering shows so before the next check
      const message = `the server at ${this.settings().serverUrl} stopped answering: ${error.message}`;
      this.setState({ kind: "unreachable", message });
    }
    if (Date.now() - this.lastCheck > RECHECK_AFTER_MS) void this.check();
    else this.recheckLater();
  }

  /** One check when RECHECK_AFTER_MS has passed since the last (a dead server is looked for again, and
   * started where allowed, without waiting for the user's next keystroke). */
  private recheckLater(): void {
    if (this.recheck) return;
    const waitMs = Math.max(0, this.lastCheck + RECHECK_AFTER_MS - Date.now());
    this.recheck = setTimeout(() => {
      this.recheck = undefined;
      void this.check();
    }, waitMs);
  }

  render(): void {
    const view = statusView(this.state, this.settings().enabled, this.lastLatencyMs, this.offHere());
    this.item.text = view.text;
    this.item.tooltip = `${view.tooltip}\nClick for Dash commands`;
  }

  dispose(): void {
    clearTimeout(this.recheck);
    this.process.stop();
    this.item.dispose();
  }

  private async findOrStart(): Promise<void> {
    const settings = this.settings();
    if ((await this.healthy()) !== "none" || this.process.running || this.gaveUp) return;
    if (!settings.autoStartServer || !isLoopback(settings.serverUrl)) {
      const hint = settings.autoStartServer ? "" : " or turn on nanocomplete.autoStartServer";
      const message = `no server answers at ${settings.serverUrl}: start \`nanocomplete serve\`${hint}`;
      this.setState({ kind: "unreachable", message });
      this.notifyOnce("unreachable", message);
      return;
    }
    await this.start(settings);
  }

  private async start(settings: Settings): Promise<void> {
    const command = serverCommandLine(serverCommand(settings.serverCommand), settings.serverUrl);
    const cwd = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath ?? os.homedir();
    this.log.info(`no server at ${settings.serverUrl}: starting \`${command}\` in ${cwd}`);
    this.setState({ kind: "starting", command });
    this.process.start(command, cwd, (diagnosis) => this.exited(diagnosis));
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (this.process.running && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, HEALTH_POLL_MS));
      if ((await this.healthy()) !== "none") return this.askAgain();
    }
    if (!this.process.running) return;
    const message = `the server did not answer within ${START_TIMEOUT_MS / 1000} s: see the log`;
    this.setState({ kind: "failed", message });
  }

  /** A completion that found no server got nothing: ask for the cursor where the user is now. */
  private askAgain(): void {
    if (this.unanswered && vscode.window.activeTextEditor && this.settings().enabled) {
      void vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
    }
    this.unanswered = false;
  }

  /** "ours" (and the state is ready), "foreign" (something else holds the URL: never start a server
   * there) or "none" (nothing answers). */
  private async healthy(): Promise<"ours" | "foreign" | "none"> {
    try {
      const health = await this.client.health();
      if (this.state.kind !== "ready") this.log.info(`server ready: ${health.model} (${health.version})`);
      this.setState({ kind: "ready", model: health.model });
      return "ours";
    } catch (error) {
      if (error instanceof ForeignServer) {
        this.log.error(error.message);
        this.setState({ kind: "foreign", message: `${error.message}; set nanocomplete.serverUrl to ours` });
        this.notifyOnce("foreign", error.message);
        return "foreign";
      }
      this.log.debug(`health: ${error instanceof Error ? error.message : String(error)}`);
      return "none";
    }
  }

  private exited(diagnosis: Diagnosis): void {
    this.log.error(`server: ${diagnosis.message}`);
    this.gaveUp = diagnosis.problem !== "exited";
    this.setState({ kind: "failed", message: diagnosis.message });
    this.notifyOnce(diagnosis.problem, diagnosis.message);
  }

  private notifyOnce(problem: string, message: string): void {
    if (this.notified.has(problem)) return;
    this.notified.add(problem);
    void vscode.window.showWarningMessage(`Dash: ${message}.`, "Show Log").then((choice) => {
      if (choice) this.log.show();
    });
  }

  private setState(state: ServerState): void {
    this.state = state;
    this.render();
  }
}

function describeAnswer(latencyMs: number, response: api.CompleteResponse): string {
  const t = response.timings;
  const tokens = t && `${t.prompt_tokens_evaluated}/${t.prompt_tokens} prompt tokens evaluated`;
  const server = t
    ? `${tokens}, ${Math.round(t.total_ms)} ms in the server, ${Math.round(t.queue_ms)} queued`
    : "no model run";
  const size = `${response.completion.length} chars`;
  return `${response.request_id}: ${size} in ${Math.round(latencyMs)} ms (${response.cache}; ${server})`;
}
