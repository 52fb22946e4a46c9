"""Cross-file context selection (pure: it reads a `Workspace`, never the disk).

For a cursor in a document, candidates come from three sources, each ranked on its own:
- import: names the document imports from workspace files → their definitions as signature-level
  skeletons (a short definition whole; for `module.` with nothing typed after it, the module's outline):
  first the names used in the last `near_cursor_lines` lines (closest first), then the names imported but
  not used yet, as compact headers (a class with its constructor), since the next lines are likely to use
  one of them (the first use of an imported name is exactly where a small model guesses wrong); one entry
  per defining file;
- similar: BM25 over 10-line windows of other files, queried with the last 10 non-empty lines before the
  cursor; each window comes with the CONTINUATION_LINES lines after it (what followed similar code is what
  the model should write next), no line is shown twice, and adjacent snippets of a file become one entry;
  windows whose identifiers are nearly all in the local context already are dropped (they add nothing,
  and the model would copy them);
- recent: snippets of open / recently edited files that the editor sends, most recent first.
One more source is not a file: header, the document's own module-level imports (with the `if`/`try`
lines around them). The prompt shows them at the start of the prefix when its window has cut them; they
say which names of other files are in scope, and the first use of such a name is what the small model gets
wrong. Their tokens come out of the prefix budget, not this one.
A token budget is split across the enabled sources by share (unused share flows to the next source).
Shares are measured per language (`LANGUAGE_SHARES`): in Python similar code has none, so it runs there
only when it is the one source asked for.
The result is ordered from most stable to least stable (imports, then recent, then similar; by path
within each) so that successive requests share the longest prompt prefix.

`greedy_fill` is the baseline the earlier prototype used: whole files nearest to the document's directory
until the budget is full.
"""

from __future__ import annotations

import dataclasses
import keyword
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nanocomplete import syntax
from nanocomplete.config import CONTEXT_SOURCES, ContextConfig
from nanocomplete.prompt import ExtraFile, FimInput, exceeds
from nanocomplete.workspace import Workspace, code_tokens

Tokenize = Callable[[str], list[int]]
SOURCES = ("import", "recent", "similar")  # the order the budget is handed out in
HEADER = "header"  # the document's imports, shown by the prompt when its window cuts them
BLOCK_OPENER = re.compile(r"(?:if|elif|else|try|except|finally)\b.*:[^\S\n]*(?:#.*)?")
PROMPT_ORDER = SOURCES  # the order in the prompt: most stable first, so successive prompts share a prefix
SHORT_DEFINITION_LINES = 8
SKELETON_MAX_LINES = 24
COMPACT_FIELDS = 8  # fields of a class without a constructor (a dataclass, an interface) a compact form shows
# a field: `name: T`, `name: T = v`, `NAME = v` (Python); `name?: T;`, `readonly name: T;`, `name = v;` (TS)
FIELD = re.compile(
    r"(?:(?:public|private|protected|readonly|static|declare)\s+)*(?P<name>[A-Za-z_$][\w$]*)\??\s*(?::|=(?!=))"
)
NEAR_DUPLICATE = 0.8
USE = re.compile(r"([A-Za-z_$][\w$]*)(?:[^\S\n]*\.[^\S\n]*([A-Za-z_$][\w$]*))?")  # a name, attribute read
CONTINUATION_LINES = 5  # lines after a similar window that come with it
DEFAULT_SHARES = {"import": 0.5, "recent": 0.2, "similar": 0.3}  # of the budget; unused share flows on
# Shares measured per language (docs/results.md): with the 0.5B, similar code adds nothing in Python
# (and costs ~450 prompt tokens), so there it has none.
LANGUAGE_SHARES = {"python": {"import": 0.5, "recent": 0.2}}


@dataclass(frozen=True)
class ContextRequest:
    path: str
    prefix: str
    suffix: str
    recent: tuple[ExtraFile, ...] = ()  # editor-supplied snippets, most recent first


@dataclass(frozen=True)
class Selection:
    files: tuple[ExtraFile, ...]  # in prompt order
    tokens: int
    by_source: dict[str, int]  # tokens used per source
    header: tuple[tuple[int, str], ...] = ()  # the document's import lines, numbered: `FimInput.header`


@dataclass(frozen=True)
class Candidate:
    source: str
    path: str
    text: str
    rank: int  # order within the source (0 = best)
    line: int = 0  # where the snippet starts in its file, for a stable order
    end_line: int = 0  # where it ends (exclusive), for snippets of line ranges


def select(
    workspace: Workspace,
    request: ContextRequest,
    tokenize: Tokenize,
    budget_tokens: int,
    sources: Sequence[str] = CONTEXT_SOURCES,
    shares: dict[str, float] | None = None,
    near_cursor_lines: int = 30,
    similar_windows: int = 8,
) -> Selection:
    """The snippets to show for `request`, within `budget_tokens` (prompt headers included)."""
    language = syntax.language_of(request.path)
    shares = shares or LANGUAGE_SHARES.get(language, DEFAULT_SHARES)
    imports, import_lines = (), frozenset()
    if language is not None and ("import" in sources or HEADER in sources):
        imports, import_lines = workspace.document_imports(request.path, request.prefix + request.suffix)
    gathered = {
        "import": lambda: import_candidates(workspace, request, imports, import_lines, near_cursor_lines),
        "recent": lambda: recent_candidates(request),
        "similar": lambda: similar_candidates(workspace, request, similar_windows),
    }
    chosen: list[tuple[Candidate, int]] = []
    carried = 0
    asked = [source for source in SOURCES if source in sources]
    weights = {source: shares.get(source, 0) for source in asked if shares.get(source, 0) > 0}
    weights = weights or dict.fromkeys(asked, 1)  # sources without a share run only when nothing else does
    total = sum(weights.values())  # disabled sources' share goes to the enabled ones
    for source, weight in weights.items():
        allowance = int(budget_tokens * weight / total) + carried
        used = 0
        for candidate in gathered[source]():
            if used + entry_tokens(candidate.path, "", tokenize) > allowance:
                continue  # cannot fit even with an empty body: skip tokenizing its text
            if exceeds(candidate.text, allowance - used):
                continue  # too long to fit, known without tokenizing it (a pasted minified bundle)
            if any(candidate.path == c.path and candidate.text.strip() in c.text for c, _ in chosen):
                continue  # an earlier entry shows it already (a short file's definitions whole)
            cost = entry_tokens(candidate.path, candidate.text, tokenize)
            if used + cost <= allowance:
                chosen.append((candidate, cost))
                used += cost
        carried = allowance - used
    place = {source: PROMPT_ORDER.index(source) for source in SOURCES}
    ordered = sorted(chosen, key=lambda pair: (place[pair[0].source], pair[0].path, pair[0].line))
    by_source = {s: sum(cost for c, cost in chosen if c.source == s) for s in SOURCES}
    files = _merge_definitions([c for c, _ in ordered])
    header = header_lines(request.prefix, import_lines) if HEADER in sources else ()
    return Selection(files, sum(by_source.values()), by_source, header)


def header_lines(prefix: str, import_lines: frozenset[int]) -> tuple[tuple[int, str], ...]:
    """(number, text) of the module-level import lines before the cursor: import statements that start at
    the top level, and those in a top-level `if`/`try` block (`if TYPE_CHECKING:`) with the line that
    opens it. Imports inside functions are left out: shown without their `def` they would mislead."""
    lines = prefix.split("\n")[:-1]  # complete lines; the cursor's line is the window's
    kept: set[int] = set()
    run: list[int] = []
    for number in [*sorted(i for i in import_lines if i < len(lines)), -1]:  # -1 closes the last run
        if run and number == run[-1] + 1:
            run.append(number)
            continue
        if run:
            kept.update(_top_level(lines, run))
        run = [number]
    return tuple((number, lines[number]) for number in sorted(kept))


def _top_level(lines: list[str], run: list[int]) -> list[int]:
    """`run` (consecutive import lines) if it is at the top level, with its block's opener if it is in one."""
    first = lines[run[0]]
    if not first[:1].isspace():
        return run
    opener = run[0] - 1
    if opener >= 0 and not lines[opener][:1].isspace() and BLOCK_OPENER.fullmatch(lines[opener]):
        return [opener, *run]
    return []


def _merge_definitions(ordered: list[Candidate]) -> tuple[ExtraFile, ...]:
    """One entry per file for the definitions taken from it, and one per run of adjacent similar
    snippets of a file (a merged entry costs less than its parts: one header instead of several)."""
    merged: dict[str, list[str]] = {}
    files: list[ExtraFile | str] = []
    previous: Candidate | None = None
    for candidate in ordered:
        if candidate.source == "import":
            if candidate.path not in merged:
                merged[candidate.path] = []
                files.append(candidate.path)
            merged[candidate.path].append(candidate.text)
        elif _continues(previous, candidate):
            last = files[-1]
            files[-1] = ExtraFile(last.path, last.text + "\n" + candidate.text)
        else:
            files.append(ExtraFile(candidate.path, candidate.text))
        previous = candidate
    return tuple(f if isinstance(f, ExtraFile) else ExtraFile(f, "\n\n".join(merged[f])) for f in files)


def _continues(previous: Candidate | None, candidate: Candidate) -> bool:
    return (
        previous is not None
        and candidate.source == previous.source == "similar"
        and candidate.path == previous.path
        and candidate.line == previous.end_line
    )


def entry_tokens(path: str, text: str, tokenize: Tokenize) -> int:
    """What one `<|file_sep|>path\\ntext\\n` entry costs in the prompt."""
    body = text if text.endswith("\n") else text + "\n"
    return 1 + len(tokenize(path + "\n")) + len(tokenize(body))


# --- import ----------------------------------------------------------------------------------------------


def import_candidates(
    workspace: Workspace,
    request: ContextRequest,
    imports: Sequence[syntax.Import],
    import_lines: frozenset[int],
    near_cursor_lines: int,
) -> list[Candidate]:
    """Definitions of imported names: those used near the cursor first (closest first), then those
    imported but not used yet (the next lines are likely to use them), in import order. `imports` and
    `import_lines` are the document's (`Workspace.document_imports`)."""
    bound = {imp.alias: imp for imp in imports if not imp.reexport}
    wanted = names_near_cursor(request.prefix, near_cursor_lines, import_lines)
    used = names_used(request.prefix, import_lines)
    near = len(wanted)
    wanted += [(imp.alias, None) for imp in imports if imp.name and imp.alias not in used]
    candidates: list[Candidate] = []
    seen: set[str] = set()
    for position, (name, attribute) in enumerate(wanted):
        imp = bound.get(name)
        target = workspace.resolve(request.path, imp) if imp is not None else None
        if target is None:
            continue
        if imp.name is None and attribute is None:
            defining_path, snippet = target, outline(workspace, target)  # `module.` with nothing after it yet
        else:
            found = _imported_definition(workspace, target, imp.name, attribute)
            if found is None:
                continue
            defining_path, snippet = found[0], skeleton(workspace, *found, compact=position >= near)
        if snippet and snippet not in seen:
            seen.add(snippet)
            candidates.append(Candidate("import", defining_path, snippet, len(candidates)))
    return candidates


def names_near_cursor(
    prefix: str, lines: int, skip_lines: frozenset[int] = frozenset()
) -> list[tuple[str, str | None]]:
    """(name, attribute read from it) pairs in the last `lines` lines (but `skip_lines`, such as import
    statements), the closest to the cursor first."""
    all_lines = prefix.split("\n")
    first = max(0, len(all_lines) - lines)
    seen: dict[tuple[str, str | None], None] = {}
    for number in range(len(all_lines) - 1, first - 1, -1):
        if number in skip_lines:
            continue
        line = all_lines[number]
        matches = list(USE.finditer(line))
        for match in reversed(matches):
            seen.setdefault((match.group(1), match.group(2)), None)
    return list(seen)


def names_used(prefix: str, skip_lines: frozenset[int] = frozenset()) -> set[str]:
    """Every name in `prefix` but on `skip_lines` (one pass: the prefix can be a whole large file)."""
    lines = prefix.split("\n")
    kept = "\n".join(line for number, line in enumerate(lines) if number not in skip_lines)
    return {name for name, _attribute in USE.findall(kept)}


def _imported_definition(workspace: Workspace, target: str, imported: str | None, attribute: str | None):
    """What a use refers to: `name` for `from m import name`, `m.attr` for a module binding, the only
    top-level definition for a default import."""
    if imported is None:
        return workspace.definition(target, attribute) if attribute else None
    if imported == "default":
        exported = [d for d in workspace.files[target].syntax.definitions if d.parent is None]
        return (target, exported[0]) if len(exported) == 1 else None
    return workspace.definition(target, imported)


def skeleton(workspace: Workspace, path: str, definition, compact: bool = False) -> str:
    """A short definition whole; a longer one as its header, members' headers for a class. `compact`:
    the header alone (with a class's constructor), for names not used yet."""
    if compact:
        return _compact_skeleton(workspace, path, definition)
    lines = workspace.files[path].lines
    if definition.end_line - definition.start_line < SHORT_DEFINITION_LINES:
        return "\n".join(lines[definition.start_line : definition.end_line + 1])
    parts = [definition.signature]
    if definition.kind in ("class", "interface"):
        indent = _indent(path)
        members = [
            (d.start_line, [indent + line for line in d.signature.split("\n")])
            for d in workspace.files[path].syntax.definitions
            if d.parent == definition.name and d.kind != "class"
        ]
        fields = [(number, [line]) for number, line in _fields(workspace, path, definition)]
        for _, lines in sorted(members + fields):
            parts.extend(lines)
    elif path.endswith(".py"):
        parts.append("    ...")
    text = "\n".join(parts).split("\n")[:SKELETON_MAX_LINES]
    return "\n".join(text)


def _compact_skeleton(workspace: Workspace, path: str, definition) -> str:
    if definition.kind == "variable":
        return "\n".join(workspace.files[path].lines[definition.start_line : definition.end_line + 1][:3])
    parts = [definition.signature]
    if definition.kind == "class":
        parts += [
            _indent(path) + line
            for d in workspace.files[path].syntax.definitions
            if d.parent == definition.name and d.name in ("__init__", "constructor")
            for line in d.signature.split("\n")
        ]
    if definition.kind in ("class", "interface") and len(parts) == 1:  # no constructor: the fields are it
        parts += [line for _, line in _fields(workspace, path, definition)][:COMPACT_FIELDS]
    return "\n".join(parts)


def _fields(workspace: Workspace, path: str, definition) -> list[tuple[int, str]]:
    """(line number, line) of a class's or interface's fields, at most SKELETON_MAX_LINES: the body's own
    lines at its first indentation that declare one, outside its methods and strings (a dataclass's
    `name: str = ""`, a TypeScript `priceCents: number;` or `items: Item[] = [];`: the attributes a
    completion after `order.` needs, which no method header shows), re-indented as the skeleton's members."""
    lines = workspace.files[path].lines
    covered = {
        number
        for d in workspace.files[path].syntax.definitions
        if d.parent == definition.name
        for number in range(d.start_line, d.end_line + 1)
    }
    indent = _indent(path)
    found, body_indent, string = [], None, None  # string: the quotes of an open Python string
    for number in range(_body_start(lines, definition), definition.end_line + 1):
        line = lines[number].strip()
        if string or line.startswith(('"""', "'''")):
            opened = string or line[:3]
            closed = line.count(opened) >= (1 if string else 2)
            string = None if closed else opened
            continue
        if not line or number in covered or line.startswith(("}", "#", "//", "@")):
            continue
        depth = len(lines[number]) - len(lines[number].lstrip())
        body_indent = depth if body_indent is None else body_indent
        field = FIELD.match(line)
        if depth == body_indent and field and not keyword.iskeyword(field.group("name")):
            found.append((number, indent + line))
            if len(found) == SKELETON_MAX_LINES:
                break
    return found


def _body_start(lines: list[str], definition) -> int:
    """The first line after a class's or interface's header: after its decorators and the line that
    ends the header (`:` or `{`), however many lines the header takes."""
    number = definition.start_line
    while number < definition.end_line and not re.search(r"\b(class|interface)\b", lines[number]):
        number += 1  # decorators, and their arguments
    while number < definition.end_line and not re.search(r"[:{]\s*(?:#.*|//.*)?$", lines[number]):
        number += 1  # a header over several lines
    return number + 1


def _indent(path: str) -> str:
    return "    " if path.endswith(".py") else "  "


def outline(workspace: Workspace, path: str) -> str:
    """A module's top-level definitions and their members, one header line each."""
    lines = []
    for definition in workspace.files[path].syntax.definitions:
        depth = 0 if definition.parent is None else definition.parent.count(".") + 1
        indent = _indent(path) * depth
        lines.append(indent + definition.signature.split("\n")[0])
    return "\n".join(lines[: SKELETON_MAX_LINES * 2])


# --- similar ---------------------------------------------------------------------------------------------


def query_lines(prefix: str, count: int = 10) -> str:
    return "\n".join([line for line in prefix.split("\n") if line.strip()][-count:])


def similar_candidates(workspace: Workspace, request: ContextRequest, limit: int) -> list[Candidate]:
    """The best BM25 windows, each with the lines that follow it (what came next in similar code is what
    the model should write next); lines an earlier window already shows are not shown twice."""
    query = code_tokens(query_lines(request.prefix))
    local = set(code_tokens(query_lines(request.prefix, 40)))
    candidates: list[Candidate] = []
    shown: dict[str, set[int]] = {}
    family = language_family(request.path)
    for _score, window in workspace.bm25.search(query, limit * 3, exclude_path=request.path):
        if not _shown_beside(family, window.path):
            continue  # another language's code (see recent_candidates)
        file_lines = workspace.files[window.path].lines
        end = min(len(file_lines), window.end_line + CONTINUATION_LINES)
        covered = shown.setdefault(window.path, set())
        start = next((n for n in range(window.start_line, end) if n not in covered), None)
        if start is None:
            continue
        stop = start
        while stop < end and stop not in covered:  # the first run of lines not shown yet
            stop += 1
        end = stop
        text = "\n".join(file_lines[start:end])
        tokens = set(code_tokens(text))
        if tokens and len(tokens & local) / len(tokens) >= NEAR_DUPLICATE:  # adds nothing new
            continue
        covered.update(range(start, end))
        candidates.append(Candidate("similar", window.path, text, len(candidates), start, end))
        if len(candidates) == limit:
            break
    return candidates


# --- recent ----------------------------------------------------------------------------------------------


def recent_candidates(request: ContextRequest) -> list[Candidate]:
    """The editor's snippets of other files, in its order; none of another language family (a TSX
    component's names in a Python prompt were copied into it: `order.coupon_code` from `couponCode`)."""
    family = language_family(request.path)
    return [
        Candidate("recent", snippet.path, snippet.text, rank)
        for rank, snippet in enumerate(request.recent)
        if snippet.path != request.path and _shown_beside(family, snippet.path)
    ]


def language_family(path: str) -> str | None:
    """ "python" or "javascript" (TypeScript, TSX, JavaScript and JSX share names through imports), None
    for a file whose language we do not parse (a snippet of one is kept: a schema, a config)."""
    language = syntax.language_of(path)
    return None if language is None else "python" if language == "python" else "javascript"


def _shown_beside(family: str | None, path: str) -> bool:
    """Whether context from `path` may go into a prompt for a file of `family`: the same family, or either
    one's language unknown."""
    return family is None or language_family(path) in (family, None)


# --- baseline --------------------------------------------------------------------------------------------


def greedy_fill(
    workspace: Workspace, request: ContextRequest, tokenize: Tokenize, budget_tokens: int
) -> Selection:
    """Whole files, nearest to the document's directory first, until the budget is full (cut to fit)."""
    here = posixpath.dirname(request.path)

    def distance(path: str) -> tuple[int, str]:
        common = posixpath.commonpath([here, posixpath.dirname(path)]) if here else ""
        hops = len(here.split("/")) + len(posixpath.dirname(path).split("/")) - 2 * len(common.split("/"))
        return (hops if common else 99, path)

    files, used = [], 0
    for path in sorted((p for p in workspace.files if p != request.path), key=distance):
        text = workspace.files[path].text
        cost = None if exceeds(text, budget_tokens - used) else entry_tokens(path, text, tokenize)
        if cost is None or used + cost > budget_tokens:
            kept = _lines_that_fit(path, text, tokenize, budget_tokens - used)
            if kept:
                files.append(ExtraFile(path, kept))
                used += entry_tokens(path, kept, tokenize)
            break
        files.append(ExtraFile(path, text))
        used += cost
    return Selection(tuple(files), used, {"greedy": used})


def _lines_that_fit(path: str, text: str, tokenize: Tokenize, room: int) -> str:
    header = 1 + len(tokenize(path + "\n"))
    kept, used = [], header
    for line in text.split("\n"):
        if exceeds(line, room - used):
            break
        cost = len(tokenize(line + "\n"))
        if used + cost > room:
            break
        kept.append(line)
        used += cost
    return "\n".join(kept)


def attach(
    fim_input: FimInput, workspace: Workspace, tokenize: Tokenize, budget_tokens: int, config: ContextConfig
) -> tuple[FimInput, Selection]:
    """`fim_input` with the selected other files (its own `extra_files` are treated as recent snippets)
    and its header."""
    request = ContextRequest(fim_input.path or "", fim_input.prefix, fim_input.suffix, fim_input.extra_files)
    near = config.near_cursor_lines
    selection = select(workspace, request, tokenize, budget_tokens, config.sources, near_cursor_lines=near)
    return dataclasses.replace(fim_input, extra_files=selection.files, header=selection.header), selection
