"""Workspace index, import resolution and context selection on a small project written for the test."""

import dataclasses
import os
import time

import pytest
from test_prompt import recording

from nanocomplete import context, prompt
from nanocomplete.config import ContextConfig, PromptConfig
from nanocomplete.context import ContextRequest
from nanocomplete.index import WorkspaceIndex
from nanocomplete.prompt import ExtraFile, FimInput
from nanocomplete.syntax import Import
from nanocomplete.workspace import Workspace

PROJECT = {
    "pkg/__init__.py": "from .models import User\nfrom .db import *\n",
    "pkg/models.py": (
        "class User:\n"
        '    """A user of the shop."""\n\n'
        "    def __init__(self, name: str, email: str):\n        self.name = name\n        self.email = email\n\n"
        "    def greeting(self) -> str:\n        return f'Hello {self.name}'\n\n"
        "    def deactivate(self, reason: str) -> None:\n        self.active = False\n        self.reason = reason\n"
    ),
    "pkg/db.py": "def connect(url: str, timeout_s: float = 5.0):\n    return Connection(url, timeout_s)\n",
    "pkg/sub/helpers.py": "from ..models import User as Member\n\n\ndef make(name):\n    return Member(name, '')\n",
    "app/main.py": "import pkg.db as database\nfrom pkg import User\nfrom pkg.db import connect as open_db\n",
    "tsconfig.json": '{\n  // aliases\n  "compilerOptions": {"baseUrl": ".", "paths": {"@/*": ["src/*"]},},\n}\n',
    "src/index.ts": "export * from './shapes';\nexport { area } from './geometry';\n",
    "src/shapes.ts": "export class Circle {\n  constructor(public radius: number) {}\n}\n",
    "src/geometry.ts": "export function area(c: { radius: number }): number {\n  return Math.PI * c.radius ** 2;\n}\n",
    "src/util/format.ts": "export const formatArea = (a: number): string => a.toFixed(2);\n",
    "src/app.tsx": "import { Circle, area } from './index';\nimport { formatArea } from '@/util/format';\n",
    "broken.py": "def broken(:\n    return ((\n",
}


def workspace_of(files: dict[str, str]) -> Workspace:
    workspace = Workspace()
    for path, text in files.items():
        workspace.add(path, text)
    return workspace


@pytest.fixture
def index(tmp_path):
    for path, text in PROJECT.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(text)
    index = WorkspaceIndex(tmp_path)
    index.refresh()
    return index


@pytest.mark.parametrize(
    ("importer", "imp", "expected"),
    [
        ("pkg/sub/helpers.py", Import("models", "User", "Member", 0, level=2), "pkg/models.py"),
        ("app/main.py", Import("pkg.db", "connect", "open_db", 2), "pkg/db.py"),
        ("app/main.py", Import("pkg.db", None, "database", 0), "pkg/db.py"),
        ("app/main.py", Import("pkg", "User", "User", 1), "pkg/__init__.py"),
        ("src/app.tsx", Import("./index", "Circle", "Circle", 0), "src/index.ts"),
        ("src/app.tsx", Import("@/util/format", "formatArea", "formatArea", 1), "src/util/format.ts"),
        ("src/app.tsx", Import("react", "useState", "useState", 0), None),
    ],
)
def test_imports_resolve_to_workspace_files(index, importer, imp, expected):
    assert index.workspace.resolve(importer, imp) == expected


@pytest.mark.parametrize(
    ("path", "name", "defined_in"),
    [
        ("pkg/__init__.py", "User", "pkg/models.py"),  # re-export through __init__.py
        ("pkg/__init__.py", "connect", "pkg/db.py"),  # star re-export
        ("src/index.ts", "Circle", "src/shapes.ts"),  # export * from
        ("src/index.ts", "area", "src/geometry.ts"),  # export { area } from
    ],
)
def test_definitions_are_found_through_re_exports(index, path, name, defined_in):
    found = index.workspace.definition(path, name)
    assert found is not None and found[0] == defined_in and found[1].name == name


def request(path, prefix, suffix="\n", recent=()):
    return ContextRequest(path, PROJECT.get(path, "") + prefix, suffix, tuple(recent))


def test_names_used_near_the_cursor_bring_their_definitions(index, tokenizer):
    selection = context.select(
        index.workspace,
        request("app/main.py", "\nuser = User('a', 'b')\nconn = open_db("),
        tokenizer.tokenize,
        1000,
    )
    by_path = {f.path: f.text for f in selection.files}
    assert "def connect(url: str, timeout_s: float = 5.0):" in by_path["pkg/db.py"]
    assert (
        "class User:" in by_path["pkg/models.py"] and "def greeting(self) -> str:" in by_path["pkg/models.py"]
    )


def test_a_module_alias_attribute_brings_the_attribute_definition(index, tokenizer):
    selection = context.select(
        index.workspace,
        request("app/main.py", "\nconn = database.connect("),
        tokenizer.tokenize,
        1000,
        sources=["import"],
    )
    by_path = {f.path: f.text for f in selection.files}
    assert by_path["pkg/db.py"].startswith("def connect(url: str, timeout_s: float = 5.0):")


def import_candidates(workspace, req):
    imports, import_lines = workspace.document_imports(req.path, req.prefix + req.suffix)
    return context.import_candidates(workspace, req, imports, import_lines, 30)


def test_names_imported_but_not_used_yet_bring_their_definitions_after_the_used_ones(index, tokenizer):
    req = request("app/main.py", "\nconn = open_db('sqlite://')\n")
    candidates = import_candidates(index.workspace, req)
    assert [c.path for c in candidates] == ["pkg/db.py", "pkg/models.py"]  # open_db used, User not yet
    assert candidates[1].text.startswith("class User:")


def test_names_not_used_yet_come_as_compact_headers(index, tokenizer):
    unused = import_candidates(index.workspace, request("app/main.py", "\n"))
    used = import_candidates(index.workspace, request("app/main.py", "\nuser = User("))
    compact = next(c.text for c in unused if c.path == "pkg/models.py")
    whole = next(c.text for c in used if c.path == "pkg/models.py")
    assert "def __init__(self, name: str, email: str):" in compact and "greeting" not in compact
    assert "def greeting(self) -> str:" in whole


def test_a_dataclasss_and_an_interfaces_fields_show_in_their_skeletons_docstrings_and_methods_do_not():
    dataclass = (
        "@dataclass\nclass Order:\n"
        '    """An order.\n\n    Attributes:\n        lines: what was bought\n    """\n\n'
        "    lines: list[Line]\n    coupon_code: str | None = None\n    MAX_LINES = 50\n\n"
        "    def total(self) -> int:\n        subtotal: int = 0\n        for line in self.lines:\n"
        "            subtotal += line.cents\n        return subtotal\n"
    )
    interface = (
        "export interface Cart {\n  id: string;\n  readonly items: Item[];\n  couponCode?: string;\n"
        "  total(): number;\n  owner: User;\n  createdAt: Date;\n  updatedAt: Date;\n  note: string;\n"
        "  tags: string[];\n  status: Status;\n}\n"
    )
    workspace = workspace_of({"shop/models.py": dataclass, "web/cart.ts": interface})
    order = workspace.files["shop/models.py"].syntax.definitions[0]
    cart = workspace.files["web/cart.ts"].syntax.definitions[0]
    for compact in (False, True):  # a name used, and one not used yet (a class without a constructor)
        shown = context.skeleton(workspace, "shop/models.py", order, compact=compact)
        assert "    lines: list[Line]" in shown and "    coupon_code: str | None = None" in shown
        assert "MAX_LINES = 50" in shown and "Attributes" not in shown and "subtotal" not in shown
        assert ("def total(self) -> int:" in shown) is not compact
        shown = context.skeleton(workspace, "web/cart.ts", cart, compact=compact)
        assert "  readonly items: Item[];" in shown and "  couponCode?: string;" in shown
    assert shown.count("\n") == context.COMPACT_FIELDS and "status" not in shown  # 9 fields, 8 shown


def test_another_language_familys_snippets_and_similar_code_stay_out_of_a_prompt():
    lines = [f"total_{n} = price_{n} * quantity_{n}" for n in range(20)]
    workspace = Workspace()
    workspace.add("web/cart.ts", "\n".join(lines))
    workspace.add("web/legacy.js", "\n".join(lines[:10]))
    workspace.add("shop/other.py", "\n".join(lines))
    snippets = (
        ExtraFile("web/CartSummary.tsx", "const couponCode = cart.couponCode;"),
        ExtraFile("shop/models.py", "class Order:\n    coupon: str"),
        ExtraFile("db/schema.sql", "CREATE TABLE orders (coupon TEXT);"),  # no parsed language: kept
    )
    python = ContextRequest("shop/pricing.py", "\n".join(lines[:12]) + "\n", "\n", recent=snippets)
    assert [c.path for c in context.recent_candidates(python)] == ["shop/models.py", "db/schema.sql"]
    assert {c.path for c in context.similar_candidates(workspace, python, 4)} == {"shop/other.py"}
    tsx = dataclasses.replace(python, path="web/Cart.tsx")
    assert [c.path for c in context.recent_candidates(tsx)] == ["web/CartSummary.tsx", "db/schema.sql"]
    similar = {c.path for c in context.similar_candidates(workspace, tsx, 4)}
    assert similar and similar <= {"web/cart.ts", "web/legacy.js"}


def test_lines_an_imported_definition_shows_are_not_shown_again_as_similar_code(tokenizer):
    money = "export function formatCents(cents: number): string {\n  return (cents / 100).toFixed(2);\n}\n"
    workspace = Workspace()
    workspace.add("web/money.ts", money)
    prefix = (
        "import { formatCents } from './money';\n\nconst label = formatCents(cents);\nreturn (cents / 100)"
    )
    req = ContextRequest("web/cart.ts", prefix, "\n")
    assert context.similar_candidates(workspace, req, 4)  # the window alone would be shown
    selection = context.select(workspace, req, tokenizer.tokenize, 1000, sources=["import", "similar"])
    shown = "\n".join(f.text for f in selection.files)
    assert [f.path for f in selection.files] == ["web/money.ts"]
    assert shown.count("toFixed") == 1


def test_similar_windows_bring_the_lines_after_them_and_no_line_twice(tokenizer):
    lines = [f"step_{n} = run_{n}(step_{n - 1})" for n in range(40)]
    workspace = Workspace()
    workspace.add("pkg/pipeline.py", "\n".join(lines))
    req = ContextRequest("app/copy.py", "\n".join(lines[10:20]) + "\n", "\n")
    candidates = context.similar_candidates(workspace, req, 4)
    shown = [line for c in candidates for line in c.text.split("\n")]
    assert len(shown) == len(set(shown))
    assert lines[20] in shown and lines[24] in shown  # what followed the matching window
    selection = context.select(workspace, req, tokenizer.tokenize, 2000, sources=["similar"])
    assert len(selection.files) == 1  # adjacent snippets of one file: one entry, in file order
    text = selection.files[0].text
    assert text in "\n".join(lines) and lines[24] in text


def test_typescript_imports_through_index_and_alias(index, tokenizer):
    selection = context.select(
        index.workspace,
        request("src/app.tsx", "\nconst c = new Circle(2);\nconst label = formatArea(area(c));\n"),
        tokenizer.tokenize,
        1000,
        sources=["import"],
    )
    assert {f.path for f in selection.files} == {"src/shapes.ts", "src/geometry.ts", "src/util/format.ts"}


@pytest.mark.parametrize("budget", [0, 10, 40, 80, 200, 1000])
def test_the_budget_is_never_exceeded(index, tokenizer, budget):
    recent = [ExtraFile("notes/todo.py", "x = 1\n" * 30)]
    req = request("app/main.py", "\nuser = User('a', 'b')\nconn = open_db(", recent=recent)
    selection = context.select(index.workspace, req, tokenizer.tokenize, budget)
    assert selection.tokens <= budget
    fim_input = FimInput(req.prefix, req.suffix, req.path, None, selection.files)
    built = prompt.build(fim_input, tokenizer.tokenize, PromptConfig(max_context_tokens=budget + 20))
    assert built.extra_files_used == tuple(f.path for f in selection.files)


def test_a_source_alone_gets_the_whole_budget(index, tokenizer):
    recent = tuple(ExtraFile(f"notes/n{i}.py", f"value_{i} = {i}\n" * 5) for i in range(30))
    req = request("app/main.py", "\n", recent=recent)
    alone = context.select(index.workspace, req, tokenizer.tokenize, 400, sources=["recent"])
    assert 0.8 * 400 < alone.tokens <= 400  # not just the recent share (20%) of it


def test_the_order_is_stable_while_typing_on_a_line(index, tokenizer):
    base = "\nuser = User('a', 'b')\nconn = open_db("
    first = context.select(index.workspace, request("app/main.py", base), tokenizer.tokenize, 600)
    again = context.select(index.workspace, request("app/main.py", base), tokenizer.tokenize, 600)
    typed = context.select(
        index.workspace, request("app/main.py", base + "'sqlite:"), tokenizer.tokenize, 600
    )
    assert first == again
    assert [f.path for f in typed.files][:2] == [f.path for f in first.files][:2]


def test_similar_code_comes_from_other_files_and_skips_near_duplicates(index, tokenizer):
    index.update("pkg/copy.py", "def make(name):\n    return Member(name, '')\n")
    req = ContextRequest("pkg/sub/helpers.py", PROJECT["pkg/sub/helpers.py"], "\n")
    candidates = context.similar_candidates(index.workspace, req, 5)
    assert candidates
    assert all(c.path != "pkg/sub/helpers.py" for c in candidates)
    assert all("return Member(name, '')" not in c.text for c in candidates)  # a near copy of the local code


def test_an_unparseable_file_degrades_gracefully(index):
    broken = index.workspace.files["broken.py"]
    assert broken.syntax.parse_error
    index.update("broken.py", "class (((\n")
    assert index.workspace.files["broken.py"].syntax.parse_error
    selection = context.select(
        index.workspace, request("broken.py", "\nbroken("), lambda text: [0] * len(text), 500
    )
    assert selection.tokens <= 500


def test_refresh_is_incremental(index, tmp_path):
    assert index.refresh().parsed == 0
    (tmp_path / "pkg/db.py").write_text("def connect(url):\n    return None\n")
    (tmp_path / "src/util/format.ts").unlink()
    stats = index.refresh()
    assert stats.parsed == 1 and "src/util/format.ts" not in index.workspace.files


def test_greedy_fill_takes_the_nearest_files_first_within_budget(index, tokenizer):
    selection = context.greedy_fill(index.workspace, request("pkg/db.py", ""), tokenizer.tokenize, 120)
    assert selection.tokens <= 120
    assert selection.files[0].path.startswith("pkg/")


def test_selection_is_fast(index, tokenizer):
    req = request("app/main.py", "\nuser = User('a', 'b')\nconn = open_db(")
    started = time.perf_counter()
    context.select(index.workspace, req, tokenizer.tokenize, 1000)
    assert time.perf_counter() - started < 0.5  # a generous bound for a tiny project; see `bench context`


def test_a_bare_module_attribute_brings_the_module_outline(index, tokenizer):
    selection = context.select(
        index.workspace,
        request("app/main.py", "\nconn = database."),
        tokenizer.tokenize,
        1000,
        sources=["import"],
    )
    assert selection.files[0].path == "pkg/db.py"
    assert selection.files[0].text.startswith("def connect(url: str, timeout_s: float = 5.0):")


def test_similar_code_is_the_same_in_every_process():
    """Python salts string hashes per process: ties between equally rare query tokens must not follow
    set order, or the same request gets different context (and different completions) after a restart."""
    import subprocess
    import sys

    script = (
        "from nanocomplete import context\n"
        "from nanocomplete.workspace import Workspace\n"
        "w = Workspace()\n"
        "for f in range(6):\n"
        "    w.add(f'pkg/m{f}.py', '\\n'.join(f'v = run(arg_{f}_{n}, alt_{f}_{n})' for n in range(40)))\n"
        "lines = (f'x = run(arg_{n % 6}_{n}, alt_{(n + 3) % 6}_{n})' for n in range(10, 30))\n"
        "req = context.ContextRequest('app.py', '\\n'.join(lines), '')\n"
        "print([(c.path, c.line) for c in context.similar_candidates(w, req, 4)])\n"
    )
    outputs = {
        subprocess.run(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in range(6)
    }
    assert len(outputs) == 1 and "pkg/" in outputs.pop()


def test_the_editors_buffer_is_read_for_imports_not_the_indexed_file(index):
    workspace = index.workspace
    path = next(p for p in sorted(workspace.files) if p.endswith(".py") and workspace.files[p].syntax.imports)
    indexed = workspace.files[path]
    assert workspace.document_imports(path, indexed.text) == (
        indexed.syntax.imports,
        indexed.syntax.import_lines,
    )
    typed = "from elsewhere import added_name\n" + indexed.text
    imports, import_lines = workspace.document_imports(path, typed)
    assert imports[0].alias == "added_name" and 0 in import_lines
    again = typed.replace("added_name", "added_names", 1)  # a keystroke later: reparsed from the last tree
    assert workspace.document_imports(path, again)[0][0].alias == "added_names"


def test_the_trees_kept_for_reparsing_hold_a_bounded_amount_of_source_the_newest_always_kept(monkeypatch):
    from nanocomplete import syntax
    from nanocomplete.workspace import DOCUMENT_TREES_SOURCE_BYTES

    # a parse past its deadline keeps no tree: on a busy CPU these 1.9 MB parses could pass it (~3 s)
    monkeypatch.setattr(syntax, "PARSE_DEADLINE_S_PER_MB", 60.0)
    workspace = Workspace()
    huge = "import os\n" + "value = os.path.join('a', 'b')\n" * 60_000  # ~1.9 MB each
    for i in range(4):
        imports, _ = workspace.document_imports(f"huge_{i}.py", huge)
        assert imports[0].alias == "os"
    kept = workspace._documents
    assert sum(len(parsed.source) for parsed in kept.values()) <= DOCUMENT_TREES_SOURCE_BYTES
    assert "huge_3.py" in kept and len(kept) == 2
    workspace.document_imports(
        "huger.py", huge * 3
    )  # over the bound alone: still kept, for its next keystroke
    assert list(kept) == ["huger.py"]


def okapi_scores(bm25, query):
    """BM25 written out the textbook way, over the same windows and the same rare-token choice."""
    import math

    total = len(bm25.windows)
    average = sum(w.length for w in bm25.windows.values()) / total
    common = max(bm25.min_common_windows, bm25.max_document_share * total)
    rare = sorted((len(bm25.postings[t]), t) for t in set(query) if len(bm25.postings.get(t, ())) <= common)
    scores = {}
    for _, token in rare[: bm25.max_query_tokens]:
        posting = bm25.postings[token]
        idf = math.log(1 + (total - len(posting) + 0.5) / (len(posting) + 0.5))
        for window_id, count in posting.items():
            norm = bm25.k1 * (1 - bm25.b + bm25.b * bm25.windows[window_id].length / average)
            scores[window_id] = scores.get(window_id, 0.0) + idf * count * (bm25.k1 + 1) / (count + norm)
    return scores


def test_bm25_ranks_as_the_okapi_formula_after_files_change():
    from nanocomplete.workspace import Bm25

    bm25 = Bm25(min_common_windows=50)
    words = [f"name{i}" for i in range(30)]
    for number in range(12):
        lines = [
            " ".join(words[(number * 7 + k * 3) % 30 : (number * 7 + k * 3) % 30 + 3]) for k in range(25)
        ]
        bm25.add_file(f"f{number}.py", lines)
    query = ["name3", "name4", "name17", "name29", "missing"]

    def assert_okapi_ranking():
        scores = okapi_scores(bm25, query)
        # ties by path and line: the same workspace ranks the same however it was indexed
        window = bm25.windows
        expected = sorted(scores, key=lambda i: (-scores[i], window[i].path, window[i].start_line))[:6]
        got = bm25.search(query, 6)
        assert [w for _, w in got] == [bm25.windows[i] for i in expected]
        assert [s for s, _ in got] == pytest.approx([scores[i] for i in expected])

    assert_okapi_ranking()  # also builds the cached posting arrays
    bm25.add_file("new.py", ["name29 name17"] * 12)  # a new file: new postings for cached tokens
    assert_okapi_ranking()
    bm25.add_file("f3.py", ["name3 name3 name3 name4"] * 12)  # a changed file: its windows replaced
    bm25.remove_file("f5.py")
    assert_okapi_ranking()
    assert "f5.py" not in {w.path for _, w in bm25.search(query, 100)}
    assert all(w.path != "f3.py" for _, w in bm25.search(query, 100, exclude_path="f3.py"))


def test_a_workspace_that_is_itself_a_package_resolves_its_relative_imports():
    workspace = Workspace()
    workspace.add("__init__.py", "from .models import User\n")
    workspace.add("models.py", "class User:\n    def __init__(self, name: str):\n        self.name = name\n")
    workspace.add("views.py", "from . import models\nfrom .models import User\n")
    assert workspace.resolve("views.py", Import("models", "User", "User", 1, level=1)) == "models.py"
    assert workspace.resolve("views.py", Import("", None, "pkg", 0, level=1)) == "__init__.py"
    assert workspace.python_modules()["models"] == "models.py"


HEADED = (
    "import os\n"
    "from typing import TYPE_CHECKING\n"
    "from pkg.db import (\n"
    "    connect,\n"
    "    Connection,\n"
    ")\n"
    "try:\n"
    "    import ujson as json\n"
    "except ImportError:\n"
    "    import json\n"
    "if TYPE_CHECKING:  # typing only\n"
    "    from pkg.models import User\n"
    "\n\n"
    "def load(path):\n"
    "    import yaml\n"
    "    return yaml.safe_load(path)\n"
    "\n\n"
)


def test_the_header_is_the_module_level_imports_with_the_blocks_that_hold_them(index):
    req = ContextRequest("app/long.py", HEADED + "value = ", "\n")
    selection = context.select(index.workspace, req, lambda text: list(text), 0, sources=["header"])
    lines = HEADED.split("\n")
    # top-level imports, a multi-line one, and the try / if blocks with their openers; not the import
    # inside `load`: without its `def` line it would mislead
    assert selection.header == tuple(enumerate(lines[0:12]))
    assert selection.files == () and selection.tokens == 0  # the prefix budget pays for it, not this one


def test_a_typescript_header_is_its_import_statements(index):
    text = "import { Circle } from './shapes';\nimport {\n  area,\n} from './geometry';\n\nconst x = 1;\n"
    req = ContextRequest("src/view.ts", text + "const y = ", "\n")
    selection = context.select(index.workspace, req, lambda text: list(text), 0, sources=["header"])
    assert [number for number, _ in selection.header] == [0, 1, 2, 3]


def test_attach_gives_the_prompt_the_header_and_the_prompt_shows_it_above_a_far_cursor(index, tokenizer):
    body = "".join(f"step_{i} = os.path.join('a', '{i}')\n" for i in range(400))
    fim_input = FimInput(HEADED + body + "conn = ", "\n", "app/long.py")
    config = ContextConfig()
    attached, _ = context.attach(fim_input, index.workspace, tokenizer.tokenize, 256, config)
    assert attached.header[0] == (0, "import os") and len(attached.header) == 12
    built = prompt.build(attached, tokenizer.tokenize, PromptConfig(max_prefix_tokens=512))
    assert built.header_lines_shown == tuple(range(12))
    text = tokenizer.detokenize(built.tokens, special=True)
    assert "<|fim_prefix|>import os\nfrom typing import TYPE_CHECKING\nfrom pkg.db import (\n" in text
    without = context.attach(
        fim_input, index.workspace, tokenizer.tokenize, 256, ContextConfig("import,recent,similar")
    )[0]
    assert without.header == ()


def test_the_same_document_gives_the_same_header(index):
    req = ContextRequest("app/long.py", HEADED + "value = ", "\n")
    first = context.select(index.workspace, req, lambda text: list(text), 100)
    again = context.select(index.workspace, req, lambda text: list(text), 100)
    assert first == again


def test_similar_code_has_no_share_in_python_unless_it_is_the_only_source(tmp_path, tokenizer):
    lines = "".join(f"result_{n} = transform(result_{n - 1}, factor={n})\n" for n in range(60))
    files = {"lib/steps.py": lines, "lib/steps.ts": lines.replace("result_", "const r")}
    workspace = Workspace()
    for path, text in files.items():
        workspace.add(path, text)
    query = "result_40 = transform(result_39, factor=40)\nresult_41 = "

    def by_source(path, sources):  # a file's similar code is of its own language (language_family)
        req = ContextRequest(
            path, query if path.endswith(".py") else query.replace("result_", "const r"), "\n"
        )
        return context.select(workspace, req, tokenizer.tokenize, 400, sources=sources).by_source

    assert by_source("app/main.py", ["import", "recent", "similar"])["similar"] == 0
    assert by_source("app/main.py", ["similar"])["similar"] > 0  # asked alone, it is measured alone
    assert by_source("app/main.ts", ["import", "recent", "similar"])["similar"] > 0


def test_a_package_folder_opened_as_the_workspace_resolves_imports_of_its_own_name(tmp_path):
    root = tmp_path / "shop"  # the editor opened the package itself: `__init__.py` at the top
    files = {
        "__init__.py": "from .db import connect\n",
        "db.py": "def connect(url: str) -> None:\n    pass\n",
        "app.py": "from shop.db import connect\nimport shop.db as database\nfrom . import db\n",
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    index = WorkspaceIndex(root)
    index.refresh()
    resolve = index.workspace.resolve
    assert resolve("app.py", Import("shop.db", "connect", "connect", 0)) == "db.py"
    assert resolve("app.py", Import("shop.db", None, "database", 1)) == "db.py"
    assert resolve("app.py", Import("", "db", "db", 2, level=1)) == "db.py"
    assert resolve("app.py", Import("shop", "connect", "connect", 0)) == "__init__.py"


def test_bm25_ties_do_not_depend_on_the_order_files_were_indexed_in():
    from nanocomplete.workspace import Bm25

    files = {f"pkg/m{i}.py": ["def total(items):", "    return sum(items)"] * 3 for i in range(4)}
    fresh, edited = Bm25(min_common_windows=50), Bm25(min_common_windows=50)
    for path, lines in files.items():
        fresh.add_file(path, lines)
        edited.add_file(path, lines)
    edited.add_file("pkg/m0.py", ["def other():", "    pass"])  # edited, then back: re-indexed last
    edited.add_file("pkg/m0.py", files["pkg/m0.py"])
    query = ["total", "items", "sum"]
    assert [(w.path, w.start_line) for _, w in fresh.search(query, 3)] == [
        (w.path, w.start_line) for _, w in edited.search(query, 3)
    ]


def test_decorator_arguments_headers_over_several_lines_and_keywords_are_not_fields():
    python = (
        "@dataclass(\n    frozen=True,\n)\nclass Order(\n    Base,\n    metaclass=ABCMeta,\n):\n"
        '    """Doc with \'\'\' inside.\n\n    name: the name\n    """\n\n'
        "    lines: list\n    if TYPE_CHECKING:\n        hidden: int\n    else:\n        pass\n"
        "    coupon: str = ''\n\n    def total(self):\n        return 1\n"
    )
    typescript = (
        "@Component({\n  selector: 'app-root',\n})\nexport class AppComponent {\n    title = 'shop';\n"
        "    private readonly cart: Cart;\n\n    add(p: Product): void { this.cart.add(p); }\n"
        "    clear(): void {\n        this.cart.clear();\n    }\n}\n"
    )
    workspace = workspace_of({"shop/order.py": python, "web/app.ts": typescript})
    order = workspace.files["shop/order.py"].syntax.definitions[0]
    body = context.skeleton(workspace, "shop/order.py", order).split("):\n", 1)[1]
    assert "    lines: list\n    coupon: str = ''" in body
    for wrong in ("frozen", "metaclass", "name: the name", "hidden", "else"):
        assert wrong not in body
    app = next(d for d in workspace.files["web/app.ts"].syntax.definitions if d.kind == "class")
    shown = context.skeleton(workspace, "web/app.ts", app)
    assert "\n  title = 'shop';\n  private readonly cart: Cart;" in shown  # re-indented as the members
    assert "selector: 'app-root'" not in shown.split("export class")[1]


def test_a_snippet_too_long_for_its_share_is_skipped_without_tokenizing_it(tokenizer):
    bundle = "var a=1;" * 125_000  # a megabyte on one line, sent as a recent snippet
    snippets = (ExtraFile("dist/bundle.js", bundle), ExtraFile("web/money.ts", "export const cents = 100;\n"))
    req = ContextRequest("web/cart.ts", "const total = ", "\n", recent=snippets)
    recorded, lengths = recording(tokenizer.tokenize)
    selection = context.select(Workspace(), req, recorded, 1000, sources=["recent"])
    assert [f.path for f in selection.files] == ["web/money.ts"]  # the next snippet still gets the room
    assert max(lengths) <= 1000 * prompt.MAX_CHARS_PER_TOKEN
    greedy = context.greedy_fill(workspace_of({"dist/bundle.js": bundle[:200_000]}), req, recorded, 1000)
    assert greedy.files == () and max(lengths) <= 1000 * prompt.MAX_CHARS_PER_TOKEN
