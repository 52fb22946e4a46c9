/**
 * Snippets of recently edited and viewed places in other files, sent as `recent`: a few windows of at
 * most SNIPPET_LINES lines, most recent first. Windows are remembered as line ranges and read when a
 * request is built, so they always show the current text. Pure: reading is the caller's function.
 */

import type * as api from "./api";

export const SNIPPET_LINES = 60;
export const MAX_SNIPPETS_SENT = 4;
export const MAX_WINDOWS_KEPT = 8;
export const MAX_SNIPPET_CHARS = 8_000;

export interface Window {
  uri: string;
  path: string;
  startLine: number;
  endLine: number; // exclusive
}

/** The text of lines [start, end) of a document, or undefined when it is no longer open. */
export type ReadLines = (uri: string, startLine: number, endLine: number) => string | undefined;

/** SNIPPET_LINES lines centred on `line`, within a document of `lineCount` lines. */
export function windowAround(line: number, lineCount: number, size = SNIPPET_LINES): [number, number] {
  const start = Math.max(0, Math.min(line - Math.floor(size / 2), lineCount - size));
  return [start, Math.min(lineCount, start + size)];
}

export class RecentSnippets {
  private windows: Window[] = [];

  /** An edit or a viewed place at `line`: refreshes the window that holds it or adds one. */
  note(uri: string, path: string, line: number, lineCount: number): void {
    const holding = this.windows.find((w) => w.uri === uri && w.startLine <= line && line < w.endLine);
    const [startLine, endLine] = windowAround(line, lineCount);
    const window = holding ?? { uri, path, startLine, endLine };
    const others = this.windows.filter((w) => w !== window && !overlaps(w, window));
    this.windows = [window, ...others].slice(0, MAX_WINDOWS_KEPT);
  }

  forget(uri: string): void {
    this.windows = this.windows.filter((w) => w.uri !== uri);
  }

  /** The snippets for a request in `currentUri` (which the prompt already holds, so it is left out). */
  snippets(currentUri: string, read: ReadLines): api.Snippet[] {
    const result: api.Snippet[] = [];
    for (const w of this.windows) {
      if (w.uri === currentUri || result.length >= MAX_SNIPPETS_SENT) continue;
      const text = read(w.uri, w.startLine, w.endLine);
      if (text?.trim()) result.push({ path: w.path, text: text.slice(0, MAX_SNIPPET_CHARS) });
    }
    return result;
  }
}

function overlaps(a: Window, b: Window): boolean {
  return a.uri === b.uri && a.startLine < b.endLine && b.startLine < a.endLine;
}
