"""Which names a file of a package imports from its other files, and on which lines it uses them (pure: no
I/O). Shared by the cross-file benchmark (evals/crossfile_examples: its settings) and the training-data
builder (train/examples: its cross-file share), so both call the same lines cross-file.

A name counts as cross-file when its import resolves to another file of the package: Python absolute
(`pkg.mod`) and relative imports, packages through `__init__.py`; TS and JS relative specifiers with
.ts/.tsx/index resolution (`./x.js` means `./x.ts`), then JavaScript files (`./x` → `./x.js`, `./x/index.js`)
where no TypeScript file answers. Star imports and bare-package specifiers bind no cross-file name. (The
benchmark's packages hold no JavaScript files, so its examples are as before JavaScript resolved.)
"""

from __future__ import annotations

import posixpath

from nanocomplete import syntax
from nanocomplete.corpus.files import SourceFile

TS_SUFFIXES = (".ts", ".tsx", ".mts", ".cts")
TS_COMPILED_SUFFIX = {".js": (".ts", ".tsx"), ".jsx": (".tsx",), ".mjs": (".mts",), ".cjs": (".cts",)}
JS_SUFFIXES = (".js", ".jsx", ".mjs", ".cjs")

Target = tuple[str, str | None]  # (path of the file, name defined there; None: the module itself)


class PackageImports:
    """One package's files by path and by Python module name, and where their imports point."""

    def __init__(self, files: list[SourceFile]):
        self.files = {file.path: file for file in files}
        self.modules = {module_name(file.path): file.path for file in files if file.language == "python"}

    def resolve(self, file: SourceFile, imp: syntax.Import) -> Target | None:
        """Where an import points inside the package, or None (outside it, or a star import)."""
        if imp.name == "*":
            return None
        if file.language == "python":
            return self._resolve_python(file, imp)
        path = self._resolve_specifier(file.path, imp.module)
        return (path, imp.name) if path else None

    def _resolve_python(self, file: SourceFile, imp: syntax.Import) -> Target | None:
        base = _absolute_module(file.path, imp.module, imp.level)
        if base is None:
            return None
        if imp.name is None:
            bound = imp.alias if imp.level == 0 and imp.alias == base.split(".")[0] else base
            return (self.modules[bound], None) if bound in self.modules else None
        submodule = f"{base}.{imp.name}" if base else imp.name
        if submodule in self.modules:
            return self.modules[submodule], None
        return (self.modules[base], imp.name) if base in self.modules else None

    def _resolve_specifier(self, path: str, specifier: str) -> str | None:
        if not specifier.startswith("."):
            return None
        base = posixpath.normpath(posixpath.join(posixpath.dirname(path), specifier))
        candidates = [base] if base.endswith(TS_SUFFIXES) else []
        for compiled, sources in TS_COMPILED_SUFFIX.items():
            if base.endswith(compiled):
                candidates += [base[: -len(compiled)] + suffix for suffix in sources]
        candidates += [base + suffix for suffix in TS_SUFFIXES] + [f"{base}/index.ts", f"{base}/index.tsx"]
        candidates += [base] if base.endswith(JS_SUFFIXES) else []
        candidates += [base + suffix for suffix in JS_SUFFIXES] + [f"{base}/index.js", f"{base}/index.jsx"]
        return next((candidate for candidate in candidates if candidate in self.files), None)

    def cross_file_names(self, file: SourceFile) -> dict[str, Target]:
        """Local names bound by imports that resolve to another file of the package, in import order."""
        names: dict[str, Target] = {}
        for imp in file.facts.imports:
            if imp.reexport or imp.alias in names:
                continue
            target = self.resolve(file, imp)
            if target is not None and target[0] != file.path:
                names[imp.alias] = target
        return names


def cross_file_uses(
    file: SourceFile, cross: dict[str, Target]
) -> tuple[dict[int, list[str]], dict[str, int]]:
    """Which of the cross-file names `cross` (`PackageImports.cross_file_names`) each line of `file` uses
    (0-based line → names, in import order), and each name's first use (after its import)."""
    uses = syntax.identifier_lines(file.text, file.language)
    import_line: dict[str, int] = {}
    for imp in file.facts.imports:
        if not imp.reexport:
            import_line.setdefault(imp.alias, imp.line)
    used_on: dict[int, list[str]] = {}
    first_use: dict[str, int] = {}
    for alias in cross:
        rows = [row for row in uses.get(alias, ()) if row > import_line[alias]]
        for row in rows:
            used_on.setdefault(row, []).append(alias)
        if rows:
            first_use[alias] = rows[0]
    return used_on, first_use


def module_name(path: str) -> str:
    """A Python file's module (`pkg/sub/__init__.py` → `pkg.sub`)."""
    parts = path[: -len(".py")].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute_module(path: str, module: str, level: int) -> str | None:
    """The absolute module of a Python import written in `path` (relative when `level` > 0)."""
    if level == 0:
        return module
    package = module_name(path).split(".")
    if not path.endswith("__init__.py"):
        package = package[:-1]
    if level - 1 > len(package):
        return None
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([module] if module else []))
