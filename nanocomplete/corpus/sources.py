"""Where the corpus's code comes from: pinned packages (`pins.py`) → verified archives → source files.

Archives come from the registries through their own clients (`pip download --no-deps`, `npm pack
--ignore-scripts`); they are never installed or run, and their members are read as data straight from the
archive (nothing is extracted to disk). Each archive is verified against the SHA-256 pinned in `pins.py`
and kept in the archive folder, so a rebuild is offline. The license is read from the package metadata and
must be on the allow-list; the LICENSE file's copyright lines and the NOTICE file go into the manifest as
attribution.

Files taken: the library's own source, no tests. Python: the `*.py` files of the importable packages named
in `include` (an sdist's `src/` layout is flattened, so paths read `requests/sessions.py`). TypeScript: the
`*.ts`/`*.tsx` files under the `include` folders (`src/...`), never `.d.ts` or compiled output.
"""

from __future__ import annotations

import email.parser
import json
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from nanocomplete.storage import file_sha256


@dataclass(frozen=True)
class Pin:
    """One package at one version, and the archive the registry serves for it."""

    name: str
    version: str
    ecosystem: str  # "pypi" | "npm"
    include: tuple[str, ...]  # path prefixes inside the package whose files are taken
    archive: str  # file name of the sdist (or wheel) / npm tarball
    sha256: str
    suffixes: tuple[str, ...] = ()  # the source files taken; () is the ecosystem's (SOURCE_SUFFIXES)


ALLOWED_LICENSE = re.compile(
    r"MIT(-0)?|BSD(-[234]-Clause[\w-]*)?|Apache-2\.0|ISC|PSF(-2\.0)?|Python-2\.0|0BSD|Unlicense|CC0(-1\.0)?|Zlib"
)
CLASSIFIER_LICENSES = {
    "MIT License": "MIT",
    "BSD License": "BSD",
    "Apache Software License": "Apache-2.0",
    "ISC License (ISCL)": "ISC",
    "Python Software Foundation License": "PSF-2.0",
    "The Unlicense (Unlicense)": "Unlicense",
    "zlib/libpng License": "Zlib",
    "CC0 1.0 Universal (CC0 1.0) Public Domain Dedication": "CC0-1.0",
}
SOURCE_SUFFIXES = {"pypi": (".py",), "npm": (".ts", ".tsx", ".mts", ".cts")}
JAVASCRIPT = (".js", ".jsx", ".mjs", ".cjs")  # for npm packages whose source is JavaScript
_COPYRIGHT = re.compile(r"\s*(Copyright\b(?! License)(?!.*\[yyyy\])|©)")  # not Apache's template lines
NOT_LIBRARY = re.compile(
    r"(^|/)(tests?|__tests__|testing|benchmarks?|examples?|docs?)/|\.(test|spec|bench)\.[cm]?tsx?$|"
    r"(^|/)(test_[^/]*|[^/]*_test|conftest)\.py$|(^|/)isotest\.|\.d\.[cm]?ts$"
)


class SourceError(Exception):
    """A package cannot be fetched, verified or used (the message says which and why)."""


@dataclass(frozen=True)
class Package:
    """The library files of one package version, with the facts the manifest records."""

    name: str
    version: str
    ecosystem: str
    license: str
    archive: str
    sha256: str
    files: tuple[tuple[str, str], ...]  # (path inside the package, text), sorted by path
    copyright: tuple[str, ...] = ()  # the "Copyright ..." lines of the package's LICENSE file
    notice: str = ""  # its NOTICE file, which Apache-2.0 asks redistributors to carry


def load_package(pin: Pin, archive_dir: Path) -> Package:
    """Fetch (or reuse) the verified archive of `pin` and read its library files and license."""
    archive = fetch(pin, archive_dir)
    members = dict(_members(archive, pin.ecosystem, lambda path: _wanted(path, pin) or _is_metadata(path)))
    license_ = _license(members, pin)
    files = tuple((path, _decode(data)) for path, data in sorted(members.items()) if _wanted(path, pin))
    if not files:
        raise SourceError(f"{pin.archive} has no library source files under {', '.join(pin.include)}")
    texts = {_stem(path): _decode(data) for path, data in members.items() if _is_legal(path)}
    copyright_ = tuple(
        line.strip() for line in texts.get("LICENSE", "").split("\n") if _COPYRIGHT.match(line)
    )
    return Package(
        pin.name,
        pin.version,
        pin.ecosystem,
        license_,
        pin.archive,
        pin.sha256,
        files,
        copyright_,
        texts.get("NOTICE", "").strip(),
    )


def directory_package(root: Path, name: str, version: str = "0", license_: str = "MIT") -> Package:
    """A package read from a local folder (every non-test source file under it): for tests and trials."""
    files = []
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root).as_posix()
        suffixes = (".py", ".ts", ".tsx", *JAVASCRIPT)
        if path.is_file() and relative.endswith(suffixes) and not NOT_LIBRARY.search(relative):
            files.append((relative, _decode(path.read_bytes())))
    return Package(name, version, "local", license_, "", "", tuple(files))


def license_allowed(expression: str) -> bool:
    """Whether every license named in an SPDX-like expression is on the allow-list."""
    names = [part for part in re.split(r"\s+(?:OR|AND|WITH)\s+|[()]", expression.strip()) if part.strip()]
    return bool(names) and all(ALLOWED_LICENSE.fullmatch(part.strip()) for part in names)


# --- fetching --------------------------------------------------------------------------------------------


def fetch(pin: Pin, archive_dir: Path) -> Path:
    """The pinned archive in `archive_dir`, downloaded when missing; its SHA-256 is always checked."""
    path = archive_dir / pin.archive
    if not path.is_file():
        archive_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=archive_dir, prefix=".download-") as scratch:
            os.replace(_download(pin, Path(scratch)), path)
    actual = file_sha256(path)
    if actual != pin.sha256:
        raise SourceError(
            f"{path} has SHA-256 {actual[:12]}…, expected {pin.sha256[:12]}… for {pin.name}=={pin.version}: "
            "delete it to download again, or update the pin after checking the new archive"
        )
    return path


def _download(pin: Pin, scratch: Path) -> Path:
    for command in _download_commands(pin, scratch):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if (scratch / pin.archive).is_file():
            return scratch / pin.archive
    got = ", ".join(p.name for p in scratch.iterdir()) or "nothing"
    raise SourceError(f"could not download {pin.archive} (got {got}): {done.stderr.strip()[-500:]}")


def _download_commands(pin: Pin, scratch: Path) -> list[list[str]]:
    """pip: the sdist, else the wheel (when a package has no sdist, pin the wheel's name). npm: the
    registry tarball, byte for byte."""
    if pin.ecosystem == "npm":
        return [["npm", "pack", f"{pin.name}@{pin.version}", "--pack-destination", str(scratch),
                 "--ignore-scripts", "--silent"]]  # fmt: skip
    pip = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(scratch)]
    spec = f"{pin.name}=={pin.version}"
    return [[*pip, "--no-binary", ":all:", spec], [*pip, "--only-binary", ":all:", spec]]


# --- reading ---------------------------------------------------------------------------------------------


def _members(archive: Path, ecosystem: str, wanted: Callable[[str], bool]) -> Iterator[tuple[str, bytes]]:
    """(path inside the package, bytes) of the wanted regular files. Tarballs lose their top folder
    (`requests-2.34.2/`, `package/`); a `src/` import root is dropped for Python."""
    if archive.name.endswith((".whl", ".zip")):
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                if not info.is_dir() and wanted(info.filename):
                    yield info.filename, zipped.read(info)
        return
    with tarfile.open(archive, "r:*") as tar:
        for member in tar:
            path = _package_path(member.name, ecosystem)
            if member.isfile() and path and wanted(path):
                yield path, tar.extractfile(member).read()


def _package_path(member: str, ecosystem: str) -> str:
    path = member.split("/", 1)[1] if "/" in member else ""
    return path[len("src/") :] if ecosystem == "pypi" and path.startswith("src/") else path


def _wanted(path: str, pin: Pin) -> bool:
    return (
        path.startswith(pin.include)
        and path.endswith(pin.suffixes or SOURCE_SUFFIXES[pin.ecosystem])
        and not NOT_LIBRARY.search(path)
    )


def _is_metadata(path: str) -> bool:
    return path in {"PKG-INFO", "package.json"} or path.endswith(".dist-info/METADATA") or _is_legal(path)


def _is_legal(path: str) -> bool:
    """A LICENSE or NOTICE file at the package's top (any extension), or in a wheel's .dist-info."""
    name = path.rpartition(".dist-info/licenses/")[2] if ".dist-info/" in path else path
    return "/" not in name and _stem(name) in {"LICENSE", "NOTICE"}


def _stem(path: str) -> str:
    return path.rpartition("/")[2].split(".")[0]


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def _license(members: dict[str, bytes], pin: Pin) -> str:
    """The declared license (npm: package.json "license"; pip: License-Expression, License, or the
    classifiers), refused unless allowed."""
    if pin.ecosystem == "npm":
        declared = json.loads(members.get("package.json", b"{}")).get("license", "")
        declared = declared.get("type", "") if isinstance(declared, dict) else declared
    else:
        metadata = next(
            (data for path, data in members.items() if path.endswith(("PKG-INFO", "METADATA"))), b""
        )
        declared = _pkg_info_license(_decode(metadata))
    if not declared or not license_allowed(declared):
        raise SourceError(
            f"{pin.name}=={pin.version}: license {declared or 'unknown'!r} is not on the allow-list"
        )
    return declared


def _pkg_info_license(text: str) -> str:
    headers = email.parser.HeaderParser().parsestr(text)
    for field in ("License-Expression", "License"):
        value = (headers.get(field) or "").strip()
        if value and "\n" not in value and len(value) <= 60 and value.upper() != "UNKNOWN":
            return value
    for classifier in headers.get_all("Classifier") or []:
        name = classifier.rpartition("::")[2].strip()
        if classifier.startswith("License ::") and name in CLASSIFIER_LICENSES:
            return CLASSIFIER_LICENSES[name]
    return ""
