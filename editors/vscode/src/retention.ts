/**
 * Retention: how much of an accepted suggestion is still in the document RETENTION_CHECKS_S seconds
 * later. The accepted text's span is moved along with every edit (like an editor marker), and at each
 * check `retained_chars` is the longest common subsequence of the accepted text and the span's text now:
 * edits around it do not count, deleted or rewritten characters do. Pure: reading documents, sending
 * events and time are injected.
 */

import type * as api from "./api";
import { realTimers, type Timers } from "./timers";

export const RETENTION_CHECKS_S = [30, 120];
const MAX_COMPARED_CHARS = 4_000;

/** A [start, end) range of UTF-16 offsets in a document. */
export interface Span {
  start: number;
  end: number;
}

/** An edit: `removed` characters at `offset` replaced by `inserted` characters. */
export interface Change {
  offset: number;
  removed: number;
  inserted: number;
}

/** Where `span` is after `change`: text inserted strictly inside the span joins it, text inserted at
 * its edges does not, and replaced characters of the span leave it. */
export function shiftSpan(span: Span, change: Change): Span {
  const editEnd = change.offset + change.removed;
  const delta = change.inserted - change.removed;
  const start =
    span.start < change.offset
      ? span.start
      : span.start >= editEnd
        ? span.start + delta
        : change.offset + change.inserted;
  const end = span.end <= change.offset ? span.end : span.end >= editEnd ? span.end + delta : change.offset;
  return { start, end: Math.max(start, end) };
}

/** Characters of `accepted` still present, in order, in `current` (longest common subsequence). */
export function retainedChars(accepted: string, current: string): number {
  const a = accepted.slice(0, MAX_COMPARED_CHARS);
  const b = current.slice(0, MAX_COMPARED_CHARS);
  let previous = new Array<number>(b.length + 1).fill(0);
  for (let i = 1; i <= a.length; i++) {
    const row = new Array<number>(b.length + 1).fill(0);
    for (let j = 1; j <= b.length; j++) {
      row[j] = a[i - 1] === b[j - 1] ? previous[j - 1] + 1 : Math.max(previous[j], row[j - 1]);
    }
    previous = row;
  }
  return previous[b.length];
}

export interface Accepted {
  requestId: string;
  uri: string;
  language: string;
  offset: number;
  text: string;
}

interface Tracked extends Accepted {
  span: Span;
  handles: unknown[];
}

export class Retention {
  private readonly tracked = new Set<Tracked>();

  constructor(
    private readonly emit: (event: api.Event) => void,
    private readonly read: (uri: string) => string | undefined,
    private readonly timers: Timers = realTimers,
    private readonly checksS: number[] = RETENTION_CHECKS_S,
  ) {}

  /** Start tracking accepted text; text accepted right after earlier text of the same suggestion (word by
   * word, line by line) joins it, and its checks count from the first acceptance. */
  track(accepted: Accepted): void {
    if (!accepted.text) return;
    const earlier = [...this.tracked].find(
      (t) => t.requestId === accepted.requestId && t.uri === accepted.uri && t.span.end === accepted.offset,
    );
    if (earlier) {
      earlier.text += accepted.text;
      earlier.span = { start: earlier.span.start, end: earlier.span.end + accepted.text.length };
      return;
    }
    const span = { start: accepted.offset, end: accepted.offset + accepted.text.length };
    const t: Tracked = { ...accepted, span, handles: [] };
    t.handles = this.checksS.map((s, i) =>
      this.timers.setTimeout(() => this.check(t, s, i === this.checksS.length - 1), s * 1000),
    );
    this.tracked.add(t);
  }

  edited(uri: string, changes: readonly Change[]): void {
    for (const t of this.tracked) {
      if (t.uri === uri) for (const change of changes) t.span = shiftSpan(t.span, change);
    }
  }

  /** The document was closed: its checks can no longer be made. */
  closed(uri: string): void {
    for (const t of this.tracked) if (t.uri === uri) this.drop(t);
  }

  dispose(): void {
    for (const t of this.tracked) this.drop(t);
  }

  private check(t: Tracked, afterS: number, last: boolean): void {
    const text = this.read(t.uri);
    if (last) this.tracked.delete(t);
    if (text === undefined) return this.drop(t);
    this.emit({
      kind: "retained",
      request_id: t.requestId,
      language: t.language.slice(0, 50),
      accepted_chars: t.text.length,
      retained_chars: retainedChars(t.text, text.slice(t.span.start, t.span.end)),
      after_s: afterS,
    });
  }

  private drop(t: Tracked): void {
    for (const handle of t.handles) this.timers.clearTimeout(handle);
    this.tracked.delete(t);
  }
}
