/**
 * Where the user types and looks, from VS Code's side: keystroke times (for the debounce), recently
 * edited and viewed places (the `recent` snippets) and the warmups on file switches and cursor jumps.
 */

import * as vscode from "vscode";
import type * as api from "./api";
import type { Client } from "./client";
import { KeystrokeClock } from "./debounce";
import { documentState, SELECTOR } from "./provider";
import { RecentSnippets } from "./recent";
import { warmRequest } from "./request";
import { WarmScheduler } from "./warm";

export class Navigation implements vscode.Disposable {
  readonly clock = new KeystrokeClock();
  readonly recent = new RecentSnippets();
  readonly warm: WarmScheduler;
  private previous: vscode.TextEditor | undefined = vscode.window.activeTextEditor;

  constructor(
    private readonly client: Client,
    private readonly enabled: () => boolean,
    private readonly allowed: (document: vscode.TextDocument) => boolean,
    private readonly tier: (document: vscode.TextDocument) => api.Tier | null,
    private readonly disabledFiles: (document: vscode.TextDocument) => string[],
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.warm = new WarmScheduler((uri) => this.sendWarm(uri));
  }

  edited(e: vscode.TextDocumentChangeEvent): void {
    if (e.document !== vscode.window.activeTextEditor?.document || e.contentChanges.length === 0) return;
    if (e.contentChanges.every((c) => c.text.length <= 2)) this.clock.record(Date.now());
    const line = e.contentChanges[0].range.start.line;
    if (e.document.uri.scheme === "file") this.note(e.document, line);
  }

  closed(uri: string): void {
    this.recent.forget(uri);
  }

  /** File switch: remember where the user was in the file left, warm the one entered. */
  switched(editor: vscode.TextEditor | undefined): void {
    const left = this.previous;
    if (left && left.document.uri.scheme === "file" && !left.document.isClosed) {
      const visible = left.visibleRanges[0];
      const middle = visible && Math.floor((visible.start.line + visible.end.line) / 2);
      this.note(left.document, middle ?? left.selection.active.line);
    }
    this.previous = editor;
    if (editor && vscode.languages.match(SELECTOR, editor.document)) {
      this.warm.fileSwitched(editor.document.uri.toString(), editor.selection.active.line);
    }
  }

  moved(e: vscode.TextEditorSelectionChangeEvent): void {
    if (e.textEditor !== vscode.window.activeTextEditor) return;
    this.warm.cursorMoved(e.textEditor.document.uri.toString(), e.selections[0].active.line);
  }

  dispose(): void {
    this.warm.dispose();
  }

  private note(document: vscode.TextDocument, line: number): void {
    if (!this.allowed(document)) return; // a secrets file is never sent as another file's context
    const path = vscode.workspace.asRelativePath(document.uri, false);
    this.recent.note(document.uri.toString(), path, line, document.lineCount);
  }

  private sendWarm(uri: string): void {
    const editor = vscode.window.activeTextEditor;
    if (!this.enabled() || editor?.document.uri.toString() !== uri || !this.allowed(editor.document)) return;
    const state = documentState(
      editor.document,
      editor.selection.active,
      this.recent,
      this.disabledFiles(editor.document),
    );
    const body = warmRequest(state, this.tier(editor.document));
    this.client.warm(body).then(
      () => this.log.debug(`warmed ${uri} at line ${body.cursor.line + 1}`),
      (error) => this.log.debug(`warm failed: ${String(error)}`),
    );
  }
}
