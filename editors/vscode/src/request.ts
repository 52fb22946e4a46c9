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
    tier: options.tier ?? undefined,
  };
}

export function newRequestId(): string {
  return `dash-${randomUUID()}`;
}
