"""#19 item 3: the memory of the two tiers served together. Starts `nanocomplete serve` with a quality model,
fills both tiers' KV snapshot caches (every file is completed once on each tier, one new line and one
mid-line request, so each tier keeps a snapshot per file until its share of the budget is full), and reports
the server process's resident memory (VmRSS, and its peak VmHWM, from /proc) with the cache outcomes.

Usage: .venv/bin/python runs/tier_memory.py [--files 8] [--out FILE] [-- SERVE FLAGS...]
  e.g. runs/tier_memory.py --files 8 -- --quality-model qwen2.5-coder-1.5b-instruct --threads 1
The files are this repository's own largest Python modules (any machine has them).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def memory_mb(pid: int) -> dict[str, float]:
    """VmRSS, its peak VmHWM, and VmRSS's parts RssAnon (heap: KV caches, snapshots, Python) and RssFile
    (the GGUF files, mapped), in MiB (Linux /proc)."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
            fields[name] = int(value.split()[0]) / 1024
    return fields


def cursors(text: str) -> list[tuple[int, int]]:
    """Two cursors in the middle of a file: the start of a line (quality under auto) and mid-line."""
    lines = text.split("\n")
    row = len(lines) // 2
    while row < len(lines) - 1 and len(lines[row].strip()) < 12:
        row += 1
    return [(row, len(lines[row]) - len(lines[row].lstrip())), (row, len(lines[row]) // 2)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--out", type=Path)
    parser.add_argument("serve_flags", nargs="*")
    args = parser.parse_args()
    files = sorted((ROOT / "nanocomplete").glob("*.py"), key=lambda p: -p.stat().st_size)[: args.files]
    port = free_port()
    command = [sys.executable, "-m", "nanocomplete", "serve", "--port", str(port), *args.serve_flags]
    server = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rows, started = [], time.perf_counter()
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=1800) as client:
            while True:
                try:
                    health = client.get("/health").json()
                    break
                except httpx.TransportError:
                    if server.poll() is not None:
                        raise SystemExit(f"the server exited with {server.returncode}") from None
                    time.sleep(0.5)
            loaded = memory_mb(server.pid)
            for path in files:
                text = path.read_text()
                for tier in health["tiers"]:
                    for line, character in cursors(text):
                        cursor = {"line": line, "character": character}
                        body = {"uri": path.as_uri(), "text": text, "cursor": cursor, "tier": tier}
                        answer = client.post("/v1/complete", json=body).json()
                        rows.append({"file": path.name, "tier": answer["tier"], "cache": answer["cache"],
                                     "prompt_tokens": (answer["timings"] or {}).get("prompt_tokens"),
                                     **memory_mb(server.pid)})  # fmt: skip
                print(f"{path.name}: {rows[-1]}", flush=True)
            result = {
                "command": " ".join(command[1:]), "tiers": health["tiers"], "files": len(files),
                "after_load_mb": loaded, "at_end_mb": memory_mb(server.pid), "cpu_count": os.cpu_count(),
                "seconds": round(time.perf_counter() - started), "requests": rows,
            }  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(json.dumps({k: v for k, v in result.items() if k != "requests"}, indent=1))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
