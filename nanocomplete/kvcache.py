"""Per-file KV snapshots: when the user jumps between files, the engine's single KV cache would be
rebuilt from scratch on every jump (the earlier prototype's 28% hit rate). Instead, the state of the file
being left is copied aside, and the snapshot sharing the longest token prefix with the next prompt is
restored, so returning to a file costs only its changed tail.

A document keeps up to MAX_SNAPSHOTS_PER_DOCUMENT snapshots of different regions (windows of the file far
apart, or the same window after other files before it changed): the newest under the document's key, the
others under `key#region-N`. A jump inside a file and back restores the first region's snapshot instead of
evaluating its window again. A snapshot of the same region as a newer one is dropped (the newer holds it).

Least recently used snapshots are dropped first once their total size exceeds the memory budget.

With a `DiskSnapshots` store, a snapshot goes to disk when memory drops it and, at shutdown, every
snapshot in memory and the live document's state do (a background thread writes, so no request waits).
A restarted server finds them: its first request in a known file restores the file's snapshot instead of
evaluating the whole prompt. (Writing every snapshot as it is taken would write ~20 MB per file switch on
a 2-core laptop; a crash loses what only memory held.) The store:
- keys its folder by the engine's identity (the model's and adapter's SHA-256 and the llama.cpp version),
  so a snapshot is only ever restored into the model that made it;
- writes each file atomically (a temporary file renamed over it), and checks a SHA-256 of the tokens and
  the state when reading; a file that fails the check is skipped with a warning and removed;
- holds at most `budget_bytes` on disk, dropping the least recently written files first.

File format (version 1): the line `NCKV1\\n`, a JSON header line (`uri`, `identity`, `tokens`,
`state_bytes`, `sha256`), the tokens as little-endian uint32, then llama.cpp's sequence state
(`llama_state_seq_get_data`).
"""

from __future__ import annotations

import array
import hashlib
import json
import logging
import queue
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nanocomplete.engine import KvSnapshot, common_prefix, reusable_length
from nanocomplete.storage import write_atomic

LOG = logging.getLogger("nanocomplete.kvcache")
MAGIC = b"NCKV1\n"
SUFFIX = ".kv"
REGION_SEPARATOR = "#region-"
MAX_SNAPSHOTS_PER_DOCUMENT = 3  # the region a document was last left at, and two others
SAME_REGION_RUN_TOKENS = 32  # runs this long that a shift could reuse count as the same region


Reusable = Callable[[Sequence[int], Sequence[int]], int]  # (cached tokens, prompt) -> tokens not evaluated


class SnapshotCache:
    def __init__(
        self, budget_bytes: int, disk: DiskSnapshots | None = None, reusable: Reusable = common_prefix
    ):
        """`disk`: a store that keeps every snapshot put here across restarts (None: memory only).
        `reusable`: how many of a prompt's tokens a snapshot's tokens serve (`Engine.reusable`: the
        common prefix, and the runs a shift puts in place; default: the common prefix)."""
        self.budget_bytes = budget_bytes
        self.disk = disk
        self.reusable = reusable
        self._snapshots: OrderedDict[str, KvSnapshot] = OrderedDict()
        self._lock = threading.RLock()  # the engine's thread writes; request threads read (`longest_prefix`)

    def __len__(self) -> int:
        return len(self._snapshots)

    @property
    def size_bytes(self) -> int:
        return sum(s.size_bytes for s in self._snapshots.values())

    def put(self, key: str, snapshot: KvSnapshot) -> None:
        """Keep `snapshot` as `key`'s newest. The snapshot it replaces stays, as one of the document's
        other regions, unless it is of the same region; older regions of the same region are dropped."""
        with self._lock:
            older = self._snapshots.pop(key, None)
            if not snapshot.tokens:
                return
            for region in self._regions(key):
                if same_region(self._snapshots[region].tokens, snapshot.tokens):
                    del self._snapshots[region]
            if older is not None and not same_region(older.tokens, snapshot.tokens):
                self._snapshots[self._free_region(key)] = older
            self._snapshots[key] = snapshot
            self._fit()

    def _regions(self, key: str) -> list[str]:
        """`key`'s other regions in memory, least recently used first."""
        return [k for k in self._snapshots if k.startswith(key + REGION_SEPARATOR)]

    def _free_region(self, key: str) -> str:
        """A name for one more of `key`'s regions: a free one, else the least recently used one's
        (that region is dropped)."""
        names = [f"{key}{REGION_SEPARATOR}{n}" for n in range(MAX_SNAPSHOTS_PER_DOCUMENT - 1)]
        free = [name for name in names if name not in self._snapshots]
        if free:
            return free[0]
        oldest = self._regions(key)[0]
        del self._snapshots[oldest]
        return oldest

    def _fit(self) -> None:
        """Drop the least recently used snapshots past the budget (to disk, when there is one)."""
        while self._snapshots and self.size_bytes > self.budget_bytes:
            key, dropped = self._snapshots.popitem(last=False)
            if self.disk is not None:
                self.disk.save(key, dropped)

    def best(self, prompt: Sequence[int]) -> tuple[str | None, KvSnapshot | None, int]:
        """The snapshot that serves most of `prompt` (`reusable`), from memory or, when one on disk serves
        more, read from disk. Only `touch` marks it as used (a snapshot looked at is not one restored)."""
        best_key, best_length = self._best_in_memory(prompt)
        if self.disk is not None:
            with self._lock:
                in_memory = set(self._snapshots)
            disk_key, disk_length = self.disk.best(prompt, exclude=in_memory, reusable=self.reusable)
            if disk_key is not None and disk_length > best_length:
                loaded = self.disk.load(disk_key)
                if loaded is not None:
                    self.put(disk_key, loaded)
                    best_key, best_length = disk_key, self.reusable(loaded.tokens, prompt)
        with self._lock:
            if best_key is None or best_key not in self._snapshots:
                return None, None, 0
            return best_key, self._snapshots[best_key], best_length

    def touch(self, key: str) -> None:
        """Mark `key`'s snapshot as recently used (it was restored): the last to be dropped."""
        with self._lock:
            if key in self._snapshots:
                self._snapshots.move_to_end(key)

    def longest_prefix(self, prompt: Sequence[int]) -> int:
        """How many tokens of `prompt` the best snapshot (in memory or on disk) serves; reads only."""
        length = self._best_in_memory(prompt)[1]
        if self.disk is not None:
            length = max(length, self.disk.best(prompt, reusable=self.reusable)[1])
        return length

    def _best_in_memory(self, prompt: Sequence[int]) -> tuple[str | None, int]:
        with self._lock:
            entries = [(key, snapshot.tokens) for key, snapshot in self._snapshots.items()]
        best_key, best_length = None, 0
        for key, tokens in entries:
            length = self.reusable(tokens, prompt)
            if length > best_length:
                best_key, best_length = key, length
        return best_key, best_length

    def keys(self) -> list[str]:
        with self._lock:
            return list(self._snapshots)

    def close(self) -> None:
        """Write every snapshot in memory to disk (when there is a disk store) and wait for the writes."""
        if self.disk is None:
            return
        with self._lock:
            kept = list(self._snapshots.items())
        for key, snapshot in kept:
            self.disk.save(key, snapshot)
        self.disk.close()


def same_region(older: Sequence[int], newer: Sequence[int]) -> bool:
    """Whether a cache holding `older` would give `newer` at least half of the shorter one's tokens
    without evaluation (its prefix, and runs a shift puts in place)."""
    return reusable_length(older, newer, SAME_REGION_RUN_TOKENS) >= min(len(older), len(newer)) // 2


@dataclass(frozen=True)
class _Entry:
    path: Path
    tokens: tuple[int, ...]
    size_bytes: int


class DiskSnapshots:
    """KV snapshots on disk, one file per document, for one engine identity."""

    def __init__(self, root: Path, identity: str, budget_bytes: int):
        """`root`: the folder of all snapshot stores; this one lives in a subfolder named by `identity`
        (`Engine.identity`). Reads the index (each file's header and tokens, not its state) at once."""
        self.directory = Path(root) / hashlib.sha256(identity.encode()).hexdigest()[:16]
        self.identity = identity
        self.budget_bytes = budget_bytes
        self._lock = threading.Lock()
        self._index: dict[str, _Entry] = {}
        # the writer's work: a uri to write (its latest snapshot is in _pending), an Event to set once
        # everything before it is written, or None to stop
        self._queue: queue.Queue[str | threading.Event | None] = queue.Queue()
        self._pending: dict[str, KvSnapshot] = {}  # the latest snapshot of each key not written yet
        self.directory.mkdir(parents=True, exist_ok=True)
        for path in sorted(self.directory.glob("*" + SUFFIX), key=lambda p: p.stat().st_mtime_ns):
            read = self._read(path, state=False)
            if read is not None:
                uri, tokens, _ = read
                self._index[uri] = _Entry(path, tokens, path.stat().st_size)
        self._writer = threading.Thread(target=self._write_loop, name="nanocomplete-kv-disk", daemon=True)
        self._writer.start()

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    @property
    def size_bytes(self) -> int:
        with self._lock:
            return sum(e.size_bytes for e in self._index.values())

    def save(self, uri: str, snapshot: KvSnapshot) -> None:
        """Write `snapshot` as `uri`'s, in the background (a newer one for the same uri replaces it)."""
        with self._lock:
            queued = uri in self._pending
            self._pending[uri] = snapshot
        if not queued:
            self._queue.put(uri)

    def best(
        self, prompt: Sequence[int], exclude=(), reusable: Reusable = common_prefix
    ) -> tuple[str | None, int]:
        """The uri whose snapshot on disk serves most of `prompt` (`reusable`), and how many tokens."""
        with self._lock:
            entries = [(uri, e.tokens) for uri, e in self._index.items() if uri not in exclude]
        best_uri, best_length = None, 0
        for uri, tokens in entries:
            if tokens[:1] != tuple(prompt[:1]):
                continue
            length = reusable(tokens, prompt)
            if length > best_length:
                best_uri, best_length = uri, length
        return best_uri, best_length

    def load(self, uri: str) -> KvSnapshot | None:
        """`uri`'s snapshot from disk; None (with a warning, and the file removed) when it is unreadable."""
        with self._lock:
            entry = self._index.get(uri)
        if entry is None:
            return None
        read = self._read(entry.path, state=True)
        if read is None:
            with self._lock:
                self._index.pop(uri, None)
            return None
        _, tokens, state = read
        return KvSnapshot(tokens, state)

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every snapshot saved so far is on disk (at most `timeout_s`)."""
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout_s)

    def close(self, timeout_s: float = 30.0) -> None:
        self.flush(timeout_s)
        self._queue.put(None)
        self._writer.join(timeout_s)

    # --- the writer thread ---

    def _write_loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            uri = item
            with self._lock:
                snapshot = self._pending.pop(uri)
            try:
                self._write(uri, snapshot)
            except OSError as error:
                LOG.warning("could not write the KV snapshot of %s: %s", uri, error)

    def path(self, uri: str) -> Path:
        """The file that holds (or will hold) `uri`'s snapshot."""
        return self.directory / (hashlib.sha256(uri.encode()).hexdigest()[:32] + SUFFIX)

    def _write(self, uri: str, snapshot: KvSnapshot) -> None:
        path = self.path(uri)
        tokens = array.array("I", snapshot.tokens)
        if sys.byteorder != "little":
            tokens.byteswap()
        digest = hashlib.sha256(tokens.tobytes())
        digest.update(snapshot.data)
        header = {
            "uri": uri,
            "identity": self.identity,
            "tokens": len(snapshot.tokens),
            "state_bytes": len(snapshot.data),
            "sha256": digest.hexdigest(),
        }
        payload = MAGIC + json.dumps(header).encode() + b"\n" + tokens.tobytes() + snapshot.data
        if len(payload) > self.budget_bytes:
            return
        write_atomic(path, payload)
        with self._lock:
            self._index.pop(uri, None)
            self._index[uri] = _Entry(path, tuple(snapshot.tokens), len(payload))
            dropped = []
            while sum(e.size_bytes for e in self._index.values()) > self.budget_bytes:
                oldest = next(iter(self._index))
                dropped.append(self._index.pop(oldest).path)
        for old in dropped:
            old.unlink(missing_ok=True)

    def _read(self, path: Path, state: bool) -> tuple[str, tuple[int, ...], bytes] | None:
        """(uri, tokens, state) of a snapshot file (state b"" unless asked for); None, with a warning and
        the file removed, when it is not a whole snapshot of this identity."""
        try:
            with open(path, "rb") as f:
                if f.read(len(MAGIC)) != MAGIC:
                    raise ValueError("not a KV snapshot file")
                header = json.loads(f.readline())
                if header.get("identity") != self.identity:
                    raise ValueError("made by another model or llama.cpp version")
                raw = f.read(4 * int(header["tokens"]))
                if len(raw) != 4 * int(header["tokens"]):
                    raise ValueError("cut short")
                data = f.read() if state else b""
        except (OSError, ValueError, KeyError, TypeError) as error:
            LOG.warning("skipping the KV snapshot %s: %s", path.name, error)
            path.unlink(missing_ok=True)
            return None
        if state:
            digest = hashlib.sha256(raw)
            digest.update(data)
            if len(data) != header["state_bytes"] or digest.hexdigest() != header["sha256"]:
                LOG.warning("skipping the KV snapshot %s: its checksum does not match", path.name)
                path.unlink(missing_ok=True)
                return None
        tokens = array.array("I")
        tokens.frombytes(raw)
        if sys.byteorder != "little":
            tokens.byteswap()
        return str(header["uri"]), tuple(tokens), data
