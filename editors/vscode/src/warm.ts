/**
 * KV-cache warmups (`POST /v1/warm`) on a file switch and on a cursor jump of more than JUMP_LINES
 * lines, sent only after WARM_DELAY_MS without another switch or jump, so that navigating does not flood
 * the server. A completion request for the document makes its pending warmup pointless: `cancel` it.
 */

import { realTimers, type Timers } from "./timers";

export const WARM_DELAY_MS = 1_500;
export const JUMP_LINES = 20;

export class WarmScheduler {
  private readonly lines = new Map<string, number>();
  private pending: { uri: string; handle: unknown } | undefined;

  constructor(
    private readonly send: (uri: string) => void,
    private readonly delayMs = WARM_DELAY_MS,
    private readonly timers: Timers = realTimers,
  ) {}

  fileSwitched(uri: string, line: number): void {
    this.lines.set(uri, line);
    this.schedule(uri);
  }

  cursorMoved(uri: string, line: number): void {
    const last = this.lines.get(uri);
    this.lines.set(uri, line);
    if (last !== undefined && Math.abs(line - last) > JUMP_LINES) this.schedule(uri);
  }

  cancel(uri: string): void {
    if (this.pending?.uri !== uri) return;
    this.timers.clearTimeout(this.pending.handle);
    this.pending = undefined;
  }

  dispose(): void {
    if (this.pending) this.cancel(this.pending.uri);
  }

  private schedule(uri: string): void {
    this.dispose();
    const handle = this.timers.setTimeout(() => {
      this.pending = undefined;
      this.send(uri);
    }, this.delayMs);
    this.pending = { uri, handle };
  }
}
