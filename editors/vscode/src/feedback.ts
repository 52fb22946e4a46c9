/**
 * What the user did with a suggestion, from VS Code's side: Tab (the item's command), a word or a line
 * taken (VS Code's callback where it offers one, else our own keybindings around its commands), Escape;
 * and the text those inserted, for retention. Events go to the Tracker and Retention (no `vscode`).
 */

import * as vscode from "vscode";
import type * as api from "./api";
import { Tracker } from "./events";
import { itemRequestId } from "./provider";
import { type Change, Retention } from "./retention";

interface Insertion {
  uri: string;
  offset: number;
  text: string;
}

const KEPT_INSERTIONS = 20;

export class Feedback implements vscode.Disposable {
  readonly tracker: Tracker;
  private readonly retention: Retention;
  private insertions: Insertion[] = []; // the last few: what an accept inserted
  /** True when VS Code reports displays and partial accepts itself (the provider's callbacks). */
  editorReports = false;

  constructor(emit: (event: api.Event) => void) {
    this.tracker = new Tracker(emit);
    this.retention = new Retention(emit, (uri) => openDocument(uri)?.getText());
  }

  edited(e: vscode.TextDocumentChangeEvent): void {
    const uri = e.document.uri.toString();
    const changes: Change[] = e.contentChanges.map((c) => ({
      offset: c.rangeOffset,
      removed: c.rangeLength,
      inserted: c.text.length,
    }));
    this.retention.edited(uri, changes);
    const inserted = e.contentChanges
      .filter((c) => c.text)
      .map((c) => ({ uri, offset: c.rangeOffset, text: c.text }));
    this.insertions = [...this.insertions, ...inserted].slice(-KEPT_INSERTIONS);
  }

  closed(uri: string): void {
    this.retention.closed(uri);
  }

  /** Tab: VS Code has inserted the item, then runs its command with the item's request id. */
  accepted(requestId: string): void {
    const inserted = this.insertions.at(-1);
    this.tracker.accepted(requestId, inserted?.text.length ?? 0);
    if (inserted) this.track(requestId, inserted);
  }

  /** Runs VS Code's partial accept; counts what it inserted unless VS Code reports it itself. */
  async acceptPart(command: string): Promise<void> {
    const uri = vscode.window.activeTextEditor?.document.uri.toString();
    const requestId = uri && this.tracker.current(uri);
    const seen = this.insertions.length;
    await vscode.commands.executeCommand(command);
    if (!requestId || this.editorReports) return;
    for (const inserted of this.insertions.slice(seen).filter((i) => i.uri === uri)) {
      this.tracker.partiallyAccepted(requestId, inserted.text.length);
      this.track(requestId, inserted);
    }
  }

  async dismiss(): Promise<void> {
    const uri = vscode.window.activeTextEditor?.document.uri.toString();
    if (uri) this.tracker.dismissed(uri);
    await vscode.commands.executeCommand("editor.action.inlineSuggest.hide");
  }

  editorShown(item: vscode.InlineCompletionItem): void {
    const id = itemRequestId(item);
    if (id) this.tracker.shown(id);
  }

  /** VS Code 1.99 calls this twice per partial accept, with the length accepted so far from the item's
   * start: as a number, then in an info object. The object counts. */
  editorPartiallyAccepted(item: vscode.InlineCompletionItem, info: unknown): void {
    const id = itemRequestId(item);
    const length = (info as { acceptedLength?: number } | undefined)?.acceptedLength;
    if (!id || typeof length !== "number") return;
    const added = length - this.tracker.acceptedChars(id);
    if (added <= 0) return;
    this.tracker.partiallyAccepted(id, added);
    const inserted = this.insertions.at(-1);
    if (inserted) this.track(id, inserted);
  }

  dispose(): void {
    this.tracker.dispose();
    this.retention.dispose();
  }

  private track(requestId: string, inserted: Insertion): void {
    const language = openDocument(inserted.uri)?.languageId ?? "";
    this.retention.track({ requestId, language, ...inserted });
  }
}

export function openDocument(uri: string): vscode.TextDocument | undefined {
  return vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri);
}
