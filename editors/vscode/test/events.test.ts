import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import type * as api from "../src/api";
import {
  type Answer,
  EventQueue,
  MAX_BATCH,
  REJECT_GRACE_MS,
  type TelemetrySetting,
  telemetryAllowed,
  Tracker,
} from "../src/events";
import { FakeTimers } from "./fake-timers";

function setup() {
  const events: api.Event[] = [];
  const timers = new FakeTimers();
  const tracker = new Tracker((e) => events.push(e), REJECT_GRACE_MS, timers);
  return { events, timers, tracker, kinds: () => events.map((e) => e.kind) };
}

const answer = (over: Partial<Answer> = {}): Answer => ({
  requestId: "r1",
  uri: "file:///a.py",
  language: "python",
  completion: "sum(xs)",
  latencyMs: 312.4,
  line: 3,
  linePrefix: "    return ",
  ...over,
});

describe("Tracker", () => {
  it("reports shown once, with size and latency", () => {
    const { events, tracker } = setup();
    assert.equal(tracker.answered(answer(), true), "r1");
    tracker.shown("r1");
    assert.deepEqual(events, [
      { kind: "shown", request_id: "r1", language: "python", shown_chars: 7, latency_ms: 312 },
    ]);
  });

  it("waits for the editor to report the display when it can", () => {
    const { tracker, kinds } = setup();
    tracker.answered(answer(), false);
    assert.deepEqual(kinds(), []);
    tracker.shown("r1");
    assert.deepEqual(kinds(), ["shown"]);
  });

  it("rejects a suggestion typed over, after the grace period", () => {
    const { events, timers, tracker, kinds } = setup();
    tracker.answered(answer(), true);
    tracker.requested("file:///a.py", 3, "    return x");
    assert.deepEqual(kinds(), ["shown"]);
    timers.advance(REJECT_GRACE_MS);
    assert.deepEqual(kinds(), ["shown", "rejected"]);
    assert.deepEqual(events[1], { kind: "rejected", request_id: "r1", language: "python", shown_chars: 7 });
  });

  it("does not reject a suggestion accepted within the grace period (Tab's edit comes first)", () => {
    const { timers, tracker, kinds, events } = setup();
    tracker.answered(answer(), true);
    tracker.requested("file:///a.py", 3, "    return sum(xs)");
    tracker.accepted("r1", 7);
    timers.advance(10_000);
    assert.deepEqual(kinds(), ["shown", "accepted"]);
    assert.equal(events[1].accepted_chars, 7);
  });

  it("continues the suggestion while the user types its beginning", () => {
    const { timers, tracker, kinds } = setup();
    tracker.answered(answer(), true);
    tracker.requested("file:///a.py", 3, "    return su");
    const id = tracker.answered(
      answer({ requestId: "r2", completion: "m(xs)", linePrefix: "    return su" }),
      true,
    );
    assert.equal(id, "r1");
    timers.advance(10_000);
    assert.deepEqual(kinds(), ["shown"]);
  });

  it("treats a different answer after typing as a new suggestion", () => {
    const { timers, tracker, events } = setup();
    tracker.answered(answer(), true);
    tracker.requested("file:///a.py", 3, "    return su");
    tracker.answered(answer({ requestId: "r2", completion: "m(ys)", linePrefix: "    return su" }), true);
    timers.advance(REJECT_GRACE_MS);
    assert.deepEqual(
      events.map((e) => [e.kind, e.request_id]),
      [
        ["shown", "r1"],
        ["shown", "r2"],
        ["rejected", "r1"],
      ],
    );
  });

  it("neither accepts nor rejects a suggestion typed out in full", () => {
    const { timers, tracker, kinds } = setup();
    tracker.answered(answer(), true);
    tracker.requested("file:///a.py", 3, "    return sum(xs)");
    timers.advance(10_000);
    assert.deepEqual(kinds(), ["shown"]);
  });

  it("rejects at once on Escape", () => {
    const { tracker, kinds } = setup();
    tracker.answered(answer(), true);
    tracker.dismissed("file:///a.py");
    assert.deepEqual(kinds(), ["shown", "rejected"]);
    tracker.dismissed("file:///a.py");
    assert.deepEqual(kinds(), ["shown", "rejected"]);
  });

  it("counts partial accepts cumulatively and never rejects what was partly taken", () => {
    const { timers, tracker, events } = setup();
    tracker.answered(answer({ completion: "total = sum(xs)\nreturn total" }), true);
    tracker.partiallyAccepted("r1", 6);
    tracker.partiallyAccepted("r1", 2);
    tracker.requested("file:///a.py", 4, "    ");
    tracker.dismissed("file:///a.py");
    timers.advance(10_000);
    assert.deepEqual(
      events.map((e) => [e.kind, e.accepted_chars]),
      [
        ["shown", undefined],
        ["partially_accepted", 6],
        ["partially_accepted", 8],
      ],
    );
  });

  it("knows how much of a suggestion was taken so far", () => {
    const { tracker } = setup();
    tracker.answered(answer(), true);
    assert.equal(tracker.acceptedChars("r1"), 0);
    tracker.partiallyAccepted("r1", 4);
    assert.equal(tracker.acceptedChars("r1"), 4);
    assert.equal(tracker.acceptedChars("unknown"), 0);
  });

  it("keeps documents apart", () => {
    const { timers, tracker, kinds } = setup();
    tracker.answered(answer(), true);
    tracker.requested("file:///b.py", 3, "x");
    timers.advance(10_000);
    assert.deepEqual(kinds(), ["shown"]);
    assert.equal(tracker.current("file:///a.py"), "r1");
    assert.equal(tracker.current("file:///b.py"), undefined);
  });

  it("ignores unknown ids", () => {
    const { tracker, kinds } = setup();
    tracker.accepted("nope", 3);
    tracker.partiallyAccepted("nope", 3);
    tracker.shown("nope");
    assert.deepEqual(kinds(), []);
  });
});

describe("EventQueue", () => {
  it("sends a batch FLUSH_MS after its first event", async () => {
    const timers = new FakeTimers();
    const sent: api.Event[][] = [];
    const queue = new EventQueue(async (e) => sent.push(e), undefined, 1_000, timers);
    queue.push({ kind: "shown" });
    queue.push({ kind: "rejected" });
    assert.equal(sent.length, 0);
    timers.advance(1_000);
    await Promise.resolve();
    assert.deepEqual(sent, [[{ kind: "shown" }, { kind: "rejected" }]]);
  });

  it("sends at once when a batch is full", () => {
    const sent: api.Event[][] = [];
    const queue = new EventQueue(async (e) => sent.push(e), undefined, 1_000, new FakeTimers());
    for (let i = 0; i < MAX_BATCH; i++) queue.push({ kind: "shown" });
    assert.equal(sent[0].length, MAX_BATCH);
  });

  it("reports and drops a batch the server refused", async () => {
    const errors: unknown[] = [];
    const queue = new EventQueue(
      () => Promise.reject(new Error("down")),
      (e) => errors.push(e),
      1_000,
      new FakeTimers(),
    );
    queue.push({ kind: "shown" });
    await queue.flush();
    await queue.flush();
    assert.equal(errors.length, 1);
  });
});

describe("telemetryAllowed", () => {
  it("follows VS Code's telemetry level on auto, and the user's choice otherwise", () => {
    const table: [TelemetrySetting, boolean, boolean][] = [
      ["auto", true, true],
      ["auto", false, false],
      ["on", false, true],
      ["off", true, false],
      [true, false, true],
      [false, true, false],
    ];
    for (const [setting, vscodeOn, expected] of table) {
      assert.equal(
        telemetryAllowed(setting, vscodeOn),
        expected,
        `${String(setting)} with VS Code ${vscodeOn}`,
      );
    }
  });
});
