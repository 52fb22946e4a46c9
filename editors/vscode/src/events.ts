/**
 * Telemetry for `POST /v1/events`, kept on the user's machine by the server:
 *
 *   shown               a suggestion was displayed (once per suggestion, with the request's latency)
 *   accepted            taken whole (Tab: the item's command runs)
 *   partially_accepted  a word or a line of it taken; `accepted_chars` counts all taken so far
 *   rejected            dismissed with Escape, or superseded by a request that does not continue it (the
 *                       user typed something else) and not accepted within REJECT_GRACE_MS
 *   retained            (retention.ts) how much accepted text is still there after 30 s and 2 min
 *
 * Typing the beginning of the suggestion on screen continues it: the server's answer for the rest keeps
 * the first request's id and is not counted as shown again. Pure: time and sending are injected.
 */

import type * as api from "./api";
import { realTimers, type Timers } from "./timers";

export const REJECT_GRACE_MS = 500;

/** `nanocomplete.telemetry`: "auto" follows VS Code's `telemetry.telemetryLevel` (off there, off here);
 * "on" and "off" decide alone (the events never leave the machine, so a user may keep them while VS Code's
 * own telemetry is off). Booleans from before the setting took a string still mean on / off. */
export type TelemetrySetting = "auto" | "on" | "off" | boolean;
export const DEFAULT_TELEMETRY: TelemetrySetting = "auto";

export function telemetryAllowed(setting: TelemetrySetting, vscodeTelemetryEnabled: boolean): boolean {
  if (setting === "on" || setting === true) return true;
  if (setting === "off" || setting === false) return false;
  return vscodeTelemetryEnabled;
}
export const FLUSH_MS = 1_000;
export const MAX_BATCH = 100;

export interface Answer {
  requestId: string;
  uri: string;
  language: string;
  completion: string;
  latencyMs: number;
  line: number;
  linePrefix: string; // the line before the cursor
}

interface Suggestion extends Answer {
  shownChars: number;
  acceptedChars: number;
  shownEmitted: boolean;
}

export class Tracker {
  private readonly onScreen = new Map<string, Suggestion>(); // by document URI
  private readonly superseded = new Map<string, { suggestion: Suggestion; handle: unknown }>(); // by id

  constructor(
    private readonly emit: (event: api.Event) => void,
    private readonly graceMs = REJECT_GRACE_MS,
    private readonly timers: Timers = realTimers,
  ) {}

  /** A new request in `uri` with the cursor after `linePrefix` on `line`. */
  requested(uri: string, line: number, linePrefix: string): void {
    const s = this.onScreen.get(uri);
    if (!s) return;
    const typed =
      s.line === line && linePrefix.startsWith(s.linePrefix)
        ? linePrefix.slice(s.linePrefix.length)
        : undefined;
    if (typed !== undefined && typed.length < s.completion.length && s.completion.startsWith(typed)) {
      s.completion = s.completion.slice(typed.length);
      s.linePrefix = linePrefix;
      return;
    }
    this.supersede(s, typed !== s.completion); // typed out in full: not rejected, still acceptable
  }

  /** An answer about to be displayed; returns the id its item carries (the first request's id when it
   * continues the suggestion on screen). `emitShown`: false when the editor reports the display. */
  answered(answer: Answer, emitShown: boolean): string {
    const s = this.onScreen.get(answer.uri);
    if (
      s &&
      s.completion === answer.completion &&
      s.line === answer.line &&
      s.linePrefix === answer.linePrefix
    ) {
      return s.requestId;
    }
    if (s) this.supersede(s);
    const fresh = { ...answer, shownChars: answer.completion.length, acceptedChars: 0, shownEmitted: false };
    this.onScreen.set(answer.uri, fresh);
    if (emitShown) this.shown(fresh.requestId);
    return fresh.requestId;
  }

  shown(requestId: string): void {
    const s = this.find(requestId);
    if (!s || s.shownEmitted) return;
    s.shownEmitted = true;
    this.emit({ ...this.base(s, "shown"), shown_chars: s.shownChars, latency_ms: Math.round(s.latencyMs) });
  }

  accepted(requestId: string, acceptedChars: number): void {
    const s = this.find(requestId);
    if (!s) return;
    this.settle(s);
    s.acceptedChars += acceptedChars;
    this.emit({ ...this.base(s, "accepted"), shown_chars: s.shownChars, accepted_chars: s.acceptedChars });
  }

  partiallyAccepted(requestId: string, acceptedChars: number): void {
    const s = this.find(requestId);
    if (!s || acceptedChars <= 0) return;
    s.acceptedChars += acceptedChars;
    const event = this.base(s, "partially_accepted");
    this.emit({ ...event, shown_chars: s.shownChars, accepted_chars: s.acceptedChars });
  }

  /** Characters of the suggestion accepted so far (0 when unknown). */
  acceptedChars(requestId: string): number {
    return this.find(requestId)?.acceptedChars ?? 0;
  }

  /** The suggestion on screen in `uri` was dismissed (Escape). */
  dismissed(uri: string): void {
    const s = this.onScreen.get(uri);
    if (!s) return;
    this.onScreen.delete(uri);
    if (s.acceptedChars === 0) this.reject(s);
  }

  /** The request id of the suggestion on screen in `uri`, if any. */
  current(uri: string): string | undefined {
    return this.onScreen.get(uri)?.requestId;
  }

  dispose(): void {
    for (const { handle } of this.superseded.values()) this.timers.clearTimeout(handle);
    this.superseded.clear();
  }

  /** `s` is no longer on screen; unless accepted within the grace period it counts as rejected. */
  private supersede(s: Suggestion, reject = true): void {
    this.onScreen.delete(s.uri);
    if (s.acceptedChars > 0 || this.superseded.has(s.requestId)) return;
    const handle = this.timers.setTimeout(() => {
      this.superseded.delete(s.requestId);
      if (reject) this.reject(s);
    }, this.graceMs);
    this.superseded.set(s.requestId, { suggestion: s, handle });
  }

  /** Forget `s` as pending: it was accepted. */
  private settle(s: Suggestion): void {
    const waiting = this.superseded.get(s.requestId);
    if (waiting) this.timers.clearTimeout(waiting.handle);
    this.superseded.delete(s.requestId);
    if (this.onScreen.get(s.uri) === s) this.onScreen.delete(s.uri);
  }

  private reject(s: Suggestion): void {
    this.emit({ ...this.base(s, "rejected"), shown_chars: s.shownChars });
  }

  private find(requestId: string): Suggestion | undefined {
    for (const s of this.onScreen.values()) if (s.requestId === requestId) return s;
    return this.superseded.get(requestId)?.suggestion;
  }

  private base(s: Suggestion, kind: api.EventKind): api.Event {
    return { kind, request_id: s.requestId, language: s.language.slice(0, 50) };
  }
}

/** Events batched: sent FLUSH_MS after the first of a batch, or at once when MAX_BATCH are waiting. */
export class EventQueue {
  private queue: api.Event[] = [];
  private handle: unknown;

  constructor(
    private readonly send: (events: api.Event[]) => Promise<unknown>,
    private readonly onError: (error: unknown) => void = () => {},
    private readonly flushMs = FLUSH_MS,
    private readonly timers: Timers = realTimers,
  ) {}

  push(event: api.Event): void {
    this.queue.push(event);
    if (this.queue.length >= MAX_BATCH) void this.flush();
    else if (this.handle === undefined)
      this.handle = this.timers.setTimeout(() => void this.flush(), this.flushMs);
  }

  /** Sends what is queued; telemetry is best effort, so a failed batch is reported and dropped. */
  async flush(): Promise<void> {
    if (this.handle !== undefined) this.timers.clearTimeout(this.handle);
    this.handle = undefined;
    const batch = this.queue.splice(0, MAX_BATCH);
    if (batch.length === 0) return;
    try {
      await this.send(batch);
    } catch (error) {
      this.onError(error);
    }
  }
}
