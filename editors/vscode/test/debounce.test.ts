import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import { debounceMs, delay, isCompletionPoint, KeystrokeClock, MAX_DEBOUNCE_MS } from "../src/debounce";

describe("isCompletionPoint", () => {
  it("is true after . ( , = : and on a new line", () => {
    for (const line of ["x.", "f(", "f(a,", "x =", "x = ", "def f():", "", "    ", "\t"]) {
      assert.ok(isCompletionPoint(line), JSON.stringify(line));
    }
  });

  it("is false in the middle of a word or after other characters", () => {
    for (const line of ["ret", "x = fo", "f(a)", "items[", "# note"]) {
      assert.ok(!isCompletionPoint(line), JSON.stringify(line));
    }
  });
});

describe("debounceMs", () => {
  it("does not wait at completion points outside a burst", () => {
    assert.equal(debounceMs("    total = ", undefined, 150), 0);
    assert.equal(debounceMs("    ", undefined, 150), 0);
  });

  it("waits debounceMs elsewhere outside a burst", () => {
    assert.equal(debounceMs("    ret", undefined, 150), 150);
  });

  it("in a burst, waits twice the keystroke interval, at least debounceMs, at most the cap", () => {
    assert.equal(debounceMs("    ret", 40, 150), 150);
    assert.equal(debounceMs("    ret", 120, 150), 240);
    assert.equal(debounceMs("    ret", 390, 150), 780);
    assert.equal(debounceMs("    ret", 900, 150), MAX_DEBOUNCE_MS);
    assert.equal(debounceMs("    ret", 100, 1500), 1500); // a debounceMs above the cap wins
  });

  it("in a burst, waits at completion points only for the pause that ends the burst", () => {
    assert.equal(debounceMs("    total = ", 40, 150), 80);
    assert.equal(debounceMs("f(", 120, 150), 240);
    assert.equal(debounceMs("f(", 900, 150), MAX_DEBOUNCE_MS);
  });
});

describe("KeystrokeClock", () => {
  it("reports no burst before three quick intervals", () => {
    const clock = new KeystrokeClock();
    for (const t of [0, 100, 200]) clock.record(t);
    assert.equal(clock.burstIntervalMs(210), undefined);
    clock.record(300);
    assert.equal(clock.burstIntervalMs(310), 100);
  });

  it("averages the recent intervals of the burst", () => {
    const clock = new KeystrokeClock();
    for (const t of [0, 100, 250, 300, 420]) clock.record(t);
    assert.equal(clock.burstIntervalMs(430), 105);
  });

  it("ends the burst after a pause, while idle or once a slow key arrives", () => {
    const clock = new KeystrokeClock();
    for (const t of [0, 100, 200, 300]) clock.record(t);
    assert.equal(clock.burstIntervalMs(1_000), undefined); // idle
    clock.record(1_000);
    assert.equal(clock.burstIntervalMs(1_010), undefined); // the long interval reset it
  });
});

describe("delay", () => {
  it("resolves true after the time", async () => {
    assert.equal(await delay(5, new AbortController().signal), true);
  });

  it("resolves false at once when aborted", async () => {
    const abort = new AbortController();
    const started = Date.now();
    const waiting = delay(10_000, abort.signal);
    abort.abort();
    assert.equal(await waiting, false);
    assert.ok(Date.now() - started < 1_000);
    assert.equal(await delay(10, abort.signal), false);
  });

  it("does not wait for zero", async () => {
    assert.equal(await delay(0, new AbortController().signal), true);
  });
});
