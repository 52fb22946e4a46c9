"""The real `nanocomplete` command, run as a subprocess: output and exit codes."""

import dataclasses
import json
import subprocess
import sys

import pytest
from conftest import FIXTURES

from nanocomplete import config


def nanocomplete(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nanocomplete", *args], capture_output=True, text=True, timeout=300
    )


def typing_at(tmp_path, fixture: str, needle: str):
    """A copy of a real file in which the user is typing the line holding `needle`: the rest of that
    line is not written yet. Returns (path, 1-based line, 1-based column, the original rest of line)."""
    lines = (FIXTURES / fixture).read_text().split("\n")
    index = next(i for i, line in enumerate(lines) if needle in line)
    column = lines[index].index(needle) + len(needle)
    rest = lines[index][column:]
    lines[index] = lines[index][:column]
    path = tmp_path / fixture
    path.write_text("\n".join(lines))
    return path, index + 1, column + 1, rest


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["models"],
        ["pull"],
        ["complete"],
        ["bench", "engine"],
        ["bench", "index"],
        ["bench", "restore"],
        ["settings"],
        ["register"],
    ],
)
def test_every_command_has_help(command):
    result = nanocomplete(*command, "--help")
    assert result.returncode == 0
    assert result.stdout.startswith("usage: nanocomplete")


def test_models_lists_the_registry_and_marks_the_default_as_pulled():
    result = nanocomplete("models")
    assert result.returncode == 0
    default_line = next(line for line in result.stdout.splitlines() if line.startswith("*"))
    assert "nanocomplete-0.5b" in default_line and " pulled " in default_line
    assert "qwen2.5-coder-0.5b-instruct" in result.stdout and "qwen2.5-coder-1.5b-instruct" in result.stdout
    assert "adapter: " in result.stdout and "over qwen2.5-coder-0.5b-instruct" in result.stdout


@pytest.mark.parametrize(
    ("fixture", "needle"),
    [("textwrap_stdlib.py", "self.width = "), ("signals_core.ts", "const prevContext = ")],
)
def test_complete_finishes_a_line_of_a_real_file(tmp_path, fixture, needle):
    path, line, column, rest = typing_at(tmp_path, fixture, needle)
    result = nanocomplete("complete", str(path), "--line", str(line), "--col", str(column))
    assert result.returncode == 0, result.stderr
    # the identifier the line needs (exact tokens can vary with llama.cpp's batch size and CPU)
    assert result.stdout.split("\n")[0].startswith(rest.rstrip(";").split(".")[0])
    assert "evaluated" in result.stderr and "ms" in result.stderr


def test_complete_json_has_the_completion_timings_confidence_and_the_prompt_the_model_saw(tmp_path):
    path, line, column, rest = typing_at(tmp_path, "textwrap_stdlib.py", "self.width = ")
    result = nanocomplete("complete", str(path), "--line", str(line), "--col", str(column), "--json")
    payload = json.loads(result.stdout)
    assert payload["text"].startswith(rest)
    assert payload["prompt"].count("<|fim_prefix|>") == 1 and "self.width = " in payload["prompt"]
    assert payload["context_files"] == [] and payload["cache"] == "miss"
    assert payload["timings"]["prompt_tokens_evaluated"] == payload["timings"]["prompt_tokens"] > 0
    assert payload["timings"]["tokens_generated"] >= 1
    assert payload["min_logprob"] <= payload["mean_logprob"] <= 0


def test_a_document_with_marker_strings_completes(tmp_path):
    path = tmp_path / "markers.py"
    path.write_text(
        'FIM_PREFIX = "<|fim_prefix|>"\nFIM_SUFFIX = "<|fim_suffix|>"\nFIM_MIDDLE = "<|fim_middle|>"\n\n'
        "MARKERS = [FIM_PREFIX, "
    )
    result = nanocomplete("complete", str(path), "--line", "5", "--col", "24")
    assert result.returncode == 0, result.stderr
    first_line = result.stdout.split("\n")[0]
    assert "FIM_SUFFIX" in first_line and "FIM_MIDDLE" in first_line


def test_settings_flags_reach_the_completion(tmp_path):
    path, line, column, _ = typing_at(tmp_path, "signals_core.ts", "const prevContext = ")
    args = ["complete", str(path), "--line", str(line), "--col", str(column), "--json"]
    payload = json.loads(nanocomplete(*args, "--max-prefix-tokens", "64", "--max-tokens", "1").stdout)
    assert payload["prefix_tokens"] <= 64
    assert payload["timings"]["tokens_generated"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--line", "1", "--col", "999"], "column 999 is out of range: line 1 has"),
        (["--line", "99999", "--col", "1"], "line 99999 is out of range"),
        (
            ["--line", "3", "--col", "0"],
            "column 0 is out of range: line 3 has 0 characters, and columns start at 1 (so 1 to 1",
        ),
        (
            ["--line", "0", "--col", "1"],
            "line 0 is out of range: the document has 492 lines, and lines start at 1 (so 1 to 492)",
        ),
        (
            ["--line", "18", "--col", "-2"],
            "column -2 is out of range: line 18 has 7 characters, and columns start at 1 (so 1 to 8",
        ),
        (["--line", "1", "--col", "1", "--model", "gpt-17"], "unknown model 'gpt-17'"),
    ],
)
def test_bad_arguments_give_a_clear_error_and_exit_code_1(args, message):
    result = nanocomplete("complete", str(FIXTURES / "textwrap_stdlib.py"), *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreadable_file_is_a_clear_error(tmp_path):
    result = nanocomplete("complete", str(tmp_path / "nope.py"), "--line", "1", "--col", "1")
    assert result.returncode == 1
    assert "cannot read" in result.stderr


def test_a_model_that_is_not_pulled_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setenv("NANOCOMPLETE_CACHE_DIR", str(tmp_path))
    result = nanocomplete("complete", str(FIXTURES / "textwrap_stdlib.py"), "--line", "1", "--col", "1")
    assert result.returncode == 1
    assert "nanocomplete pull qwen2.5-coder-0.5b-instruct" in result.stderr


BILLING_CLIENT = '''class InvoiceClient:
    """Talks to the billing API (v2)."""

    def __init__(self, token: str):
        self.token = token

    def submit_invoice_v2(self, invoice_id: str, amount_cents: int) -> dict:
        """Submit an invoice; replaces the removed `send_invoice`."""
        return {"id": invoice_id, "amount_cents": amount_cents}

    def cancel_invoice_v2(self, invoice_id: str) -> None:
        """Cancel an invoice that was submitted."""
'''
BILLING_MAIN = """from billing.client import InvoiceClient


def charge(token: str, invoice_id: str, amount_cents: int) -> dict:
    client = InvoiceClient(token)
    return client.
"""


def test_workspace_context_brings_the_right_api_from_another_file(tmp_path):
    (tmp_path / "billing").mkdir()
    (tmp_path / "billing" / "__init__.py").write_text("")
    (tmp_path / "billing" / "client.py").write_text(BILLING_CLIENT)
    (tmp_path / "main.py").write_text(BILLING_MAIN)
    args = ["complete", str(tmp_path / "main.py"), "--line", "6", "--col", "19"]
    without = nanocomplete(*args)
    with_context = nanocomplete(*args, "--workspace", str(tmp_path))
    assert not without.stdout.startswith("submit_invoice_v2")  # the model cannot know the name
    assert with_context.stdout.startswith("submit_invoice_v2(")


def test_bench_context_times_selection_on_a_package_folder_and_while_typing():
    # the package's own folder: its root is a package (`__init__.py` at the top), which once crashed
    root = FIXTURES.parents[1] / "nanocomplete"
    result = nanocomplete("bench", "context", str(root), "--requests", "10")
    assert result.returncode == 0, result.stderr
    values = dict(line.split(": ", 1) for line in result.stdout.splitlines() if ": " in line)
    assert int(values["files"]) >= 20 and int(values["selections"]) == 10
    assert 0 < float(values["typing_ms_p50"]) <= float(values["typing_ms_p95"])
    assert float(values["context_tokens_median"]) >= 0 and float(values["context_share"]) > 0


def test_bench_restore_reads_a_snapshot_from_disk_faster_than_it_evaluates_the_prompt():
    result = nanocomplete("bench", "restore", "--prompt-tokens", "256", "--repeats", "1")
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("| 256 |"))
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    evaluate_ms, read_ms, restore_ms = float(cells[1]), float(cells[4]), float(cells[5])
    assert read_ms + restore_ms < evaluate_ms


def test_register_writes_a_command_that_starts_this_installations_server_from_anywhere(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}
    registered = subprocess.run(
        [sys.executable, "-m", "nanocomplete", "register", "--", "--threads", "2"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert registered.returncode == 0, registered.stderr
    command = json.loads((tmp_path / "config" / "nanocomplete" / "server.json").read_text())["command"]
    assert command[0] == sys.executable and command[-2:] == ["--threads", "2"]
    # no `nanocomplete` on this PATH, another working directory: the command still starts `serve`
    started = subprocess.run(
        [*command, "--help"], capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path
    )
    assert started.returncode == 0 and "usage: nanocomplete serve" in started.stdout


def test_register_refuses_flags_that_serve_would_refuse(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(tmp_path), "HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "nanocomplete", "register", "--", "--no-such-flag"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode != 0 and "--no-such-flag" in result.stderr
    assert not (tmp_path / "nanocomplete" / "server.json").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--draft", "model"], "--draft model needs --draft-model"),
        (["--draft", "medusa"], "unknown draft 'medusa'"),
        (["--max-generation-ms", "60001"], "max_generation_ms must be 0 to 60,000, got 60001"),
        (["--max-generation-ms", "-1"], "max_generation_ms must be 0 to 60,000, got -1"),
    ],
)
def test_serve_refuses_a_draft_it_cannot_run_or_a_limit_out_of_bounds_before_loading_anything(flags, message):
    result = nanocomplete("serve", "--port", "0", *flags)
    assert result.returncode != 0 and message in result.stderr


def test_eval_as_served_starts_from_the_serving_prompt_settings_and_flags_still_override(tmp_path):
    out = tmp_path / "run"
    args = ["eval", "humaneval-fim-single", "--limit", "1", "--threads", "1", "--out", str(out)]
    result = nanocomplete(*args, "--as-served", "--max-middle-tokens", "8")
    assert result.returncode == 0, result.stderr
    prompt = json.loads((out / "config.json").read_text())["prompt"]
    # a harness example is one request on a warm file: the bound for cold requests only with its flag
    assert prompt == {
        **dataclasses.asdict(config.SERVING_PROMPT),
        "max_middle_tokens": 8,
        "cold_prompt_tokens": 0,
    }
    bounded = nanocomplete(
        *args[:-1], str(tmp_path / "bounded"), "--as-served", "--cold-prompt-tokens", "256"
    )
    assert bounded.returncode == 0, bounded.stderr
    assert (
        json.loads((tmp_path / "bounded" / "config.json").read_text())["prompt"]["cold_prompt_tokens"] == 256
    )
