/**
 * Request building: whether to ask at all, and the `POST /v1/complete` and `/v1/warm` bodies, each
 * built as one literal in one place. Pure.
 */

import { randomUUID } from "node:crypto";
import type * as api from "./api";

/** No automatic request when more non-space characters than this sit right of the cursor. */
export const MAX_CHARS_RIGHT_OF_CURSOR = 8;
/** The server refuses longer documents (api.MAX_TEXT_CHARS). */
export const MAX_TEXT_CHARS = 2_000_000;

/** The document as the editor sees it when a request is made. */
export interface DocumentState {
  uri: string;
  language: string;
  text: string;
  cursor: api.Position;
  workspaceRoot?: string;
  recent: api.Snippet[];
  /** `nanocomplete.disabledFiles`: the server never uses files they match as context either. */
  disabledFiles: string[];
}

export interface CompleteOptions {
  requestId: string;
  triggerKind: api.TriggerKind;
  maxTokens?: number | null;
  maxGenerationMs?: number | null;
  tier?: api.Tier | null;
}

export function charsRightOfCursor(line: string, character: number): number {
  return line.slice(character).replace(/\s/g, "").length;
}

/** Whether the server can take the document at all. */
export function withinLimits(text: string): boolean {
  return text.length <= MAX_TEXT_CHARS;
}

/** Automatic requests wait for a cursor near the end of the line; invoked ones always go. */
export function shouldComplete(line: string, character: number, trigger: api.TriggerKind): boolean {
  return trigger === "invoked" || charsRightOfCursor(line, character) <= MAX_CHARS_RIGHT_OF_CURSOR;
}

function documentRequest(doc: DocumentState): api.DocumentRequest {
  return {
    uri: doc.uri,
    language: doc.language.slice(0, 50),
    text: doc.text,
    cursor: doc.cursor,
    workspace_root: doc.workspaceRoot,
    recent: doc.recent,
    disabled_files: doc.disabledFiles,
  };
}

/** The warmup of the document's next completion, on the tier that completion will ask for. */
export function warmRequest(doc: DocumentState, tier?: api.Tier | null): api.WarmRequest {
  return { ...documentRequest(doc), tier: tier ?? undefined };
}

export function completeRequest(doc: DocumentState, options: CompleteOptions): api.CompleteRequest {
  return {
    ...documentRequest(doc),
    request_id: options.requestId,
    trigger_kind: options.triggerKind,
    max_tokens: options.maxTokens ?? undefined,
    max_generation_ms: options.maxGenerationMs ?? undefined,
    tier: options.tier ?? undefined,
  };
}

export function newRequestId(): string {
  return `dash-${randomUUID()}`;
}

/** The suggest widget's selected item: the text it inserts over the columns [start, end) of the cursor's line. */
export interface SelectedItem {
  text: string;
  start: number;
  end: number;
}

/** The document as if the selected item were accepted, for the widget-open case: VS Code then shows an
 * inline completion only if it extends that item over its range (as Copilot's do). `shift`: how many
 * columns the item moves the rest of the line. Undefined where we do not complete: an item that does not
 * start with what is typed of its word (a fuzzy or case-changing match), or of several lines. VS Code
 * passes a snippet item's text resolved (`foo()` for `foo($1)`): the completion follows all of it. */
export function withSelectedItem(
  doc: DocumentState,
  item: SelectedItem,
): { doc: DocumentState; typed: string; shift: number } | undefined {
  const { line, character } = doc.cursor;
  let lineStart = 0;
  for (let n = 0; n < line; n++) lineStart = doc.text.indexOf("\n", lineStart) + 1;
  const lineEnd = doc.text.indexOf("\n", lineStart);
  const text = doc.text.slice(lineStart, lineEnd < 0 ? doc.text.length : lineEnd);
  const typed = text.slice(item.start, character);
  const withinWord = item.start <= character && character <= item.end && item.end <= text.length;
  if (!withinWord || !item.text.startsWith(typed) || item.text.includes("\n")) return undefined;
  const before = doc.text.slice(0, lineStart + item.start);
  const after = doc.text.slice(lineStart + item.end);
  const cursor = { line, character: item.start + item.text.length };
  const shift = item.text.length - (item.end - item.start);
  return { doc: { ...doc, text: before + item.text + after, cursor }, typed, shift };
}
