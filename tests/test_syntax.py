"""Tree-sitter facts about one file, table-driven: source text → imports, definitions, identifier uses."""

import time

import pytest

from nanocomplete import syntax
from nanocomplete.syntax import Definition, Import

IMPORT_CASES = [
    # (id, language, source, expected imports as (module, name, alias, line, level, reexport))
    (
        "python dotted import binds its top package",
        "python",
        "import a.b\n",
        [("a.b", None, "a", 0, 0, False)],
    ),
    ("python import as binds the alias", "python", "import a.b as c\n", [("a.b", None, "c", 0, 0, False)]),
    (
        "python import of several modules",
        "python",
        "import os, sys as system\n",
        [("os", None, "os", 0, 0, False), ("sys", None, "system", 0, 0, False)],
    ),
    ("python from import with alias", "python", "from x import y as z\n", [("x", "y", "z", 0, 0, False)]),
    ("python relative import", "python", "from .x import y\n", [("x", "y", "y", 0, 1, False)]),
    ("python bare relative import", "python", "from . import x\n", [("", "x", "x", 0, 1, False)]),
    (
        "python parenthesized import from a parent package",
        "python",
        "\nfrom ..pkg import (\n    a,\n    b as c,\n)\n",
        [("pkg", "a", "a", 1, 2, False), ("pkg", "b", "c", 1, 2, False)],
    ),
    ("python star import", "python", "from x import *\n", [("x", "*", "*", 0, 0, False)]),
    (
        "python import inside a function counts",
        "python",
        "def f():\n    from .m import g\n    return g()\n",
        [("m", "g", "g", 1, 1, False)],
    ),
    ("ts default import", "typescript", "import d from './x';\n", [("./x", "default", "d", 0, 0, False)]),
    (
        "ts named imports with alias",
        "typescript",
        "import {a, b as c} from '../y';\n",
        [("../y", "a", "a", 0, 0, False), ("../y", "b", "c", 0, 0, False)],
    ),
    (
        "ts default and named imports together",
        "typescript",
        'import d, { a } from "./x";\n',
        [("./x", "default", "d", 0, 0, False), ("./x", "a", "a", 0, 0, False)],
    ),
    ("ts namespace import", "typescript", "import * as ns from './z';\n", [("./z", None, "ns", 0, 0, False)]),
    ("ts type import", "typescript", "import type {T} from './t';\n", [("./t", "T", "T", 0, 0, False)]),
    ("ts side-effect import binds nothing", "typescript", "import './polyfill';\n", []),
    (
        "ts named re-export binds nothing locally",
        "typescript",
        "export {a, b as c} from './b';\n",
        [("./b", "a", "a", 0, 0, True), ("./b", "b", "c", 0, 0, True)],
    ),
    ("ts star re-export", "typescript", "export * from './c';\n", [("./c", "*", "*", 0, 0, True)]),
    ("ts namespace re-export", "typescript", "export * as m from './m';\n", [("./m", None, "m", 0, 0, True)]),
    ("js require", "javascript", "const x = require('./y');\n", [("./y", None, "x", 0, 0, False)]),
    (
        "js destructured require",
        "javascript",
        "const {a, b: c} = require('./y');\n",
        [("./y", "a", "a", 0, 0, False), ("./y", "b", "c", 0, 0, False)],
    ),
    (
        "ts import equals require",
        "typescript",
        "import x = require('./y');\n",
        [("./y", None, "x", 0, 0, False)],
    ),
    ("tsx imports parse like ts", "tsx", "import {B} from './b';\n", [("./b", "B", "B", 0, 0, False)]),
]


@pytest.mark.parametrize(
    ("language", "source", "expected"),
    [case[1:] for case in IMPORT_CASES],
    ids=[case[0] for case in IMPORT_CASES],
)
def test_imports_give_one_record_per_bound_name(language, source, expected):
    assert syntax.parse(source, language).imports == tuple(Import(*fields) for fields in expected)


PYTHON_SOURCE = '''\
"""Module doc."""
import os

TIMEOUT = 5.0
a, b = 1, 2


@decorator
def get(self, url, params=None, **kwargs):
    """Sends a GET request.

    More text.
    """
    return request("get", url, params=params, **kwargs)


class Session(Base):
    """A session."""

    retries = 3

    def send(
        self,
        request,
    ) -> Response:
        return os.send(request)

    class Inner:
        def deep(self):
            pass


if TYPE_CHECKING:
    def typed() -> int: ...
'''


def test_python_definitions_with_signatures_and_docstring_first_line():
    definitions = syntax.parse(PYTHON_SOURCE, "python").definitions
    assert definitions == (
        Definition("TIMEOUT", "variable", 3, 3, "TIMEOUT = 5.0"),
        Definition("a", "variable", 4, 4, "a, b = 1, 2"),
        Definition("b", "variable", 4, 4, "a, b = 1, 2"),
        Definition(
            "get",
            "function",
            7,
            13,
            'def get(self, url, params=None, **kwargs):\n    """Sends a GET request."""',
        ),
        Definition("Session", "class", 16, 29, 'class Session(Base):\n    """A session."""'),
        Definition("send", "method", 21, 25, "def send(\n    self,\n    request,\n) -> Response:", "Session"),
        Definition("Inner", "class", 27, 29, "class Inner:", "Session"),
        Definition("deep", "method", 28, 29, "def deep(self):", "Session.Inner"),
        Definition("typed", "function", 33, 33, "def typed() -> int:"),
    )


TS_SOURCE = """\
import { Base } from "./base";

export function f<T>(x: T): T {
  return x;
}
export const g = async (y: number): Promise<number> => {
  return y;
};
export const LIMIT = 10;
export class K<T> extends Base implements I {
  private q = 1;
  m(a: T): void {
    this.q = 2;
  }
}
interface I {
  a: string;
}
export type U = { a: string };
export enum E {
  A,
}
export default function main() {}
export namespace util {
  export const x = 1;
}
"""


def test_typescript_definitions_with_header_signatures():
    definitions = syntax.parse(TS_SOURCE, "typescript").definitions
    assert definitions == (
        Definition("f", "function", 2, 4, "export function f<T>(x: T): T {"),
        Definition("g", "function", 5, 7, "export const g = async (y: number): Promise<number> => {"),
        Definition("LIMIT", "variable", 8, 8, "export const LIMIT = 10;"),
        Definition("K", "class", 9, 14, "export class K<T> extends Base implements I {"),
        Definition("m", "method", 11, 13, "m(a: T): void {", "K"),
        Definition("I", "interface", 15, 17, "interface I {"),
        Definition("U", "type", 18, 18, "export type U = { a: string };"),
        Definition("E", "enum", 19, 21, "export enum E {"),
        Definition("main", "function", 22, 22, "export default function main() {"),
        Definition("util", "namespace", 23, 25, "export namespace util {"),
    )


def test_tsx_definitions_and_jsx_uses():
    source = (
        'import { Button } from "./button";\n\n'
        "export const View = (props: Props) => {\n"
        "  return <Button label={props.label} />;\n"
        "};\n"
    )
    facts = syntax.parse(source, "tsx")
    assert facts.definitions == (
        Definition("View", "function", 2, 4, "export const View = (props: Props) => {"),
    )
    uses = syntax.identifier_lines(source, "tsx")
    assert uses["Button"] == [3]
    assert uses["Props"] == [2]


def test_identifier_uses_skip_imports_attributes_and_keyword_names():
    source = "from .m import a, b\n\nx = a.b(b=1)\ny = b\nz = obj.a\n"
    uses = syntax.identifier_lines(source, "python")
    assert uses["a"] == [2]  # not the import line, not `obj.a`
    assert uses["b"] == [3]  # not the attribute `.b`, not the keyword `b=`
    assert uses["x"] == [2]


def test_typescript_identifier_uses_include_type_positions():
    source = "import type { T } from './t';\nimport * as ns from './n';\n\nconst v: T = ns.make({ T });\n"
    uses = syntax.identifier_lines(source, "typescript")
    assert uses["T"] == [3]
    assert uses["ns"] == [3]
    assert "make" not in uses  # a property name, not a binding


def test_noncode_lines_are_comments_docstrings_and_string_continuations():
    source = 'def f():\n    """Doc\n    more."""\n    # note\n    x = """a\nb"""  # tail\n    return x\n'
    assert syntax.noncode_lines(source, "python") == frozenset({1, 2, 3, 5})
    ts = "// head\nconst a = `x\ny`;\n/* block\n * more */\nlet b = 1; // tail\n"
    assert syntax.noncode_lines(ts, "typescript") == frozenset({0, 2, 3, 4})


def test_import_lines_cover_multi_line_imports_and_require():
    python = "from x import (\n    a,\n)\nb = 1\n"
    assert syntax.parse(python, "python").import_lines == frozenset({0, 1, 2})
    js = "const y = require('./y');\nconst z = 1;\n"
    facts = syntax.parse(js, "javascript")
    assert facts.import_lines == frozenset({0})
    assert [d.name for d in facts.definitions] == ["z"]  # a require is an import, not a definition


@pytest.mark.parametrize(
    ("source", "language"),
    [
        ("def f(:\n    x = = 2\nclass\n", "python"),
        ("function (( {\n  let = ;\n", "typescript"),
        ("<div><span></div>\nconst x = ", "tsx"),
        ("", "python"),
        ("\x00\ufffd\udcff not code", "python"),
    ],
)
def test_broken_files_degrade_gracefully(source, language):
    facts = syntax.parse(source, language)
    assert isinstance(facts.definitions, tuple)
    syntax.identifier_lines(source, language)
    syntax.noncode_lines(source, language)
    if source.strip():
        assert facts.parse_error
        assert facts.error_lines


def test_a_broken_file_keeps_what_tree_sitter_recovers():
    source = "from .m import helper\n\ndef ok():\n    return helper()\n\ndef broken(:\n    pass\n"
    facts = syntax.parse(source, "python")
    assert facts.parse_error
    assert facts.imports == (Import("m", "helper", "helper", 0, 1),)
    assert "ok" in {d.name for d in facts.definitions}
    assert 0 not in facts.error_lines and 5 in facts.error_lines


@pytest.mark.parametrize(
    ("path", "language"),
    [
        ("a/b.py", "python"),
        ("x.ts", "typescript"),
        ("x.mts", "typescript"),
        ("x.cts", "typescript"),
        ("x.tsx", "tsx"),
        ("x.js", "javascript"),
        ("x.mjs", "javascript"),
        ("x.cjs", "javascript"),
        ("x.jsx", "javascript"),
        ("types.d.ts", None),
        ("types.d.mts", None),
        ("README.md", None),
        ("Makefile", None),
    ],
)
def test_language_of_file_names(path, language):
    assert syntax.language_of(path) == language


def test_unknown_language_is_an_error():
    with pytest.raises(ValueError, match="unknown language"):
        syntax.parse("x", "cobol")


EDITED_PYTHON = '''import os
from pkg.models import User, Group as Team

def run(name: str) -> "Üser":
    """Ünïcode before the edits, so byte and character offsets differ."""
    return User(name)
'''


@pytest.mark.parametrize(
    "before, after",
    [
        ("def run", "def runner"),  # typing inside a line
        ("import os\n", "import os\nimport sys\nfrom pkg.views import render\n"),  # new imports
        ("from pkg.models import User, Group as Team\n", ""),  # an import deleted
        ("Ünïcode", "Ü"),  # deleting multi-byte characters
        ("    return User(name)\n", "    return User(name)\n\ndef broken(:\n"),  # an error at the end
    ],
)
def test_an_incremental_reparse_finds_what_a_full_parse_finds(before, after):
    first = syntax.document_imports(EDITED_PYTHON, "python")
    edited = EDITED_PYTHON.replace(before, after, 1)
    incremental = syntax.document_imports(edited, "python", first.parsed)
    full = syntax.parse(edited, "python")
    assert incremental.imports == full.imports
    assert incremental.import_lines == full.import_lines
    assert str(incremental.parsed.tree.root_node) == str(
        syntax.document_imports(edited, "python").parsed.tree.root_node
    )


def test_a_reparse_leaves_the_previous_tree_as_it_was():
    first = syntax.document_imports(EDITED_PYTHON, "python")
    shape = str(first.parsed.tree.root_node)
    syntax.document_imports("import sys\n" + EDITED_PYTHON, "python", first.parsed)
    assert str(first.parsed.tree.root_node) == shape


@pytest.mark.parametrize(
    ("language", "bracket"), [("python", "("), ("python", "["), ("javascript", "{"), ("typescript", "(")]
)
def test_a_document_of_unclosed_brackets_costs_a_bounded_time(language, bracket):
    # found by a hostile client: tree-sitter's query over 120,000 sibling errors took ~30 s, holding the GIL
    text = "import os\n" + (bracket * 8 + "\n") * 15_000  # 120,000 brackets in lines too short to skip
    started = time.monotonic()
    found = syntax.document_imports(text, language)
    identifier_lines = syntax.identifier_lines(text, language)
    assert time.monotonic() - started < 1.0
    assert found is not None and isinstance(identifier_lines, dict)


def test_a_document_of_long_lines_under_the_bound_is_read_in_bounded_time():
    text = ("x" * (syntax.DOCUMENT_MAX_LINE_CHARS - 1) + "\n") * 200  # 2 MB, no line over the bound
    started = time.monotonic()
    syntax.document_imports(text, "python")
    assert time.monotonic() - started < 3.0  # a regex looking for a long line took 9.5 s here


@pytest.mark.parametrize(
    ("language", "line"), [("javascript", "/*\n"), ("python", "x\\\n"), ("tsx", "/**\n")]
)
def test_a_text_that_makes_the_parse_quadratic_stops_at_its_deadline(language, line):
    # found by a hostile client: 16,000 lines of `/*` in JS took 33 s to parse, holding the GIL
    text = "import os\n" + line * 16_000
    started = time.monotonic()
    found = syntax.document_imports(text, language)
    facts = syntax.parse(text, language)
    assert time.monotonic() - started < 2 * (syntax.PARSE_MIN_DEADLINE_S + 0.1) + 0.5
    assert found is not None and found.parsed is None and facts.definitions == ()
    again = syntax.document_imports("import os\nx = 1\n", language if language == "python" else "javascript")
    assert again.parsed is not None  # the parser starts afresh after a stopped parse


def test_a_minified_document_is_not_parsed():
    text = "import os\n" + "x = 1;" * (syntax.DOCUMENT_MAX_LINE_CHARS // 6 + 1)
    started = time.monotonic()
    assert syntax.document_imports(text, "javascript") is None
    assert time.monotonic() - started < 0.5
    assert syntax.document_imports("import os\nx = 1\n", "python").imports[0].module == "os"
