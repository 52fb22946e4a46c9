"""Syntax facts about one source file, read from its tree-sitter tree (pure: no I/O).

What it knows, per file: the imports (one record per bound name), the definitions at module and class level
with their header text, which lines use which identifiers, and which lines are not code (comments,
docstrings, the inside of multi-line strings). It knows nothing about other files: resolving an import to a
file is the caller's job (the cross-file benchmark builder, later the workspace index).

Never raises on bad input: tree-sitter recovers what it can and `parse_error` says the tree has errors.
Lines are 0-based. Parsers and queries are built once per language; the last few trees are kept, so asking
`parse`, `identifier_lines` and `noncode_lines` about the same text parses it once.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import tree_sitter
import tree_sitter_javascript
import tree_sitter_python
import tree_sitter_typescript

# Bounds on what one text can cost; tree-sitter holds the GIL, so the server's other requests wait for it.
# A query over a node with N children and errors among them takes time in N squared (40,000 unclosed `(` as
# one line: 2.1 s a query; 5,000: ~0.03 s). Real files' recovered errors leave far fewer. (tree-sitter
# 0.26.1's query progress callback, which could stop a query at a deadline, crashes on our TSX query.)
MAX_CHILDREN_WITH_ERRORS = 5_000
# An editor's document with a longer line is not parsed: a minified bundle (one 2 MB line took 10 s to parse,
# 2 MB of ordinary lines 1.2-1.5 s, once: later keystrokes reparse incrementally).
DOCUMENT_MAX_LINE_CHARS = 10_000
# A parse stops after 0.2 s + 1.5 s per MB of text (ordinary code parses at ~0.65 s per MB here) and the text
# is then read as having nothing: some texts of short lines make tree-sitter rescan to the end at every line
# (`/*` lines in JS: 48 KB took 33 s; `\` continuation lines in Python: 40 KB 4.4 s).
PARSE_MIN_DEADLINE_S = 0.2
PARSE_DEADLINE_S_PER_MB = 1.5

LANGUAGE_OF_SUFFIX = {
    ".py": "python",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
}
_GRAMMARS = {
    "python": tree_sitter_python.language,
    "typescript": tree_sitter_typescript.language_typescript,
    "tsx": tree_sitter_typescript.language_tsx,
    "javascript": tree_sitter_javascript.language,  # its grammar includes JSX
}
_USE_QUERY = {
    "python": "(identifier) @use",
    "javascript": "(identifier) @use (shorthand_property_identifier) @use",
}
_USE_QUERY["typescript"] = _USE_QUERY["tsx"] = _USE_QUERY["javascript"] + " (type_identifier) @use"
# identifiers that name an attribute or a keyword argument, not a binding: never a use of an import
_NOT_USE_QUERY = {"python": "(attribute attribute: (identifier) @x) (keyword_argument name: (identifier) @x)"}
_IMPORT_QUERY = {
    "python": "[(import_statement) (import_from_statement) (future_import_statement)] @import",
    "javascript": "[(import_statement) (export_statement source: (_))] @import"
    " (variable_declarator value: (call_expression function: (identifier) @fn"
    " arguments: (arguments . (string) .))) @require",
}
_IMPORT_QUERY["typescript"] = _IMPORT_QUERY["tsx"] = _IMPORT_QUERY["javascript"]
_NONCODE_QUERY = {
    "python": "(comment) @comment (expression_statement . (string) .) @comment (string) @string",
    "javascript": "(comment) @comment (template_string) @string",
}
_NONCODE_QUERY["typescript"] = _NONCODE_QUERY["tsx"] = _NONCODE_QUERY["javascript"]
_TS_DECLARATIONS = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "function_signature": "function",
    "class_declaration": "class",
    "abstract_class_declaration": "class",
    "interface_declaration": "interface",
    "type_alias_declaration": "type",
    "enum_declaration": "enum",
    "internal_module": "namespace",
    "module": "namespace",
    "lexical_declaration": "variable",
    "variable_declaration": "variable",
}
_TS_MEMBERS = {"method_definition", "abstract_method_signature", "method_signature"}
_PY_GUARDS = {
    "if_statement",
    "try_statement",
    "else_clause",
    "elif_clause",
    "except_clause",
    "finally_clause",
}
_MAX_SIGNATURE_CHARS = 400


@dataclass(frozen=True)
class Import:
    """One name bound by an import statement.

    `module` is the specifier as written (Python: without the leading dots, which `level` counts).
    `name` is the imported name: None when the module object itself is bound (`import a.b as c`,
    `import * as ns from "./z"`, `const x = require("./y")`), "*" for a star import, "default" for a
    TS/JS default import. `alias` is the local name (for `import a.b` it is "a", the top package).
    A re-export (`export {a} from "./b"`) binds nothing locally: `alias` is then the exported name.
    """

    module: str
    name: str | None
    alias: str
    line: int
    level: int = 0
    reexport: bool = False


@dataclass(frozen=True)
class Definition:
    """A function, class, method, interface, type alias, enum, TS namespace or module-level variable.

    `signature` is the header without the body (`def f(x):`, `export class A extends B {`), continuation
    lines dedented to the header's column; for Python it is followed by the docstring's first line.
    `parent` is the enclosing class (dotted when nested), None at module level.
    """

    name: str
    kind: str  # function | class | method | interface | type | enum | namespace | variable
    start_line: int  # decorators and `export` included
    end_line: int
    signature: str
    parent: str | None = None


@dataclass(frozen=True)
class FileSyntax:
    language: str
    imports: tuple[Import, ...]
    definitions: tuple[Definition, ...]
    import_lines: frozenset[int]  # lines covered by an import statement or a `require` declaration
    parse_error: bool  # the tree has errors (tree-sitter recovered around them)
    error_lines: frozenset[int] = frozenset()  # lines touched by an error or a missing token


def language_of(path: str) -> str | None:
    """The syntax language of a file name ("python", "typescript", "tsx", "javascript"), or None."""
    dot = path.rfind(".")
    if dot < 0 or path.endswith((".d.ts", ".d.mts", ".d.cts")):
        return None
    return LANGUAGE_OF_SUFFIX.get(path[dot:].lower())


def parse(text: str, language: str) -> FileSyntax:
    """Imports, definitions and import lines of `text`."""
    tree, source = _tree(text, language)
    root = tree.root_node
    imports, import_lines = _imports(root, source, language)
    walk = _py_definitions if language == "python" else _ts_definitions
    return FileSyntax(
        language=language,
        imports=tuple(imports),
        definitions=tuple(walk(root, source)),
        import_lines=frozenset(import_lines),
        parse_error=root.has_error,
        error_lines=frozenset(_error_rows(root)) if root.has_error else frozenset(),
    )


@dataclass(frozen=True)
class ParsedText:
    """A text and its tree, kept so that the next version of the text (a keystroke later) reparses
    incrementally: tree-sitter reuses every subtree the edit did not touch."""

    language: str
    source: bytes
    tree: tree_sitter.Tree


@dataclass(frozen=True)
class DocumentImports:
    imports: tuple[Import, ...]
    import_lines: frozenset[int]
    parsed: ParsedText | None  # pass it back with the next version of the document (None: parse stopped)


def document_imports(text: str, language: str, previous: ParsedText | None = None) -> DocumentImports | None:
    """The imports of a document being edited; `previous` (an earlier version's `parsed`) makes the parse
    incremental, so a keystroke in a 150 KB file costs a fraction of a full parse. None for a document with a
    line over `DOCUMENT_MAX_LINE_CHARS` (not parsed: a minified bundle, not code someone types in)."""
    if any(len(line) > DOCUMENT_MAX_LINE_CHARS for line in text.split("\n")):  # 2 ms for 2 MB
        return None
    source = text.encode("utf-8", errors="surrogatepass")
    old = None
    if previous is not None and previous.language == language:
        old = previous.tree.copy()
        old.edit(**_edit(previous.source, source))
    tree = _parse(language, source, old)
    if tree is None:  # past its deadline
        return DocumentImports((), frozenset(), None)
    imports, import_lines = _imports(tree.root_node, source, language)
    return DocumentImports(tuple(imports), frozenset(import_lines), ParsedText(language, source, tree))


def _edit(old: bytes, new: bytes) -> dict:
    """The one edit that turns `old` into `new` (common prefix and suffix kept), as `Tree.edit` takes it."""
    start = _common_prefix(old, new)
    tail = _common_prefix(old[start:][::-1], new[start:][::-1])
    old_end, new_end = len(old) - tail, len(new) - tail
    return dict(
        start_byte=start,
        old_end_byte=old_end,
        new_end_byte=new_end,
        start_point=_point(old, start),
        old_end_point=_point(old, old_end),
        new_end_point=_point(new, new_end),
    )


def _common_prefix(a: bytes, b: bytes) -> int:
    """Length of the longest common prefix, by bisection on slice equality (memcmp, not a Python loop)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _point(source: bytes, offset: int) -> tuple[int, int]:
    row = source.count(b"\n", 0, offset)
    return row, offset - (source.rfind(b"\n", 0, offset) + 1)


def identifier_lines(text: str, language: str) -> dict[str, list[int]]:
    """For each identifier, the sorted lines that use it, outside import statements.

    A use is any mention as a name (in TS also as a type name or a shorthand property), definitions
    included; attribute names (`x.name`) and keyword-argument names (`f(name=1)`) are not uses.
    """
    tree, source = _tree(text, language)
    skip = {n.start_byte for n in _captures(language, "not_use", tree.root_node).get("x", ())}
    excluded = _imports(tree.root_node, source, language)[1]
    uses: dict[str, set[int]] = {}
    for node in _captures(language, "use", tree.root_node).get("use", ()):
        row = node.start_point.row
        if row not in excluded and node.start_byte not in skip:
            uses.setdefault(_text(node, source), set()).add(row)
    return {name: sorted(rows) for name, rows in uses.items()}


def noncode_lines(text: str, language: str) -> frozenset[int]:
    """Lines that start inside a comment, a docstring or a multi-line string (blank lines not included)."""
    tree, _ = _tree(text, language)
    lines = text.split("\n")
    rows: set[int] = set()
    for kind, nodes in _captures(language, "noncode", tree.root_node).items():
        for node in nodes:
            start, end = node.start_point, node.end_point
            rows.update(range(start.row + 1, end.row + 1))
            line = lines[start.row]
            if kind == "comment" and len(line) - len(line.lstrip()) == start.column:
                rows.add(start.row)
    return frozenset(row for row in rows if row < len(lines) and lines[row].strip())


# --- trees and queries -----------------------------------------------------------------------------------


@functools.cache
def _parser(language: str) -> tree_sitter.Parser:
    return tree_sitter.Parser(_language(language))


@functools.cache
def _language(language: str) -> tree_sitter.Language:
    if language not in _GRAMMARS:
        raise ValueError(f"unknown language {language!r}: use one of {', '.join(_GRAMMARS)}")
    return tree_sitter.Language(_GRAMMARS[language]())


@functools.cache
def _query(language: str, purpose: str) -> tree_sitter.Query | None:
    table = {"use": _USE_QUERY, "not_use": _NOT_USE_QUERY, "import": _IMPORT_QUERY, "noncode": _NONCODE_QUERY}
    source = table[purpose].get(language)
    return tree_sitter.Query(_language(language), source) if source else None


def _captures(language: str, purpose: str, node: tree_sitter.Node) -> dict[str, list[tree_sitter.Node]]:
    """The query's captures under `node`; none under a node with more than `MAX_CHILDREN_WITH_ERRORS`
    children and an error among them (what tree-sitter's recovery leaves of many unclosed brackets)."""
    query = _query(language, purpose)
    if query is None or (node.has_error and node.child_count > MAX_CHILDREN_WITH_ERRORS):
        return {}
    return tree_sitter.QueryCursor(query).captures(node)


@functools.lru_cache(maxsize=4)
def _tree(text: str, language: str) -> tuple[tree_sitter.Tree, bytes]:
    source = text.encode("utf-8", errors="surrogatepass")
    return _parse(language, source) or _parser(language).parse(b""), source  # past its deadline: nothing


def _parse(language: str, source: bytes, old: tree_sitter.Tree | None = None) -> tree_sitter.Tree | None:
    """`source`'s tree (incremental from `old`), or None when the parse passes its deadline."""
    deadline = time.monotonic() + PARSE_MIN_DEADLINE_S + PARSE_DEADLINE_S_PER_MB * len(source) / 1e6
    parser = _parser(language)
    try:
        return parser.parse(
            lambda offset, _point: source[offset : offset + 65536],
            *([old] if old is not None else []),
            progress_callback=lambda _offset, _error: time.monotonic() > deadline,
        )
    except ValueError:  # "Parsing failed": stopped by the callback; the next parse must start afresh
        parser.reset()
        return None


def _text(node: tree_sitter.Node | None, source: bytes) -> str:
    return source[node.start_byte : node.end_byte].decode("utf-8", errors="replace") if node else ""


def _rows(node: tree_sitter.Node) -> range:
    return range(node.start_point.row, node.end_point.row + 1)


def _error_rows(root: tree_sitter.Node) -> set[int]:
    rows: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if node.is_error or node.is_missing:
            rows.update(_rows(node))
        else:
            stack += [child for child in node.children if child.has_error or child.is_missing]
    return rows


# --- imports ---------------------------------------------------------------------------------------------


def _imports(root: tree_sitter.Node, source: bytes, language: str) -> tuple[list[Import], set[int]]:
    found = _captures(language, "import", root)
    imports: list[Import] = []
    rows: set[int] = set()
    for node in found.get("import", ()):
        imports += _py_import(node, source) if language == "python" else _ts_import(node, source)
        rows.update(_rows(node))
    for node in found.get("require", ()):
        if _calls_require(node.child_by_field_name("value"), source):
            imports += _require(node, source)
            rows.update(_rows(node.parent or node))
    imports = sorted((imp for imp in imports if imp.alias), key=lambda imp: imp.line)
    return imports, rows


def _py_import(node: tree_sitter.Node, source: bytes) -> list[Import]:
    row = node.start_point.row
    if node.type == "import_statement":
        result = []
        for item in node.children_by_field_name("name"):
            module = _text(item.child_by_field_name("name") or item, source)
            alias = _text(item.child_by_field_name("alias"), source) or module.split(".")[0]
            result.append(Import(module, None, alias, row))
        return result
    module_node = node.child_by_field_name("module_name")
    module, level = _text(module_node, source), 0
    if module_node is not None and module_node.type == "relative_import":
        prefix = next((c for c in module_node.children if c.type == "import_prefix"), None)
        level = len(_text(prefix, source))
        module = module[level:]
    if node.type == "future_import_statement":
        module = "__future__"
    result = []
    for item in node.children_by_field_name("name"):
        name = _text(item.child_by_field_name("name") or item, source)
        alias = _text(item.child_by_field_name("alias"), source) or name
        result.append(Import(module, name, alias, row, level))
    if any(child.type == "wildcard_import" for child in node.children):
        result.append(Import(module, "*", "*", row, level))
    return result


def _ts_import(node: tree_sitter.Node, source: bytes) -> list[Import]:
    row, module = node.start_point.row, _string_value(node.child_by_field_name("source"), source)
    if node.type == "export_statement":
        return _ts_reexport(node, source, module, row)
    result = []
    for clause in node.named_children:
        if clause.type == "import_require_clause":  # import x = require("./y")
            alias = _text(_first_named(clause), source)
            result.append(
                Import(_string_value(clause.child_by_field_name("source"), source), None, alias, row)
            )
        if clause.type != "import_clause":
            continue
        for part in clause.named_children:
            if part.type == "identifier":
                result.append(Import(module, "default", _text(part, source), row))
            elif part.type == "namespace_import":
                result.append(Import(module, None, _text(_last_named(part), source), row))
            elif part.type == "named_imports":
                result += [_specifier(spec, source, module, row) for spec in part.named_children]
    return result


def _ts_reexport(node: tree_sitter.Node, source: bytes, module: str, row: int) -> list[Import]:
    result = []
    for part in node.named_children:
        if part.type == "export_clause":
            result += [_specifier(spec, source, module, row, True) for spec in part.named_children]
        elif part.type == "namespace_export":
            result.append(Import(module, None, _text(_last_named(part), source), row, reexport=True))
    if not result and any(child.type == "*" for child in node.children):
        result.append(Import(module, "*", "*", row, reexport=True))
    return result


def _specifier(
    spec: tree_sitter.Node, source: bytes, module: str, row: int, reexport: bool = False
) -> Import:
    name = _text(spec.child_by_field_name("name"), source)
    alias = _text(spec.child_by_field_name("alias"), source) or name
    return Import(module, name, alias, row, reexport=reexport)


def _require(declarator: tree_sitter.Node, source: bytes) -> list[Import]:
    row = declarator.start_point.row
    arguments = declarator.child_by_field_name("value").child_by_field_name("arguments")
    module = _string_value(_first_named(arguments), source)
    target = declarator.child_by_field_name("name")
    if target is None or target.type == "identifier":
        return [Import(module, None, _text(target, source), row)] if target else []
    result = []
    for part in target.named_children:  # const {a, b: c} = require("./y")
        if part.type == "shorthand_property_identifier_pattern":
            result.append(Import(module, _text(part, source), _text(part, source), row))
        elif part.type == "pair_pattern":
            name = _text(part.child_by_field_name("key"), source)
            result.append(Import(module, name, _text(part.child_by_field_name("value"), source), row))
    return result


def _calls_require(call: tree_sitter.Node, source: bytes) -> bool:
    return _text(call.child_by_field_name("function"), source) == "require"


def _string_value(node: tree_sitter.Node | None, source: bytes) -> str:
    return _text(node, source)[1:-1] if node is not None else ""


def _first_named(node: tree_sitter.Node | None) -> tree_sitter.Node | None:
    return node.named_children[0] if node is not None and node.named_children else None


def _last_named(node: tree_sitter.Node | None) -> tree_sitter.Node | None:
    return node.named_children[-1] if node is not None and node.named_children else None


# --- definitions -----------------------------------------------------------------------------------------


def _py_definitions(root: tree_sitter.Node, source: bytes) -> list[Definition]:
    found: list[Definition] = []
    for node in _py_statements(root):
        found += _py_definition(node, source, None)
    return found


def _py_statements(block: tree_sitter.Node) -> list[tree_sitter.Node]:
    """Statements of a module or class body, looking through `if`/`try` guards (version checks,
    TYPE_CHECKING)."""
    statements = []
    for child in block.named_children:
        if child.type in _PY_GUARDS:
            for part in child.named_children:
                statements += _py_statements(part) if part.type in {"block", *_PY_GUARDS} else []
        else:
            statements.append(child)
    return statements


def _py_definition(node: tree_sitter.Node, source: bytes, parent: str | None) -> list[Definition]:
    outer = node
    if node.type == "decorated_definition":
        node = node.child_by_field_name("definition") or node
    if node.type in {"function_definition", "class_definition"}:
        name = _text(node.child_by_field_name("name"), source)
        kind = "class" if node.type == "class_definition" else ("method" if parent else "function")
        signature = _py_header(node, source) + _py_docstring(node, source)
        found = [Definition(name, kind, outer.start_point.row, outer.end_point.row, signature, parent)]
        body = node.child_by_field_name("body")
        if kind == "class" and body is not None:
            inner = f"{parent}.{name}" if parent else name
            for statement in _py_statements(body):
                if statement.type != "expression_statement":
                    found += _py_definition(statement, source, inner)
        return found
    if node.type == "expression_statement" and parent is None:
        return _py_assignment(node, source)
    return []


def _py_header(node: tree_sitter.Node, source: bytes) -> str:
    colons = [child for child in node.children if child.type == ":"]
    end = colons[-1].end_byte if colons else node.end_byte
    return _dedent(source[node.start_byte : end].decode("utf-8", errors="replace"), node.start_point.column)


def _py_docstring(node: tree_sitter.Node, source: bytes) -> str:
    body = node.child_by_field_name("body")
    first = _first_named(body)
    string = _first_named(first) if first is not None and first.type == "expression_statement" else None
    if string is None or string.type != "string":
        return ""
    content = "".join(_text(c, source) for c in string.children if c.type == "string_content")
    line = next((part.strip() for part in content.split("\n") if part.strip()), "")
    return f'\n    """{line}"""' if line else ""


def _py_assignment(node: tree_sitter.Node, source: bytes) -> list[Definition]:
    assignment = _first_named(node)
    if assignment is None or assignment.type != "assignment":
        return []
    left = assignment.child_by_field_name("left")
    names = [left] if left is not None and left.type == "identifier" else []
    if left is not None and left.type in {"pattern_list", "tuple_pattern"}:
        names = [child for child in left.named_children if child.type == "identifier"]
    signature = _first_line(_text(node, source))
    rows = node.start_point.row, node.end_point.row
    return [Definition(_text(name, source), "variable", *rows, signature) for name in names]


def _ts_definitions(root: tree_sitter.Node, source: bytes) -> list[Definition]:
    found: list[Definition] = []
    for outer in root.named_children:
        node = outer
        if outer.type == "export_statement":
            node = outer.child_by_field_name("declaration") or outer
        kind = _TS_DECLARATIONS.get(node.type)
        if kind == "variable":
            found += _ts_variables(outer, node, source)
        elif kind is not None:
            name = _text(node.child_by_field_name("name"), source)
            found.append(_ts_definition(outer, node, name, kind, None, source))
            if kind == "class":
                found += _ts_members(node, name, source)
    return found


def _ts_definition(
    outer: tree_sitter.Node, node: tree_sitter.Node, name: str, kind: str, parent: str | None, source: bytes
) -> Definition:
    body = node.child_by_field_name("body")
    end = body.start_byte + 1 if body is not None else outer.end_byte
    header = source[outer.start_byte : end].decode("utf-8", errors="replace")
    signature = _dedent(header if body is not None else _first_line(header), outer.start_point.column)
    return Definition(name, kind, outer.start_point.row, outer.end_point.row, signature, parent)


def _ts_members(node: tree_sitter.Node, class_name: str, source: bytes) -> list[Definition]:
    body = node.child_by_field_name("body")
    members = [child for child in body.named_children if child.type in _TS_MEMBERS] if body else []
    return [
        _ts_definition(m, m, _text(m.child_by_field_name("name"), source), "method", class_name, source)
        for m in members
    ]


def _ts_variables(outer: tree_sitter.Node, node: tree_sitter.Node, source: bytes) -> list[Definition]:
    """`const a = 1, f = () => {...}`: one definition per declared name; arrow functions are functions.
    A `require` declaration is an import, not a definition."""
    found = []
    for declarator in node.named_children:
        name = declarator.child_by_field_name("name")
        value = declarator.child_by_field_name("value")
        if declarator.type != "variable_declarator" or name is None or name.type != "identifier":
            continue
        if value is not None and value.type == "call_expression" and _calls_require(value, source):
            continue
        is_function = value is not None and value.type in {"arrow_function", "function_expression"}
        body = value.child_by_field_name("body") if is_function else None
        if body is not None and body.type == "statement_block":
            header = source[outer.start_byte : body.start_byte + 1].decode("utf-8", errors="replace")
        else:
            header = _first_line(_text(outer, source))
        signature = _dedent(header, outer.start_point.column)
        kind = "function" if is_function else "variable"
        found.append(
            Definition(_text(name, source), kind, outer.start_point.row, outer.end_point.row, signature)
        )
    return found


def _first_line(text: str) -> str:
    return text.split("\n", 1)[0].rstrip()[:_MAX_SIGNATURE_CHARS]


def _dedent(text: str, column: int) -> str:
    """Remove up to `column` leading spaces from every line after the first (the first starts at it)."""
    head, *rest = text[: _MAX_SIGNATURE_CHARS * 2].split("\n")
    return "\n".join([head.rstrip(), *(_without_indent(line, column).rstrip() for line in rest)])


def _without_indent(line: str, column: int) -> str:
    """`line` less up to `column` of its leading spaces and tabs (no regex per column: a minified file's
    definitions each start at a column of their own, and compiling one pattern each cost ~0.1 ms)."""
    indent = len(line) - len(line.lstrip(" \t"))
    return line[min(indent, column) :]
