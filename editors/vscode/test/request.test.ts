import * as assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  charsRightOfCursor,
  completeRequest,
  type DocumentState,
  MAX_TEXT_CHARS,
  newRequestId,
  shouldComplete,
  warmRequest,
  withinLimits,
  withSelectedItem,
} from "../src/request";
import { MAX_SNIPPET_CHARS, MAX_SNIPPETS_SENT, RecentSnippets, windowAround } from "../src/recent";

const doc: DocumentState = {
  uri: "file:///w/app.py",
  language: "python",
  text: "s = '😀'\nprint(s.",
  cursor: { line: 1, character: 8 },
  workspaceRoot: "/w",
  recent: [{ path: "lib.py", text: "def f(): ..." }],
  disabledFiles: ["**/.env", "**/*secret*"],
};

describe("shouldComplete", () => {
  it("counts non-space characters right of the cursor", () => {
    assert.equal(charsRightOfCursor("foo(bar, baz)  ", 4), 8);
    assert.equal(charsRightOfCursor("x = ", 4), 0);
  });

  it("allows up to 8 of them for automatic requests", () => {
    assert.ok(shouldComplete("call(12345678", 5, "automatic"));
    assert.ok(!shouldComplete("call(123456789", 5, "automatic"));
    assert.ok(shouldComplete("call()", 5, "automatic"));
  });

  it("always allows invoked requests", () => {
    assert.ok(shouldComplete("call(123456789", 5, "invoked"));
  });

  it("leaves documents the server would refuse alone", () => {
    assert.ok(withinLimits("x".repeat(MAX_TEXT_CHARS)));
    assert.ok(!withinLimits("x".repeat(MAX_TEXT_CHARS + 1)));
  });
});

describe("request bodies", () => {
  it("builds the complete request as the server's schema wants it", () => {
    const options = {
      requestId: "dash-1",
      triggerKind: "automatic",
      maxTokens: 48,
      maxGenerationMs: 250,
      tier: "auto",
    } as const;
    const body = completeRequest(doc, options);
    assert.deepEqual(JSON.parse(JSON.stringify(body)), {
      uri: "file:///w/app.py",
      language: "python",
      text: "s = '😀'\nprint(s.",
      cursor: { line: 1, character: 8 },
      workspace_root: "/w",
      recent: [{ path: "lib.py", text: "def f(): ..." }],
      disabled_files: ["**/.env", "**/*secret*"],
      request_id: "dash-1",
      trigger_kind: "automatic",
      max_tokens: 48,
      max_generation_ms: 250,
      tier: "auto",
    });
  });

  it("leaves max_tokens, max_generation_ms, tier and workspace_root out when unset (the server's defaults apply)", () => {
    const body = completeRequest(
      { ...doc, workspaceRoot: undefined },
      { requestId: "x", triggerKind: "invoked" },
    );
    const sent = JSON.parse(JSON.stringify(body));
    for (const name of ["max_tokens", "max_generation_ms", "tier", "workspace_root"])
      assert.ok(!(name in sent), name);
    assert.equal(sent.trigger_kind, "invoked");
  });

  it("sends no completion fields in a warm request (the server forbids extra fields)", () => {
    const body = JSON.parse(JSON.stringify(warmRequest(doc)));
    assert.deepEqual(Object.keys(body).sort(), [
      "cursor",
      "disabled_files",
      "language",
      "recent",
      "text",
      "uri",
      "workspace_root",
    ]);
  });

  it("warms the tier the document's completions ask for (a per-language tier), when one is set", () => {
    assert.equal(warmRequest(doc, "auto").tier, "auto");
    assert.ok(!("tier" in JSON.parse(JSON.stringify(warmRequest(doc, null)))));
  });

  it("caps the language at the server's 50 characters", () => {
    assert.equal(warmRequest({ ...doc, language: "x".repeat(80) }).language.length, 50);
  });

  it("makes unique request ids", () => {
    assert.notEqual(newRequestId(), newRequestId());
    assert.match(newRequestId(), /^dash-[0-9a-f-]{36}$/);
  });
});

describe("RecentSnippets", () => {
  const lines = (n: number) => Array.from({ length: n }, (_, i) => `line ${i}`);
  const files: Record<string, string[]> = {
    "file:///a": lines(500),
    "file:///b": lines(30),
    "file:///c": lines(100),
  };
  const read = (uri: string, start: number, end: number) => files[uri]?.slice(start, end).join("\n");

  it("centres a window of 60 lines, clipped to the document", () => {
    assert.deepEqual(windowAround(100, 500), [70, 130]);
    assert.deepEqual(windowAround(3, 500), [0, 60]);
    assert.deepEqual(windowAround(495, 500), [440, 500]);
    assert.deepEqual(windowAround(10, 30), [0, 30]);
  });

  it("leaves the current document out and puts the most recent first", () => {
    const recent = new RecentSnippets();
    recent.note("file:///a", "a.py", 100, 500);
    recent.note("file:///b", "b.py", 5, 30);
    recent.note("file:///c", "c.py", 50, 100);
    const snippets = recent.snippets("file:///c", read);
    assert.deepEqual(
      snippets.map((s) => s.path),
      ["b.py", "a.py"],
    );
    assert.equal(snippets[1].text.split("\n")[0], "line 70");
    assert.equal(snippets[1].text.split("\n").length, 60);
  });

  it("refreshes a window instead of adding an overlapping one", () => {
    const recent = new RecentSnippets();
    recent.note("file:///a", "a.py", 100, 500);
    recent.note("file:///b", "b.py", 5, 30);
    recent.note("file:///a", "a.py", 110, 500); // inside the first window: it moves to the front
    recent.note("file:///a", "a.py", 150, 500); // overlaps [70, 130): replaces it
    const snippets = recent.snippets("file:///x", read);
    assert.deepEqual(
      snippets.map((s) => [s.path, s.text.split("\n")[0]]),
      [
        ["a.py", "line 120"],
        ["b.py", "line 0"],
      ],
    );
  });

  it("sends at most MAX_SNIPPETS_SENT snippets of at most MAX_SNIPPET_CHARS", () => {
    const recent = new RecentSnippets();
    for (let i = 0; i < 8; i++) recent.note("file:///a", "a.py", i * 60 + 30, 500);
    const long = () => "y".repeat(MAX_SNIPPET_CHARS * 2);
    assert.equal(recent.snippets("file:///x", read).length, MAX_SNIPPETS_SENT);
    assert.equal(recent.snippets("file:///x", long)[0].text.length, MAX_SNIPPET_CHARS);
  });

  it("skips documents that are closed, forgets on request", () => {
    const recent = new RecentSnippets();
    recent.note("file:///gone", "gone.py", 1, 10);
    recent.note("file:///b", "b.py", 1, 30);
    assert.deepEqual(
      recent.snippets("file:///x", read).map((s) => s.path),
      ["b.py"],
    );
    recent.forget("file:///b");
    assert.deepEqual(recent.snippets("file:///x", read), []);
  });
});

describe("withSelectedItem (the suggest widget is open)", () => {
  const typing: DocumentState = {
    ...doc,
    text: "a = 1\nconst s = cartSub(x)\n",
    cursor: { line: 1, character: 17 },
  };

  it("completes the document as if the selected item were accepted", () => {
    const asIf = withSelectedItem(typing, { text: "cartSubtotalCents", start: 10, end: 17 });
    assert.equal(asIf?.doc.text, "a = 1\nconst s = cartSubtotalCents(x)\n");
    assert.deepEqual(asIf?.doc.cursor, { line: 1, character: 27 });
    assert.equal(asIf?.typed, "cartSub");
    assert.equal(asIf?.shift, 10);
  });

  it("replaces the rest of the word right of the cursor as the item would", () => {
    const asIf = withSelectedItem(
      { ...typing, cursor: { line: 1, character: 14 } },
      { text: "cartSum", start: 10, end: 17 },
    );
    assert.equal(asIf?.doc.text, "a = 1\nconst s = cartSum(x)\n");
    assert.equal(asIf?.shift, 0);
  });

  it("does not complete an item that changes what is typed, or of several lines", () => {
    assert.equal(withSelectedItem(typing, { text: "CartSubtotal", start: 10, end: 17 }), undefined);
    assert.equal(withSelectedItem(typing, { text: "cartSub\n", start: 10, end: 17 }), undefined);
    assert.equal(withSelectedItem(typing, { text: "cartSubtotal", start: 18, end: 20 }), undefined);
  });
});
