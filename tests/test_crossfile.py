"""The cross-file benchmark built from tiny local packages (no network): example text, settings, oracle
snippets, sampling, files."""

import hashlib
import io
import json
import re
import tarfile

import pytest

from nanocomplete import syntax
from nanocomplete.corpus import pins, sources
from nanocomplete.corpus.sources import Pin, SourceError
from nanocomplete.evals import crossfile

PYTHON_FILES = {
    "shop/__init__.py": '"""A shop."""\nfrom .models import Item, make_item\nfrom .pricing import total\n',
    "shop/models.py": '''\
"""Items."""

from dataclasses import dataclass

DEFAULT_PRICE = 1.5


@dataclass
class Item:
    """An item for sale."""

    name: str
    price: float = DEFAULT_PRICE


def make_item(name: str, price: float | None = None) -> Item:
    """Make an item, with the default price unless given."""
    return Item(name, DEFAULT_PRICE if price is None else price)
''',
    "shop/pricing.py": '''\
"""Prices."""

from .models import Item

TAX_RATE = 0.2


def with_tax(amount: float) -> float:
    """The amount with tax."""
    rounded = round(amount * (1 + TAX_RATE), 2)
    return rounded


def total(items: list[Item]) -> float:
    """The price of all items, with tax."""
    subtotal = sum(item.price for item in items)
    return with_tax(subtotal)
''',
    "shop/cart.py": '''\
"""A shopping cart."""

import logging

from shop import Item as ShopItem
from shop.models import make_item
from . import pricing

log = logging.getLogger(__name__)


class Cart:
    """Items to buy."""

    def __init__(self) -> None:
        self.items: list[ShopItem] = []
        self.count_added = 0

    def add(self, name: str) -> ShopItem:
        item = make_item(name)
        self.items.append(item)
        self.count_added += 1
        log.debug("added %s", item.name)
        return item

    def add_many(self, names: list[str]) -> None:
        for name in names:
            self.items.append(make_item(name))
        log.debug("added %d items", len(names))

    def price(self) -> float:
        amount = pricing.total(self.items)
        log.debug("price %.2f", amount)
        return amount
''',
    "tests/test_cart.py": "from shop.cart import Cart\n\n\ndef test_cart():\n    assert Cart()\n",
}

TS_FILES = {
    "src/index.ts": 'export * from "./schema.js";\nexport { parse as parseValue } from "./parse";\n',
    "src/schema.ts": """\
export interface Schema<T> {
  name: string;
  check(value: unknown): value is T;
}

export class StringSchema implements Schema<string> {
  name = "string";
  check(value: unknown): value is string {
    return typeof value === "string";
  }
}
""",
    "src/util.ts": """\
export function fail(message: string): never {
  throw new Error(message);
}

export const EMPTY = "";
""",
    "src/parse.ts": """\
import type { Schema } from "./schema.js";
import * as util from "./util";

const DEFAULT_LABEL = "value";

export function parse<T>(schema: Schema<T>, value: unknown): T {
  const label = schema.name ?? DEFAULT_LABEL;
  const ok = schema.check(value);
  if (!ok) {
    util.fail(`not a ${label}`);
  }
  const result = value as T;
  return result;
}
""",
    "src/view.tsx": """\
import { StringSchema } from "./index";
import { parseValue } from "./index";

const title = "Parsed value";
const fallback = "nothing here";
const schema = new StringSchema();

export function View(props: { value: unknown }) {
  const shown = parseValue(schema, props.value);
  const text = shown || fallback;
  return <div title={title}>{text}</div>;
}
""",
    "src/parse.test.ts": 'import { parse } from "./parse";\nparse(null as never, 1);\n',
}


def write_tree(root, files):
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


@pytest.fixture
def packages(tmp_path):
    python = sources.directory_package(write_tree(tmp_path / "py", PYTHON_FILES), "shop", "1.0")
    typescript = sources.directory_package(write_tree(tmp_path / "ts", TS_FILES), "schemas", "2.0")
    return [python, typescript]


@pytest.fixture
def built(packages):
    return crossfile.build(packages, per_setting=100, seed=0)


def source_text(example):
    files = PYTHON_FILES if example.language == "python" else TS_FILES
    return files[example.path]


def test_every_example_reconstructs_its_file_region(built):
    assert built.examples
    for example in built.examples:
        lines = source_text(example).split("\n")
        line = lines[example.line]
        indent = line[: len(line) - len(line.lstrip())]
        assert example.prefix == "".join(text + "\n" for text in lines[: example.line]) + indent
        assert example.target == line.strip()
        assert source_text(example).startswith(example.prefix + example.target + example.suffix)
        assert example.suffix == "\n" + "\n".join(lines[example.line + 1 :])
        assert example.prefix_lines == example.line


def test_prefix_and_suffix_are_capped_in_lines(tmp_path):
    body = "".join(f"    value_{i} = compute(item, {i})\n" for i in range(400))
    files = {
        "big/__init__.py": "",
        "big/helpers.py": "def compute(item, n):\n    return n\n",
        "big/main.py": f"from .helpers import compute\n\n\ndef run(item):\n{body}",
    }
    package = sources.directory_package(write_tree(tmp_path, files), "big")
    examples = crossfile.build([package], per_setting=1000).examples
    deep = [e for e in examples if e.line > 350]
    assert deep
    for example in examples:
        assert example.prefix.count("\n") <= 300
        assert example.suffix.count("\n") <= 60
        assert example.prefix_lines == example.line


def test_test_files_are_not_part_of_a_package(packages):
    paths = {path for package in packages for path, _ in package.files}
    assert "tests/test_cart.py" not in paths
    assert "src/parse.test.ts" not in paths


def cross_file_aliases(example):
    """Local names bound by imports of package files (test-side: relative or `shop...` imports)."""
    facts = syntax.parse(source_text(example), syntax.language_of(example.path))
    internal = [i for i in facts.imports if i.level > 0 or i.module.startswith(("shop", "."))]
    return {imp.alias: imp.line for imp in internal if not imp.reexport}


def test_cross_file_first_is_the_first_use_of_an_imported_name(built):
    firsts = [e for e in built.examples if e.setting == "cross_file_first"]
    assert firsts
    for example in firsts:
        aliases = cross_file_aliases(example)
        assert set(example.cross_file_names) <= set(aliases)
        uses = syntax.identifier_lines(source_text(example), syntax.language_of(example.path))
        first_uses = {name: min(uses[name]) for name in example.cross_file_names}
        assert example.line in first_uses.values()
        assert all(first_uses[name] > aliases[name] for name in example.cross_file_names)


def test_expected_settings_in_the_cart(built):
    settings = {(e.path, e.line): (e.setting, e.cross_file_names) for e in built.examples}
    assert settings[("shop/cart.py", 15)] == ("cross_file_first", ("ShopItem",))
    assert settings[("shop/cart.py", 19)] == ("cross_file_first", ("make_item",))
    assert settings[("shop/cart.py", 18)] == ("cross_file_random", ("ShopItem",))
    assert settings[("shop/cart.py", 27)] == ("cross_file_random", ("make_item",))
    assert settings[("shop/cart.py", 31)] == ("cross_file_first", ("pricing",))
    assert settings[("shop/cart.py", 16)] == ("in_file", ())
    assert settings[("shop/cart.py", 28)] == ("in_file", ())
    assert ("shop/cart.py", 8) in settings  # 3 code lines before it: the imports
    assert ("shop/cart.py", 6) not in settings  # an import line


def test_in_file_examples_use_no_cross_file_name(built):
    in_file = [e for e in built.examples if e.setting == "in_file"]
    assert in_file
    for example in in_file:
        assert example.cross_file_names == ()
        words = set(re.findall(r"[A-Za-z_$][\w$]*", example.target))
        assert not words & set(cross_file_aliases(example))


def test_oracle_snippets_come_from_other_files_and_show_the_used_definition(built):
    for example in built.examples:
        oracle = example.contexts["oracle_import"]
        assert example.contexts["none"] == ()
        assert len(oracle) <= 8
        assert all(snippet.path != example.path for snippet in oracle)
        assert all(snippet.text.count("\n") < 15 for snippet in oracle)
    by_place = {(e.path, e.line): e for e in built.examples}
    first = by_place[("shop/cart.py", 19)].contexts["oracle_import"][0]
    assert first.path == "shop/models.py"
    assert first.text.startswith("def make_item(name: str, price: float | None = None) -> Item:")
    through_init = by_place[("shop/cart.py", 15)].contexts["oracle_import"][0]
    assert (through_init.path, through_init.text.split("\n")[:2]) == (
        "shop/models.py",
        ["@dataclass", "class Item:"],
    )
    module_attribute = by_place[("shop/cart.py", 31)].contexts["oracle_import"][0]
    assert (module_attribute.path, module_attribute.text.split("\n")[0]) == (
        "shop/pricing.py",
        "def total(items: list[Item]) -> float:",
    )


def test_typescript_resolution_through_js_specifiers_index_reexports_and_namespaces(built):
    by_place = {(e.path, e.line): e for e in built.examples}
    schema_use = by_place[("src/parse.ts", 5)]
    assert schema_use.setting == "cross_file_first"
    assert schema_use.contexts["oracle_import"][0].path == "src/schema.ts"
    namespace_use = by_place[("src/parse.ts", 9)]
    assert namespace_use.cross_file_names == ("util",)
    assert namespace_use.contexts["oracle_import"][0].text.startswith("export function fail(")
    assert (
        by_place[("src/view.tsx", 5)]
        .contexts["oracle_import"][0]
        .text.startswith("export class StringSchema")
    )
    renamed_reexport = by_place[("src/view.tsx", 8)]
    assert (renamed_reexport.dialect, renamed_reexport.cross_file_names) == ("tsx", ("parseValue",))
    assert renamed_reexport.contexts["oracle_import"][0].text.startswith("export function parse<T>(")
    assert {e.dialect for e in built.examples if e.language == "typescript"} == {"ts", "tsx"}


def test_sampling_is_deterministic_and_write_is_byte_identical(packages, tmp_path):
    crossfile.write(crossfile.build(packages, per_setting=3, seed=7), tmp_path / "a")
    crossfile.write(crossfile.build(packages, per_setting=3, seed=7), tmp_path / "b")
    for name in ("python.jsonl", "typescript.jsonl", "manifest.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    seed_7 = [e.id for e in crossfile.build(packages, per_setting=3, seed=7).examples]
    assert [e.id for e in crossfile.build(packages, per_setting=3, seed=8).examples] != seed_7


def test_load_round_trips(built, tmp_path):
    crossfile.write(built, tmp_path)
    loaded = crossfile.load(tmp_path / "python.jsonl") + crossfile.load(tmp_path / "typescript.jsonl")
    assert loaded == list(built.examples)
    first = json.loads((tmp_path / "python.jsonl").read_text().split("\n")[0])
    assert list(first) == [
        "id", "language", "dialect", "package", "version", "path", "line", "setting", "prefix", "suffix",
        "target", "cross_file_names", "contexts", "prefix_lines",
    ]  # fmt: skip
    assert first["id"] == f"python/shop/{first['path']}:{first['line']}"


def test_sampling_caps_each_setting_and_each_package_share(tmp_path):
    packages = []
    for name in ("one", "two", "three"):
        files = {f"{name}/__init__.py": "", f"{name}/base.py": "def helper(x):\n    return x\n"}
        body = "".join(f"    result_{i} = helper(value + {i})\n" for i in range(60))
        files[f"{name}/main.py"] = f"from .base import helper\n\n\ndef run(value):\n{body}"
        packages.append(sources.directory_package(write_tree(tmp_path / name, files), name))
    built = crossfile.build(packages, per_setting=20, max_package_share=0.35)
    counts = built.manifest["examples"]["python"]["cross_file_random"]
    assert sum(counts.values()) == 20
    assert max(counts.values()) <= 7
    assert built.manifest["candidates"]["python"]["cross_file_random"] == {"one": 59, "two": 59, "three": 59}


def test_manifest_records_packages_and_drops(tmp_path):
    files = {
        "pkg/__init__.py": "",
        "pkg/a.py": "def f():\n    return 1\n",
        "pkg/generated.py": "DATA = '" + "x" * 1200 + "'\n",
        "pkg/broken.py": "def f(:\n    return = =\nclass\n",
    }
    package = sources.directory_package(write_tree(tmp_path, files), "pkg", "3.1", "BSD-3-Clause")
    facts = crossfile.build([package]).manifest["packages"]["pkg"]
    assert facts["version"] == "3.1"
    assert facts["license"] == "BSD-3-Clause"
    assert facts["files"] == 2
    assert facts["dropped"] == {
        "generated": ["pkg/generated.py"],
        "parse_error": ["pkg/broken.py"],
        "near_duplicate": [],
    }


# --- sources: pinned archives, read offline ------------------------------------------------------------


def make_sdist(path, files):
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_cached_sdist_is_read_without_downloading(tmp_path):
    files = {
        "toy-1.0/PKG-INFO": "Name: toy\nLicense-Expression: MIT\n\nLicense\n=======\nGPL?\n",
        "toy-1.0/src/toy/__init__.py": "from .core import run\n",
        "toy-1.0/src/toy/core.py": "def run():\n    return 1\n",
        "toy-1.0/tests/test_core.py": "from toy import run\n",
        "toy-1.0/docs/conf.py": "project = 'toy'\n",
        "toy-1.0/LICENSE.txt": "MIT License\n\nCopyright (c) 2020 Toy Authors\n\nPermission is granted\n",
        "toy-1.0/NOTICE": "Toy\nCopyright 2020 Toy Authors\n",
    }
    sha256 = make_sdist(tmp_path / "toy-1.0.tar.gz", files)
    pin = Pin("toy", "1.0", "pypi", ("toy/",), "toy-1.0.tar.gz", sha256)
    package = sources.load_package(pin, tmp_path)
    assert package.license == "MIT"
    assert [path for path, _ in package.files] == ["toy/__init__.py", "toy/core.py"]
    assert package.copyright == ("Copyright (c) 2020 Toy Authors",)
    assert package.notice == "Toy\nCopyright 2020 Toy Authors"


def test_an_archive_that_does_not_match_its_pin_is_refused(tmp_path):
    make_sdist(tmp_path / "toy-1.0.tar.gz", {"toy-1.0/PKG-INFO": "License-Expression: MIT\n"})
    pin = Pin("toy", "1.0", "pypi", ("toy/",), "toy-1.0.tar.gz", "0" * 64)
    with pytest.raises(SourceError, match="SHA-256"):
        sources.load_package(pin, tmp_path)


def test_a_license_off_the_allow_list_is_refused(tmp_path):
    package_json = json.dumps({"name": "toy", "version": "1.0", "license": "GPL-3.0-only"})
    sha256 = make_sdist(
        tmp_path / "toy-1.0.tgz", {"package/package.json": package_json, "package/src/a.ts": ""}
    )
    pin = Pin("toy", "1.0", "npm", ("src/",), "toy-1.0.tgz", sha256)
    with pytest.raises(SourceError, match=r"GPL-3\.0-only"):
        sources.load_package(pin, tmp_path)


@pytest.mark.parametrize(
    ("expression", "allowed"),
    [
        ("MIT", True),
        ("BSD-3-Clause", True),
        ("Apache-2.0", True),
        ("ISC", True),
        ("0BSD", True),
        ("PSF-2.0", True),
        ("(MIT OR Apache-2.0)", True),
        ("MIT AND Zlib", True),
        ("GPL-3.0-or-later", False),
        ("MIT OR GPL-2.0", False),
        ("", False),
    ],
)
def test_license_allow_list(expression, allowed):
    assert sources.license_allowed(expression) is allowed


def test_every_pin_is_an_eval_package_with_a_full_sha256():
    names = {pin.name for pin in pins.EVAL_PINS}
    assert names == {
        "requests", "flask", "httpx", "click", "attrs", "rich", "marshmallow", "typer", "starlette",
        "zod", "@trpc/server", "immer", "mobx", "@blueprintjs/select", "@blueprintjs/datetime",
    }  # fmt: skip
    assert all(re.fullmatch(r"[0-9a-f]{64}", pin.sha256) for pin in pins.EVAL_PINS)


def test_an_archive_without_sources_is_refused(tmp_path):
    sha256 = make_sdist(tmp_path / "toy-1.0.tar.gz", {"toy-1.0/PKG-INFO": "License-Expression: MIT\n"})
    pin = Pin("toy", "1.0", "pypi", ("toy/",), "toy-1.0.tar.gz", sha256)
    with pytest.raises(SourceError, match="no library source files under toy/"):
        sources.load_package(pin, tmp_path)


def test_cli_names_the_flag_of_a_bad_value(tmp_path, capsys):
    with pytest.raises(SystemExit):
        crossfile.main(["build", "--out", str(tmp_path), "--per-setting", "0"])
    assert "--per-setting must be at least 1" in capsys.readouterr().err


def test_cli_rejects_an_unknown_package(tmp_path, capsys):
    assert crossfile.main(["build", "--out", str(tmp_path), "--packages", "leftpad", "--no-progress"]) == 1
    assert "not an eval package: leftpad" in capsys.readouterr().err
