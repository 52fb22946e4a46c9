import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as api from "../src/api";
import { Retention, retainedChars, shiftSpan } from "../src/retention";
import { FakeTimers } from "./fake-timers";

describe("shiftSpan", () => {
  const span = { start: 10, end: 20 };
  it("moves with edits before it and ignores edits after it", () => {
    assert.deepEqual(shiftSpan(span, { offset: 0, removed: 2, inserted: 5 }), { start: 13, end: 23 });
    assert.deepEqual(shiftSpan(span, { offset: 25, removed: 3, inserted: 0 }), span);
  });

  it("keeps text typed at its edges out of it", () => {
    assert.deepEqual(shiftSpan(span, { offset: 10, removed: 0, inserted: 4 }), { start: 14, end: 24 });
    assert.deepEqual(shiftSpan(span, { offset: 20, removed: 0, inserted: 4 }), span);
  });

  it("grows with text inserted inside and shrinks with text deleted inside", () => {
    assert.deepEqual(shiftSpan(span, { offset: 12, removed: 2, inserted: 5 }), { start: 10, end: 23 });
    assert.deepEqual(shiftSpan(span, { offset: 10, removed: 3, inserted: 0 }), { start: 10, end: 17 });
  });

  it("loses the characters a replacement covers", () => {
    assert.deepEqual(shiftSpan(span, { offset: 5, removed: 10, inserted: 2 }), { start: 7, end: 12 });
    assert.deepEqual(shiftSpan(span, { offset: 15, removed: 10, inserted: 3 }), { start: 10, end: 15 });
    assert.deepEqual(shiftSpan(span, { offset: 5, removed: 20, inserted: 4 }), { start: 9, end: 9 });
  });
});

describe("retainedChars", () => {
  it("counts the accepted characters still there, in order", () => {
    assert.equal(retainedChars("sum(xs)", "sum(xs)"), 7);
    assert.equal(retainedChars("sum(xs)", "sum(ys)"), 6);
    assert.equal(retainedChars("sum(xs)", "sum(xs, start=0)"), 7);
    assert.equal(retainedChars("sum(xs)", ""), 0);
    assert.equal(retainedChars("", "abc"), 0);
  });
});

describe("Retention", () => {
  function setup(text: { value: string | undefined }) {
    const events: api.Event[] = [];
    const timers = new FakeTimers();
    const retention = new Retention(
      (e) => events.push(e),
      () => text.value,
      timers,
      [30, 120],
    );
    return { events, timers, retention };
  }

  it("reports retained characters after 30 s and 2 min, following edits", () => {
    const text = { value: "x = total(items)\n" };
    const { events, timers, retention } = setup(text);
    retention.track({ requestId: "r1", uri: "u", language: "python", offset: 4, text: "total(items)" });
    text.value = "# sum\nx = total(items)\n";
    retention.edited("u", [{ offset: 0, removed: 0, inserted: 6 }]);
    timers.advance(30_000);
    text.value = "# sum\nx = total(it)\n";
    retention.edited("u", [{ offset: 18, removed: 3, inserted: 0 }]);
    timers.advance(90_000);
    assert.deepEqual(events, [
      {
        kind: "retained",
        request_id: "r1",
        language: "python",
        accepted_chars: 12,
        retained_chars: 12,
        after_s: 30,
      },
      {
        kind: "retained",
        request_id: "r1",
        language: "python",
        accepted_chars: 12,
        retained_chars: 9,
        after_s: 120,
      },
    ]);
    assert.equal(timers.pending, 0);
  });

  it("joins text accepted word by word into one suggestion", () => {
    const text = { value: "return total(items)" };
    const { events, timers, retention } = setup(text);
    retention.track({ requestId: "r1", uri: "u", language: "python", offset: 7, text: "total" });
    retention.track({ requestId: "r1", uri: "u", language: "python", offset: 12, text: "(items)" });
    timers.advance(30_000);
    assert.equal(events.length, 1);
    assert.equal(events[0].accepted_chars, 12);
    assert.equal(events[0].retained_chars, 12);
  });

  it("reports nothing for a closed document", () => {
    const { events, timers, retention } = setup({ value: "abc" });
    retention.track({ requestId: "r1", uri: "u", language: "python", offset: 0, text: "abc" });
    retention.closed("u");
    timers.advance(200_000);
    assert.deepEqual(events, []);
    assert.equal(timers.pending, 0);
  });
});
