import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { JUMP_LINES, WARM_DELAY_MS, WarmScheduler } from "../src/warm";
import { FakeTimers } from "./fake-timers";

function setup() {
  const sent: string[] = [];
  const timers = new FakeTimers();
  return { sent, timers, warm: new WarmScheduler((uri) => sent.push(uri), WARM_DELAY_MS, timers) };
}

describe("WarmScheduler", () => {
  it("warms a file WARM_DELAY_MS after switching to it", () => {
    const { sent, timers, warm } = setup();
    warm.fileSwitched("a", 0);
    timers.advance(WARM_DELAY_MS - 1);
    assert.deepEqual(sent, []);
    timers.advance(1);
    assert.deepEqual(sent, ["a"]);
  });

  it("sends one warmup for a burst of navigation: the last place", () => {
    const { sent, timers, warm } = setup();
    for (const uri of ["a", "b", "c", "b"]) {
      warm.fileSwitched(uri, 0);
      timers.advance(300);
    }
    warm.cursorMoved("b", 500);
    timers.advance(WARM_DELAY_MS);
    assert.deepEqual(sent, ["b"]);
  });

  it("warms after a cursor jump of more than JUMP_LINES lines, not after small moves", () => {
    const { sent, timers, warm } = setup();
    warm.cursorMoved("a", 100);
    warm.cursorMoved("a", 100 + JUMP_LINES);
    warm.cursorMoved("a", 101 + JUMP_LINES);
    timers.advance(WARM_DELAY_MS);
    assert.deepEqual(sent, []);
    warm.cursorMoved("a", 10);
    timers.advance(WARM_DELAY_MS);
    assert.deepEqual(sent, ["a"]);
  });

  it("drops a pending warmup when a completion is requested for that file", () => {
    const { sent, timers, warm } = setup();
    warm.fileSwitched("a", 0);
    warm.cancel("b");
    assert.equal(timers.pending, 1);
    warm.cancel("a");
    timers.advance(WARM_DELAY_MS);
    assert.deepEqual(sent, []);
  });
});
