import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, it } from "node:test";
import {
  type Diagnosis,
  diagnose,
  isAccessLog,
  isLoopback,
  registeredCommand,
  registrationPath,
  ServerProcess,
  serverCommand,
  serverCommandLine,
} from "../src/server";
import { refusal, statusView } from "../src/status";
import { ServerError } from "../src/client";

describe("serverCommandLine", () => {
  it("adds the port of the server URL", () => {
    assert.equal(
      serverCommandLine("nanocomplete serve", "http://127.0.0.1:8012"),
      "nanocomplete serve --port 8012",
    );
    assert.equal(
      serverCommandLine(" nanocomplete serve ", "http://localhost:9000/"),
      "nanocomplete serve --port 9000",
    );
  });

  it("keeps a port the command sets", () => {
    const command = "nanocomplete serve --port 9001 --threads 2";
    assert.equal(serverCommandLine(command, "http://127.0.0.1:8012"), command);
    assert.equal(serverCommandLine("x serve --port=7", "http://127.0.0.1:8012"), "x serve --port=7");
  });
});

describe("isLoopback", () => {
  it("starts servers only for this machine's addresses", () => {
    assert.ok(isLoopback("http://127.0.0.1:8012"));
    assert.ok(isLoopback("http://localhost:8012"));
    assert.ok(isLoopback("http://[::1]:8012"));
    assert.ok(!isLoopback("http://10.0.0.5:8012"));
    assert.ok(!isLoopback("not a url"));
  });
});

describe("diagnose", () => {
  it("recognises a model that is not pulled and quotes the command to run", () => {
    const output =
      "error: model 'qwen2.5-coder-0.5b-instruct' is not pulled yet: " +
      "run `nanocomplete pull qwen2.5-coder-0.5b-instruct`\n";
    const d = diagnose(output, 1);
    assert.equal(d.problem, "model_missing");
    assert.match(d.message, /`nanocomplete pull qwen2.5-coder-0.5b-instruct`/);
  });

  it("recognises a missing command", () => {
    assert.equal(diagnose("sh: 1: nanocomplete: not found\n", 127).problem, "not_found");
  });

  it("recognises a port in use", () => {
    assert.equal(
      diagnose("ERROR: [Errno 98] error while attempting to bind: address already in use", 1).problem,
      "port_in_use",
    );
  });

  it("otherwise quotes the last line", () => {
    assert.deepEqual(diagnose("loading\nboom\n", 3), {
      problem: "exited",
      message: "the server exited with code 3: boom",
    });
  });
});

describe("isAccessLog", () => {
  it("tells uvicorn's per-request lines from the rest of the server's output", () => {
    assert.ok(isAccessLog('INFO:     127.0.0.1:43808 - "GET /health HTTP/1.1" 200 OK'));
    assert.ok(isAccessLog('INFO:     127.0.0.1:43898 - "POST /v1/complete HTTP/1.1" 200 OK'));
    assert.ok(!isAccessLog("INFO:     Uvicorn running on http://127.0.0.1:33455 (Press CTRL+C to quit)"));
    assert.ok(!isAccessLog("error: model 'x' is not pulled yet"));
  });
});

describe("ServerProcess", () => {
  const run = (command: string) =>
    new Promise<{ diagnosis: Diagnosis; lines: string[] }>((resolve) => {
      const lines: string[] = [];
      const p = new ServerProcess((line) => lines.push(line));
      p.start(command, process.cwd(), (diagnosis) => resolve({ diagnosis, lines }));
    });

  it("logs the output and explains the exit", async () => {
    const access = `echo 'INFO:     127.0.0.1:1 - "GET /health HTTP/1.1" 200 OK'`;
    const pull = "echo 'error: run `nanocomplete pull m`' >&2";
    const { diagnosis, lines } = await run(`echo 'loading model'; ${access}; ${pull}; exit 1`);
    assert.deepEqual(lines, ["loading model", "error: run `nanocomplete pull m`"]);
    assert.equal(diagnosis.problem, "model_missing");
  });

  it("reports a command that does not exist", async () => {
    const { diagnosis } = await run("surely-not-a-command-nanocomplete serve");
    assert.equal(diagnosis.problem, "not_found");
  });

  it("stops the process it started without reporting an exit", async () => {
    let exited = false;
    const p = new ServerProcess(() => {});
    p.start("sleep 30", process.cwd(), () => (exited = true));
    assert.ok(p.running);
    p.stop();
    assert.ok(!p.running);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(!exited);
  });
});

describe("statusView", () => {
  it("shows the model and the last latency when ready", () => {
    const view = statusView({ kind: "ready", model: "qwen2.5-coder-0.5b-instruct" }, true, 412.6);
    assert.equal(view.text, "$(zap) Dash · qwen2.5-coder-0.5b-instruct · 413 ms");
  });

  it("says when completions are off or the server is missing", () => {
    assert.match(statusView({ kind: "ready", model: "m" }, false).text, /circle-slash/);
    const missing = statusView({ kind: "unreachable", message: "no server answers" }, true);
    assert.equal(missing.text, "$(debug-disconnect) Dash: no server");
    assert.equal(missing.tooltip, "no server answers");
  });

  it("says when the active file gets no completions though Dash is on, and why", () => {
    const ready = { kind: "ready", model: "m" } as const;
    const view = statusView(ready, true, 300, "markdown is off in nanocomplete.languages");
    assert.equal(view.text, "$(circle-slash) Dash · m · 300 ms");
    assert.match(view.tooltip, /off in this file: markdown is off in nanocomplete.languages/);
    assert.equal(statusView(ready, true, 300, undefined).text, "$(zap) Dash · m · 300 ms");
    assert.doesNotMatch(statusView(ready, false, 300, "x").tooltip, /off in this file/); // off everywhere
  });

  it("says a foreign server is not ours, and shows a refused request's status", () => {
    const foreign = statusView({ kind: "foreign", message: "llama-server answered" }, true);
    assert.equal(foreign.text, "$(warning) Dash: not a nanocomplete server");
    for (const status of [400, 401, 404]) {
      const error = new ServerError(status, "invalid_request", "no");
      const message = refusal(error, "http://127.0.0.1:8012");
      const view = statusView({ kind: "refused", status, message }, true);
      assert.equal(view.text, `$(error) Dash: ${status}`);
      assert.match(view.tooltip, new RegExp(`${status} invalid_request: no`));
    }
    assert.match(refusal(new ServerError(401, "unauthorized", "x"), "u"), /set nanocomplete.apiToken/);
  });
});

describe("ServerProcess.stop", () => {
  it(
    "stops the whole command, not just the shell running it",
    { skip: process.platform !== "linux" },
    async () => {
      const marker = `sleep 31.${process.pid}`;
      const p = new ServerProcess(() => {});
      p.start(`${marker}; echo unreachable`, process.cwd(), () => {});
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok(commandLines().some((c) => c.includes(marker)));
      p.stop();
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok(!commandLines().some((c) => c.includes(marker)));
    },
  );
});

function commandLines(): string[] {
  return fs
    .readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map((pid) => {
      try {
        return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      } catch {
        return "";
      }
    });
}

describe("the server make setup registered", () => {
  it("is read from platformdirs' user config dir on each platform", () => {
    const home = "/home/u";
    assert.equal(registrationPath({}, "linux", home), "/home/u/.config/nanocomplete/server.json");
    assert.equal(registrationPath({ XDG_CONFIG_HOME: "/x" }, "linux", home), "/x/nanocomplete/server.json");
    assert.equal(
      registrationPath({}, "darwin", home),
      "/home/u/Library/Application Support/nanocomplete/server.json",
    );
  });

  it("becomes one shell command line, each argument quoted where needed", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dash-registration-"));
    const file = path.join(dir, "server.json");
    const python = "/opt/my tools/.venv/bin/python";
    fs.writeFileSync(
      file,
      JSON.stringify({ command: [python, "-m", "nanocomplete", "serve", "--threads", "2"] }),
    );
    assert.equal(
      registeredCommand(file),
      "'/opt/my tools/.venv/bin/python' -m nanocomplete serve --threads 2",
    );
    fs.writeFileSync(file, JSON.stringify({ command: "rm -rf /" }));
    assert.equal(registeredCommand(file), undefined); // not what register writes
    assert.equal(registeredCommand(path.join(dir, "missing.json")), undefined);
    fs.rmSync(dir, { recursive: true });
  });

  it("is used when nanocomplete.serverCommand is empty, and the PATH's nanocomplete when none is registered", () => {
    assert.equal(
      serverCommand("", () => "/venv/bin/python -m nanocomplete serve"),
      "/venv/bin/python -m nanocomplete serve",
    );
    assert.equal(
      serverCommand("  ", () => undefined),
      "nanocomplete serve",
    );
    assert.equal(
      serverCommand("my-serve --x", () => "ignored"),
      "my-serve --x",
    );
  });
});
