/**
 * Dash: wires the modules to VS Code. Settings, commands and editor events in; the provider, warmups,
 * telemetry and the status bar out. Logic lives in modules without `vscode` (client, debounce, request,
 * recent, warm, events, retention, server, status); feedback, navigation, connection and provider are
 * their VS Code sides.
 */

import * as vscode from "vscode";
import type * as api from "./api";
import { Client } from "./client";
import { Connection } from "./connection";
import { DEFAULT_TELEMETRY, EventQueue, type TelemetrySetting, telemetryAllowed } from "./events";
import { Feedback } from "./feedback";
import { Navigation } from "./navigation";
import { DEFAULT_DISABLED_FILES, DEFAULT_LANGUAGES } from "./enablement";
import { ACCEPTED_COMMAND, documentAllowed, offReason, Provider, SELECTOR, type Settings } from "./provider";

/** The settings, as they apply to `document` when given: a language-overridable one (`tier`) may be set
 * per language, e.g. `"[python]": { "nanocomplete.tier": "auto" }`. */
export function readSettings(document?: vscode.TextDocument): Settings {
  const c = vscode.workspace.getConfiguration("nanocomplete", document);
  return {
    serverUrl: c.get("serverUrl", "http://127.0.0.1:8012"),
    enabled: c.get("enabled", true),
    maxTokens: c.get<number | null>("maxTokens", null),
    maxGenerationMs: c.get<number | null>("maxGenerationMs", null),
    tier: c.get<api.Tier | null>("tier", null),
    debounceMs: c.get("debounceMs", 150),
    serverCommand: c.get("serverCommand", ""),
    autoStartServer: c.get("autoStartServer", true),
    apiToken: c.get("apiToken", ""),
    languages: { ...DEFAULT_LANGUAGES, ...c.get<Record<string, boolean>>("languages", {}) },
    disabledFiles: c.get("disabledFiles", DEFAULT_DISABLED_FILES),
    telemetry: c.get<TelemetrySetting>("telemetry", DEFAULT_TELEMETRY),
  };
}

let dash: Dash | undefined;

export function activate(context: vscode.ExtensionContext): void {
  dash = new Dash(context);
  context.subscriptions.push(dash);
  void dash.connection.check();
}

/** Sends the telemetry still queued; the subscriptions are disposed after this. */
export async function deactivate(): Promise<void> {
  await dash?.queue.flush();
  dash = undefined;
}

class Dash implements vscode.Disposable {
  readonly log = vscode.window.createOutputChannel("Dash", { log: true });
  readonly client = new Client(readSettings);
  readonly queue = new EventQueue(
    (events) => this.client.events(events),
    (error) => this.log.warn(`telemetry not sent: ${String(error)}`),
  );
  // events go to the local server only (never off the machine), while nanocomplete.telemetry allows them
  readonly feedback = new Feedback((event) => {
    if (telemetryAllowed(readSettings().telemetry, vscode.env.isTelemetryEnabled)) this.queue.push(event);
  });
  readonly navigation = new Navigation(
    this.client,
    () => readSettings().enabled,
    (document) => documentAllowed(document, readSettings()),
    (document) => readSettings(document).tier,
    (document) => readSettings(document).disabledFiles,
    this.log,
  );
  readonly connection: Connection;
  private readonly disposables: vscode.Disposable[];

  constructor(context: vscode.ExtensionContext) {
    const item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
    this.connection = new Connection(this.client, readSettings, this.log, item, () => {
      const document = vscode.window.activeTextEditor?.document;
      return document && offReason(document, readSettings(document));
    });
    const parts = [this.log, this.connection, this.feedback, this.navigation];
    this.disposables = [...parts, this.registerProvider(), ...this.commands(), ...this.listeners()];
    this.log.info(`Dash ${context.extension.packageJSON.version}: server ${readSettings().serverUrl}`);
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }

  /** With the editor's show / partial-accept callbacks where VS Code allows them (a proposed API in
   * VS Code 1.99: desktop VS Code refuses it at registration, code-server allows it), else without. */
  private registerProvider(): vscode.Disposable {
    const provider = new Provider({
      client: this.client,
      settings: (document) => readSettings(document),
      clock: this.navigation.clock,
      tracker: this.feedback.tracker,
      recent: this.navigation.recent,
      cancelWarm: (uri) => this.navigation.warm.cancel(uri),
      editorReportsShown: () => this.feedback.editorReports,
      answered: (latencyMs, response) => this.connection.answered(latencyMs, response),
      failed: (error) => this.connection.failed(error),
    });
    const hooked = {
      provideInlineCompletionItems: provider.provideInlineCompletionItems.bind(provider),
      handleDidShowCompletionItem: (item: vscode.InlineCompletionItem) => this.feedback.editorShown(item),
      handleDidPartiallyAcceptCompletionItem: (item: vscode.InlineCompletionItem, info: unknown) =>
        this.feedback.editorPartiallyAccepted(item, info),
    };
    try {
      const registration = vscode.languages.registerInlineCompletionItemProvider(SELECTOR, hooked);
      this.feedback.editorReports = true;
      this.log.info("shown / partially accepted: reported by the editor");
      return registration;
    } catch {
      this.log.info("shown / partially accepted: not reported by this VS Code; Dash tracks them itself");
      return vscode.languages.registerInlineCompletionItemProvider(SELECTOR, provider);
    }
  }

  private commands(): vscode.Disposable[] {
    const register = vscode.commands.registerCommand;
    const feedback = this.feedback;
    return [
      register(ACCEPTED_COMMAND, (id: string) => feedback.accepted(id)),
      register("nanocomplete.acceptNextWord", () =>
        feedback.acceptPart("editor.action.inlineSuggest.acceptNextWord"),
      ),
      register("nanocomplete.acceptNextLine", () =>
        feedback.acceptPart("editor.action.inlineSuggest.acceptNextLine"),
      ),
      register("nanocomplete.dismiss", () => feedback.dismiss()),
      register("nanocomplete.toggle", () => this.toggle()),
      register("nanocomplete.trigger", () => this.trigger()),
      register("nanocomplete.showLog", () => this.log.show()),
      register("nanocomplete.menu", () => this.menu()),
    ];
  }

  private listeners(): vscode.Disposable[] {
    const { workspace, window } = vscode;
    return [
      workspace.onDidChangeTextDocument((e) => {
        this.feedback.edited(e);
        this.navigation.edited(e);
      }),
      workspace.onDidCloseTextDocument((document) => {
        this.feedback.closed(document.uri.toString());
        this.navigation.closed(document.uri.toString());
      }),
      workspace.onDidChangeConfiguration((e) => this.configured(e)),
      window.onDidChangeActiveTextEditor((editor) => {
        this.navigation.switched(editor);
        this.connection.render(); // on or off in this file
      }),
      window.onDidChangeTextEditorSelection((e) => this.navigation.moved(e)),
    ];
  }

  private async toggle(): Promise<void> {
    const enabled = !readSettings().enabled;
    const settings = vscode.workspace.getConfiguration("nanocomplete");
    await settings.update("enabled", enabled, vscode.ConfigurationTarget.Global);
    void vscode.window.setStatusBarMessage(`Dash: completions ${enabled ? "on" : "off"}`, 2_000);
  }

  private async trigger(): Promise<void> {
    void this.connection.check(true);
    await vscode.commands.executeCommand("editor.action.inlineSuggest.trigger");
  }

  private async menu(): Promise<void> {
    const toggle = readSettings().enabled ? "Disable completions" : "Enable completions";
    const items = [
      { label: toggle, command: "nanocomplete.toggle" },
      { label: "Trigger a completion", command: "nanocomplete.trigger" },
      { label: "Show the log", command: "nanocomplete.showLog" },
    ];
    const picked = await vscode.window.showQuickPick(items, { title: "Dash" });
    if (picked) await vscode.commands.executeCommand(picked.command);
  }

  private configured(e: vscode.ConfigurationChangeEvent): void {
    if (!e.affectsConfiguration("nanocomplete")) return;
    this.connection.render();
    const server = ["serverUrl", "apiToken", "serverCommand", "autoStartServer"];
    if (server.some((name) => e.affectsConfiguration(`nanocomplete.${name}`)))
      void this.connection.check(true);
  }
}
