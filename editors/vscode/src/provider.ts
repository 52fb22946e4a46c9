/**
 * The inline completion provider: gate, debounce, one `POST /v1/complete`, one item. VS Code cancels
 * the token when the user types on; that aborts the debounce or the HTTP request, and the server stops
 * the generation.
 */

import * as vscode from "vscode";
import type * as api from "./api";
import { type Client, isAbort } from "./client";
import { debounceMs, delay, type KeystrokeClock } from "./debounce";
import { languageEnabled } from "./enablement";
import type { TelemetrySetting, Tracker } from "./events";
import type { RecentSnippets } from "./recent";
import {
  completeRequest,
  type DocumentState,
  newRequestId,
  shouldComplete,
  withinLimits,
  withSelectedItem,
} from "./request";

export interface Settings {
  serverUrl: string;
  enabled: boolean;
  maxTokens: number | null;
  maxGenerationMs: number | null;
  tier: api.Tier | null;
  debounceMs: number;
  serverCommand: string;
  autoStartServer: boolean;
  apiToken: string;
  languages: Record<string, boolean>;
  disabledFiles: string[];
  telemetry: TelemetrySetting;
}

/** Whether Dash may read `document` at all: its language is on and it is not a file that holds
 * secrets (see enablement.ts). Completions, warm-ups and recent snippets all ask. */
export function documentAllowed(document: vscode.TextDocument, settings: Settings): boolean {
  return offReason(document, settings) === undefined;
}

/** Why Dash may not read `document` (what the status bar says), or undefined where it may. */
export function offReason(document: vscode.TextDocument, settings: Settings): string | undefined {
  if (!languageEnabled(document.languageId, settings.languages))
    return `${document.languageId} is off in nanocomplete.languages`;
  const glob = settings.disabledFiles.find((pattern) => vscode.languages.match({ pattern }, document) > 0);
  return glob === undefined ? undefined : `it matches ${glob} in nanocomplete.disabledFiles`;
}

export interface ProviderDeps {
  client: Client;
  /** The settings as they apply to `document` (its language's overrides). */
  settings: (document: vscode.TextDocument) => Settings;
  clock: KeystrokeClock;
  tracker: Tracker;
  recent: RecentSnippets;
  cancelWarm: (uri: string) => void;
  editorReportsShown: () => boolean;
  answered: (latencyMs: number, response: api.CompleteResponse) => void;
  failed: (error: unknown) => void;
}

export const ACCEPTED_COMMAND = "nanocomplete.accepted";
export const SELECTOR: vscode.DocumentSelector = [{ scheme: "file" }, { scheme: "untitled" }];

export class Provider implements vscode.InlineCompletionItemProvider {
  constructor(private readonly deps: ProviderDeps) {}

  async provideInlineCompletionItems(
    document: vscode.TextDocument,
    position: vscode.Position,
    context: vscode.InlineCompletionContext,
    token: vscode.CancellationToken,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const invoked = context.triggerKind === vscode.InlineCompletionTriggerKind.Invoke;
    const trigger = invoked ? "invoked" : "automatic";
    const settings = this.deps.settings(document);
    if (!documentAllowed(document, settings)) return undefined;
    const line = document.lineAt(position.line).text;
    if (!wanted(settings, context, trigger, line, position.character)) return undefined;
    const linePrefix = line.slice(0, position.character);
    this.deps.tracker.requested(document.uri.toString(), position.line, linePrefix);
    this.deps.cancelWarm(document.uri.toString());
    const abort = new AbortController();
    const subscription = token.onCancellationRequested(() => abort.abort());
    try {
      if (!(await delay(this.pauseMs(trigger, linePrefix, settings), abort.signal))) return undefined;
      const selected = context.selectedCompletionInfo;
      return await this.complete(document, position, linePrefix, trigger, selected, abort.signal);
    } catch (error) {
      if (!isAbort(error)) this.deps.failed(error);
      return undefined;
    } finally {
      subscription.dispose();
    }
  }

  private pauseMs(trigger: api.TriggerKind, linePrefix: string, settings: Settings): number {
    if (trigger === "invoked") return 0;
    return debounceMs(linePrefix, this.deps.clock.burstIntervalMs(Date.now()), settings.debounceMs);
  }

  private async complete(
    document: vscode.TextDocument,
    position: vscode.Position,
    linePrefix: string,
    triggerKind: api.TriggerKind,
    selected: vscode.SelectedCompletionInfo | undefined,
    signal: AbortSignal,
  ): Promise<vscode.InlineCompletionItem[] | undefined> {
    const requestId = newRequestId();
    const { maxTokens, maxGenerationMs, tier, disabledFiles } = this.deps.settings(document);
    const current = documentState(document, position, this.deps.recent, disabledFiles);
    const item = selected && asIfAccepted(current, selected);
    if (selected && !item) return undefined;
    const state = item ? item.doc : current;
    if (!withinLimits(state.text)) return undefined;
    const body = completeRequest(state, { requestId, triggerKind, maxTokens, maxGenerationMs, tier });
    const started = performance.now();
    const response = await this.deps.client.complete(body, signal);
    const latencyMs = performance.now() - started;
    this.deps.answered(latencyMs, response);
    if (signal.aborted || response.cancelled || !response.completion || response.hidden_by_confidence) {
      return undefined;
    }
    const { uri, language } = state;
    const range = toRange(response.replace_range);
    if (item && range.end.line !== position.line) return undefined;
    // with the suggest widget's item: its text, then ours, over its range (what VS Code shows)
    const text = item ? item.text + response.completion : response.completion;
    const completion = item ? text.slice(item.typed.length) : text; // what goes after the typed text
    const answer = { requestId, uri, language, completion, latencyMs, line: position.line, linePrefix };
    const id = this.deps.tracker.answered(answer, !this.deps.editorReportsShown());
    const command = { title: "Dash: accepted", command: ACCEPTED_COMMAND, arguments: [id] };
    if (!item) return [new vscode.InlineCompletionItem(text, range, command)];
    const end = range.end.character - item.shift; // back in the document's columns
    const itemRange = new vscode.Range(position.line, item.start, position.line, end);
    return [new vscode.InlineCompletionItem(text, itemRange, command)];
  }
}

function wanted(
  settings: Settings,
  context: vscode.InlineCompletionContext,
  trigger: api.TriggerKind,
  line: string,
  character: number,
): boolean {
  if (trigger === "automatic" && !settings.enabled) return false;
  const selected = context.selectedCompletionInfo; // the suggest widget is open: complete after its item
  if (selected && selected.range.start.line !== selected.range.end.line) return false;
  return shouldComplete(line, character, trigger);
}

/** The document, cursor and context as the server wants them. */
export function documentState(
  document: vscode.TextDocument,
  position: vscode.Position,
  recent: RecentSnippets,
  disabledFiles: string[],
): DocumentState {
  const uri = document.uri.toString();
  return {
    uri,
    language: document.languageId,
    text: document.getText(),
    cursor: { line: position.line, character: position.character },
    workspaceRoot: vscode.workspace.getWorkspaceFolder(document.uri)?.uri.fsPath,
    recent: recent.snippets(uri, readLines),
    disabledFiles,
  };
}

function readLines(uri: string, startLine: number, endLine: number): string | undefined {
  const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
  return document?.getText(new vscode.Range(startLine, 0, Math.min(endLine, document.lineCount), 0));
}

export function itemRequestId(item: vscode.InlineCompletionItem): string | undefined {
  const id = item.command?.arguments?.[0];
  return typeof id === "string" ? id : undefined;
}

/** The request as if the suggest widget's selected item were accepted (`withSelectedItem`). */
function asIfAccepted(doc: DocumentState, selected: vscode.SelectedCompletionInfo) {
  const start = selected.range.start.character;
  const found = withSelectedItem(doc, { text: selected.text, start, end: selected.range.end.character });
  return found && { ...found, text: selected.text, start };
}

function toRange(range: api.Range): vscode.Range {
  return new vscode.Range(range.start.line, range.start.character, range.end.line, range.end.character);
}
