import * as assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type * as api from "../src/api";
import { Client, ForeignServer, isAbort, ServerError, Unreachable } from "../src/client";

/** A tiny stand-in for the nanocomplete server: records requests, answers per path. */
class FakeServer {
  readonly requests: { method: string; url: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  readonly closedEarly: string[] = [];
  private server = http.createServer((req, res) => this.handle(req, res));
  url = "";

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    let body = "";
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      this.requests.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      this.answer(req.url!, res);
    });
  }

  private answer(url: string, res: http.ServerResponse): void {
    const json = (status: number, value: unknown) => {
      res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify(value));
    };
    if (url === "/slow/v1/complete") {
      res.on("close", () => !res.writableEnded && this.closedEarly.push(url));
      return; // never answers: the client must abort
    }
    if (url === "/health")
      return json(200, { status: "ok", name: "nanocomplete", model: "qwen-test", version: "0.1.0" });
    if (url === "/v1/complete") return json(200, completion("return a + b"));
    if (url === "/v1/events") return json(200, { stored: 2 });
    if (url === "/bad/v1/complete")
      return json(422, { error: { type: "invalid_request", message: "cursor: bad" } });
    res.writeHead(502).end("bad gateway");
  }
}

function completion(text: string): api.CompleteResponse {
  const at = { line: 1, character: 4 };
  return {
    request_id: "r1",
    completion: text,
    replace_range: { start: at, end: at },
    confidence: { mean_logprob: -0.1, min_logprob: -0.5 },
    hidden_by_confidence: false,
    cancelled: false,
    cache: "miss",
    timings: null,
    stop_reason: "stop_token",
    model: "qwen-test",
    tier: "fast",
    tier_reason: "asked",
  };
}

const request: api.CompleteRequest = {
  uri: "file:///w/a.py",
  language: "python",
  text: "def add(a, b):\n    ",
  cursor: { line: 1, character: 4 },
  recent: [],
  disabled_files: [],
  request_id: "r1",
  trigger_kind: "automatic",
};

describe("Client", () => {
  const server = new FakeServer();
  before(() => server.start());
  after(() => server.stop());
  const client = (path = "", apiToken = "") => new Client(() => ({ serverUrl: server.url + path, apiToken }));

  it("posts the completion request as JSON and returns the answer", async () => {
    const answer = await client().complete(request);
    assert.equal(answer.completion, "return a + b");
    const sent = server.requests.at(-1)!;
    assert.equal(sent.method, "POST");
    assert.equal(sent.headers["content-type"], "application/json");
    assert.deepEqual(JSON.parse(sent.body), request);
    assert.equal(sent.headers["authorization"], undefined);
  });

  it("sends the API token as a bearer token", async () => {
    await client("", "s3cret").health();
    assert.equal(server.requests.at(-1)!.headers["authorization"], "Bearer s3cret");
  });

  it("tolerates a trailing slash in the server URL", async () => {
    assert.equal((await client("/").health()).model, "qwen-test");
    assert.equal(server.requests.at(-1)!.url, "/health");
  });

  it("wraps events in {events: [...]}", async () => {
    const events: api.Event[] = [{ kind: "shown", request_id: "r1", shown_chars: 12 }];
    assert.deepEqual(await client().events(events), { stored: 2 });
    assert.deepEqual(JSON.parse(server.requests.at(-1)!.body), { events });
  });

  it("turns the server's error body into a ServerError", async () => {
    const error = await client("/bad")
      .complete(request)
      .catch((e) => e);
    assert.ok(error instanceof ServerError);
    assert.equal(error.status, 422);
    assert.equal(error.type, "invalid_request");
    assert.match(error.message, /cursor: bad/);
  });

  it("keeps a non-JSON error body as the message", async () => {
    const error = await client("/nowhere")
      .events([])
      .catch((e) => e);
    assert.ok(error instanceof ServerError);
    assert.equal(error.status, 502);
    assert.equal(error.type, "http_error");
    assert.match(error.message, /bad gateway/);
  });

  it("reports a server that is not there as Unreachable", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const gone = new Client(() => ({ serverUrl: `http://127.0.0.1:${port}`, apiToken: "" }));
    await assert.rejects(
      gone.health(),
      (e: unknown) => e instanceof Unreachable && /ECONNREFUSED/.test(e.message),
    );
  });

  it("aborting really closes the connection, so the server can cancel the generation", async () => {
    const abort = new AbortController();
    const pending = client("/slow").complete(request, abort.signal);
    await waitFor(() => server.requests.some((r) => r.url === "/slow/v1/complete"));
    abort.abort();
    const error = await pending.catch((e) => e);
    assert.ok(isAbort(error), `expected an abort, got ${error}`);
    await waitFor(() => server.closedEarly.includes("/slow/v1/complete"));
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("Client.health: only nanocomplete counts as ready", () => {
  const servers: http.Server[] = [];
  after(() => servers.forEach((s) => s.close()));

  async function stub(status: number, body: string, headers: Record<string, string> = {}): Promise<string> {
    const server = http.createServer((_req, res) => res.writeHead(status, headers).end(body));
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  it("refuses llama-server on port 8012 and names what answered", async () => {
    const url = await stub(200, JSON.stringify({ status: "ok" }), { "content-type": "application/json" });
    const client = new Client(() => ({ serverUrl: url, apiToken: "" }));
    await assert.rejects(client.health(), (error: Error) => {
      assert.ok(error instanceof ForeignServer);
      assert.match(error.message, /is not a nanocomplete server: its \/health answered \{"status":"ok"\}/);
      return true;
    });
  });

  it("refuses any other HTTP server, whatever its status", async () => {
    const url = await stub(404, "<html>Not Found</html>", { "content-type": "text/html" });
    const client = new Client(() => ({ serverUrl: url, apiToken: "" }));
    await assert.rejects(client.health(), /is not a nanocomplete server: its \/health answered 404/);
  });

  it("accepts nanocomplete's /health", async () => {
    const body = { status: "ok", name: "nanocomplete", model: "nanocomplete-0.5b", version: "0.1.0" };
    const url = await stub(200, JSON.stringify(body), { "content-type": "application/json" });
    const client = new Client(() => ({ serverUrl: url, apiToken: "" }));
    assert.equal((await client.health()).model, "nanocomplete-0.5b");
  });
});
