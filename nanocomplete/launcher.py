"""How an editor finds this installation's server without any setting: `make setup` runs
`nanocomplete register`, which writes the command that starts the server to one file per user,
`<user config dir>/nanocomplete/server.json` (platformdirs: `$XDG_CONFIG_HOME` or `~/.config` on Linux,
`~/Library/Application Support` on macOS, `%LOCALAPPDATA%` on Windows). Dash reads it when
`nanocomplete.serverCommand` is empty (its default), so the server starts although `nanocomplete` is not on
the PATH.

The file: `{"command": [python, "-m", "nanocomplete", "serve", ...flags], "version": "0.1.0"}`, each
element one argument (the interpreter of the virtual environment that ran `register`, by absolute path).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import platformdirs

from nanocomplete import __version__, storage

REGISTRATION_FILE = "server.json"


def registration_path() -> Path:
    return Path(platformdirs.user_config_dir("nanocomplete", appauthor=False)) / REGISTRATION_FILE


def register(serve_flags: list[str]) -> tuple[Path, list[str]]:
    """Write the command that starts this installation's server (with `serve_flags`) for editors to
    find; returns the file and the command."""
    command = [str(Path(sys.executable).absolute()), "-m", "nanocomplete", "serve", *serve_flags]
    path = registration_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    storage.write_atomic(path, json.dumps({"command": command, "version": __version__}, indent=1) + "\n")
    return path, command
