"""One test per claim in the sandbox's docstring."""

import os

import pytest

from nanocomplete.evals.sandbox import Limits, run_node, run_python

FAST = Limits(timeout_s=3, cpu_s=3)


def test_a_passing_program_passes():
    assert run_python("assert 1 + 1 == 2\n").passed


def test_a_failed_assertion_is_a_failure_not_a_harness_error():
    outcome = run_python("assert 1 + 1 == 3\n")
    assert outcome.status == "failed"
    assert "AssertionError" in outcome.stderr


def test_a_crash_is_a_failure():
    outcome = run_python("import os\nos.abort()\n")
    assert outcome.status == "failed"
    assert outcome.returncode != 0


def test_an_infinite_loop_is_killed_at_the_wall_clock_timeout():
    outcome = run_python("while True:\n    pass\n", FAST)
    assert outcome.status in ("timeout", "failed")  # whichever of wall clock and CPU limit hits first
    assert outcome.duration_ms < 6000


def test_a_sleeping_child_process_is_killed_with_its_group():
    program = (
        "import subprocess, sys\nsubprocess.run([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
    )
    outcome = run_python(program, Limits(timeout_s=2))
    assert outcome.status == "timeout"
    assert outcome.duration_ms < 5000


def test_memory_is_limited():
    outcome = run_python("x = bytearray(4 * 1024 ** 3)\n", Limits(memory_mb=256))
    assert outcome.status == "failed"
    assert "MemoryError" in outcome.stderr


def test_a_relative_write_lands_in_a_temporary_directory_that_is_removed(tmp_path):
    program = "import os\nopen('out.txt', 'w').write('x')\nprint(os.getcwd())\n"
    outcome = run_python(program)
    workdir = outcome.stdout.strip()
    assert outcome.passed
    assert workdir != os.getcwd() and "nanocomplete-sandbox-" in workdir
    assert not os.path.exists(workdir)


def test_the_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("SECRET_TOKEN", "hunter2")
    outcome = run_python("import os\nprint(sorted(os.environ))\n")
    assert "SECRET_TOKEN" not in outcome.stdout
    assert (
        eval(outcome.stdout) == ["HOME", "LANG", "LC_CTYPE", "PATH", "TMPDIR"]
        or "SECRET" not in outcome.stdout
    )


def test_large_files_cannot_be_written():
    outcome = run_python("open('big', 'wb').write(b'x' * (64 * 1024 * 1024))\n", Limits(file_size_mb=1))
    assert outcome.status == "failed"


@pytest.mark.parametrize(
    ("program", "status"), [("process.exit(0)", "passed"), ("throw new Error('no')", "failed")]
)
def test_node_programs_run_with_the_same_outcomes(program, status):
    assert run_node(program).status == status
