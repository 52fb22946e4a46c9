/**
 * When to ask for a completion. Outside a burst of typing: at once at completion points (after `.` `(`
 * `,` `=` `:` or on a new line), after `debounceMs` elsewhere. In a burst (keys less than
 * BURST_INTERVAL_MS apart), a request made between two keys is wasted work for the server, so it waits
 * for a pause of twice the burst's mean keystroke interval: at completion points that is all, elsewhere
 * at least `debounceMs`; never more than MAX_DEBOUNCE_MS. Pure, apart from `delay`.
 */

export const COMPLETION_POINT_CHARS = ".(,=:";
export const MAX_DEBOUNCE_MS = 1_000;
export const BURST_INTERVAL_MS = 400; // keys closer than this belong to one burst
export const BURST_MIN_INTERVALS = 3; // intervals needed before a burst counts
const KEPT_INTERVALS = 8;

/** True where a completion is most wanted: after a completion-point character, or on a new line. */
export function isCompletionPoint(lineBefore: string): boolean {
  const trimmed = lineBefore.trimEnd();
  if (trimmed === "") return true;
  return COMPLETION_POINT_CHARS.includes(trimmed[trimmed.length - 1]);
}

/** The pause before a request at the end of `lineBefore`, in ms. */
export function debounceMs(lineBefore: string, burstIntervalMs: number | undefined, baseMs: number): number {
  const point = isCompletionPoint(lineBefore);
  if (burstIntervalMs === undefined) return point ? 0 : baseMs;
  const pause = Math.min(Math.round(2 * burstIntervalMs), MAX_DEBOUNCE_MS);
  return point ? pause : Math.max(pause, baseMs);
}

/** Remembers keystroke times; `burstIntervalMs` is the mean interval of the current burst, if any. */
export class KeystrokeClock {
  private readonly intervals: number[] = [];
  private last: number | undefined;

  record(nowMs: number): void {
    if (this.last !== undefined) {
      const interval = nowMs - this.last;
      if (interval > BURST_INTERVAL_MS) this.intervals.length = 0;
      else this.intervals.push(interval);
      if (this.intervals.length > KEPT_INTERVALS) this.intervals.shift();
    }
    this.last = nowMs;
  }

  burstIntervalMs(nowMs: number): number | undefined {
    const idle = this.last === undefined || nowMs - this.last > BURST_INTERVAL_MS;
    if (idle || this.intervals.length < BURST_MIN_INTERVALS) return undefined;
    return this.intervals.reduce((sum, x) => sum + x, 0) / this.intervals.length;
  }
}

/** Resolves true after `ms`, or false as soon as `signal` aborts. */
export function delay(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  if (ms <= 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (completed: boolean) => {
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      resolve(completed);
    };
    const onAbort = () => done(false);
    const timer = setTimeout(() => done(true), ms);
    signal.addEventListener("abort", onAbort);
  });
}
