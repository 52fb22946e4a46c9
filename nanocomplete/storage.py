"""Files that survive a crash: whole-file writes that leave the old file or the new one, never half of
either; content hashes; JSONL files that a killed run may have cut mid-line.

Used by the model registry (verification stamps), the benchmark and training-data builders (shards and
manifests) and the resumable runners (samples, teacher scores).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
from pathlib import Path

HASH_BLOCK_BYTES = 1 << 20


def write_atomic(path: Path, data: bytes | str) -> None:
    """Replace `path` with `data` (text is written as UTF-8) in one step: a temporary file in the same
    folder, flushed to disk, then renamed over `path`. Readers and a crash see the old or the new file."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    name = path.parent / f"{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.partial"
    try:
        with open(name, "xb") as f:  # the usual permissions (umask), unlike mkstemp's owner-only 0600
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, as 64 hex digits, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(HASH_BLOCK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def drop_partial_last_line(path: Path) -> None:
    """An interrupted append leaves a line without its newline; cut it so appending stays valid JSONL."""
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        path.write_bytes(data[: data.rfind(b"\n") + 1])
