"""Execution sandbox for generated code (benchmark programs: a candidate plus its tests).

What it covers:
- the program runs in a separate process (its own session and process group), never in ours;
- a wall-clock timeout kills the whole process group (an infinite loop, a sleeping child);
- resource limits set before exec: address space (Python only: V8 reserves huge virtual ranges, so Node
  gets `--max-old-space-size` instead), CPU seconds, size of files written, no core dumps;
- a fresh temporary working directory, also used as HOME and TMPDIR, deleted afterwards;
- a scrubbed environment: only PATH, LANG, HOME and TMPDIR (no tokens, no proxies, no PYTHONPATH);
  Python runs isolated (`-I`: no user site, no environment variables, no script directory on sys.path);
- a crash, an exception, a failed assertion or a timeout is a *failed* outcome, not a harness error;
  only a missing interpreter raises SandboxError.

What it does not cover (this is not a security boundary for hostile code):
- network access is not blocked;
- files outside the temporary directory can still be read, and written by absolute path, with the
  rights of the user running the harness;
- no namespaces, seccomp or containers; a fork bomb is limited only by the CPU and time limits.
Use it for benchmark code produced by our own models, on a machine you do not mind losing a file on.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

OUTPUT_TAIL_CHARS = 2000


class SandboxError(Exception):
    """The sandbox itself could not run (for example, no interpreter)."""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 10.0
    memory_mb: int = 1024
    cpu_s: int = 10
    file_size_mb: int = 16


@dataclass(frozen=True)
class Outcome:
    status: str  # "passed" | "failed" | "timeout"
    returncode: int | None
    duration_ms: float
    stdout: str  # last OUTPUT_TAIL_CHARS characters
    stderr: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"


def run_python(program: str, limits: Limits = Limits()) -> Outcome:
    return _run([sys.executable, "-I", "program.py"], program, "program.py", limits, limit_memory=True)


def run_node(program: str, limits: Limits = Limits()) -> Outcome:
    node = shutil.which("node")
    if node is None:
        raise SandboxError("node is not installed: JavaScript tasks need Node.js on PATH")
    command = [node, f"--max-old-space-size={limits.memory_mb}", "program.js"]
    return _run(command, program, "program.js", limits, limit_memory=False)


def _run(command: list[str], program: str, filename: str, limits: Limits, limit_memory: bool) -> Outcome:
    with tempfile.TemporaryDirectory(prefix="nanocomplete-sandbox-") as workdir:
        with open(os.path.join(workdir, filename), "w", encoding="utf-8") as f:
            f.write(program)
        started = time.perf_counter()
        try:
            process = subprocess.Popen(
                command,
                cwd=workdir,
                env=_scrubbed_env(workdir),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
                preexec_fn=lambda: _apply_limits(limits, limit_memory),
            )
        except OSError as error:
            raise SandboxError(f"cannot start {command[0]}: {error}") from error
        try:
            stdout, stderr = process.communicate(timeout=limits.timeout_s)
            status = "passed" if process.returncode == 0 else "failed"
        except subprocess.TimeoutExpired:
            _kill_group(process)
            stdout, stderr = process.communicate()
            status = "timeout"
        return Outcome(
            status=status,
            returncode=process.returncode,
            duration_ms=(time.perf_counter() - started) * 1000,
            stdout=stdout.decode("utf-8", "replace")[-OUTPUT_TAIL_CHARS:],
            stderr=stderr.decode("utf-8", "replace")[-OUTPUT_TAIL_CHARS:],
        )


def _scrubbed_env(workdir: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": workdir,
        "TMPDIR": workdir,
    }


def _apply_limits(limits: Limits, limit_memory: bool) -> None:
    """Runs in the child between fork and exec."""
    if limit_memory:
        memory = limits.memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_s, limits.cpu_s + 1))
    file_size = limits.file_size_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _kill_group(process: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
