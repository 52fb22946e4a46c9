"""The training data builder on a tiny local package (no network; the real tokenizer): answers cut at
editor-like cursors, prompts built on the server's path within budgets, the train/eval split,
decontamination, determinism and context copies."""

import dataclasses
from collections import Counter

import pytest

from nanocomplete import context, fim, prompt
from nanocomplete.config import ContextConfig, PromptConfig
from nanocomplete.corpus import decontaminate, pins, sources
from nanocomplete.corpus.files import select_files
from nanocomplete.corpus.imports import PackageImports
from nanocomplete.corpus.sources import SourceError
from nanocomplete.prompt import FimInput
from nanocomplete.train import cursors, data
from nanocomplete.workspace import Workspace, code_tokens

PLANTED = "        if sorted_numbers[i + 1] - sorted_numbers[i] < threshold:"  # HumanEval/0's solution

FILES = {
    "shop/__init__.py": '"""A shop."""\nfrom .models import Item, make_item\nfrom .pricing import total\n',
    "shop/models.py": '''\
"""Items."""

from dataclasses import dataclass

DEFAULT_PRICE = 1.5


@dataclass
class Item:
    """An item for sale."""

    name: str
    unit_price: float = DEFAULT_PRICE
    quantity_in_stock: int = 0


def make_item(name: str, unit_price: float | None = None) -> Item:
    """Make an item, with the default price unless given."""
    return Item(name, DEFAULT_PRICE if unit_price is None else unit_price)
''',
    "shop/pricing.py": '''\
"""Prices."""

from .models import Item

TAX_RATE = 0.2


def apply_discount(amount: float, percent: float) -> float:
    """The amount less a discount."""
    return round(amount * (1 - percent / 100), 2)


def with_tax(amount: float) -> float:
    """The amount with tax."""
    rounded = round(amount * (1 + TAX_RATE), 2)
    return rounded


def total(items: list[Item]) -> float:
    """The price of all items, with tax."""
    subtotal = sum(item.unit_price for item in items)
    return with_tax(subtotal)
''',
    "shop/cart.py": '''\
"""A shopping cart."""

import logging

from shop.models import Item, make_item
from . import pricing

log = logging.getLogger(__name__)


class Cart:
    """Items to buy."""

    def __init__(self, owner: str) -> None:
        self.items: list[Item] = []
        self.owner = owner
        self.count_added = 0

    def add(self, name: str) -> Item:
        item = make_item(name)
        self.items.append(item)
        self.count_added += 1
        log.debug("added %s", item.name)
        return item

    def value(self) -> float:
        amount = sum(item.unit_price * item.quantity_in_stock for item in self.items)
        return pricing.apply_discount(pricing.with_tax(amount), 5)

    def in_stock(self) -> list[Item]:
        return [item for item in self.items if item.quantity_in_stock > 0]

    def close_to(self, numbers: list[float], threshold: float) -> bool:
        for i in range(len(numbers) - 1):
            sorted_numbers = sorted(numbers)
PLANTED
                return True
        return False
'''.replace("PLANTED", PLANTED),
    "web/view.tsx": """\
import { Cart, formatPrice } from "./cart";

export interface ViewProps {
  cart: Cart;
  title: string;
}

export function CartView(props: ViewProps) {
  const items = props.cart.lineItems;
  const label = formatPrice(props.cart.totalCents);
  return (
    <div className="cart">
      <h1>{props.title}</h1>
      <span>{label}</span>
      {items.map((item) => <p key={item.sku}>{item.name}</p>)}
    </div>
  );
}
""",
    "web/cart.ts": """\
export interface LineItem {
  sku: string;
  name: string;
  priceCents: number;
}

export class Cart {
  lineItems: LineItem[] = [];
  totalCents = 0;

  addLineItem(item: LineItem): void {
    this.lineItems.push(item);
    this.totalCents += item.priceCents;
  }
}

export function formatPrice(cents: number): string {
  const dollars = Math.floor(cents / 100);
  return `$${dollars}.${String(cents % 100).padStart(2, "0")}`;
}
""",
    "web/badge.jsx": """\
import { formatPrice } from "./cart";

export function PriceBadge({ cents, onSale }) {
  const label = formatPrice(cents);
  const className = onSale ? "badge badge-sale" : "badge";
  return (
    <span className={className} title={label}>
      {label}
    </span>
  );
}

export function badgeCount(items) {
  return items.filter((item) => item.onSale).length;
}
""",
    "web/stock.js": """\
export const LOW_STOCK = 3;

export function isLow(item) {
  return item.quantity < LOW_STOCK;
}

export function restock(item, amount) {
  const quantity = item.quantity + amount;
  return { ...item, quantity };
}
""",
}
SMALL = PromptConfig(
    max_prefix_tokens=96,
    max_suffix_tokens=32,
    max_context_tokens=384,
    current_line_after_middle=True,
    heal_trailing_whitespace=True,
)


def write_files(root, files: dict[str, str]):
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


@pytest.fixture()
def package(tmp_path):
    return sources.directory_package(write_files(tmp_path, FILES), "shop")


@pytest.fixture(scope="module")
def cleaner():
    return decontaminate.Decontaminator.humaneval()


@pytest.fixture()
def built(package, tokenizer, cleaner):
    return data.build(
        [package], tokenizer.tokenize, examples=60, recipe=data.Recipe(prompt=SMALL), cleaner=cleaner
    )


def test_prefix_target_and_suffix_rebuild_the_file(built, package):
    texts = dict(package.files)
    assert len(built.examples) >= 30
    for example in built.examples:
        assert example.prefix + example.target + example.suffix == texts[example.path]
    assert {e.kind for e in built.examples} == set(cursors.KINDS)
    assert {e.dialect for e in built.examples} == {"python", "tsx", "ts", "js", "jsx"}
    assert any(e.block_lines > 1 for e in built.examples)


def test_prompts_are_the_servers_within_budgets(built, package, tokenizer):
    for example in built.examples:
        built_prompt = example.prompt
        assert built_prompt.prefix_tokens <= SMALL.max_prefix_tokens
        assert built_prompt.suffix_tokens <= SMALL.max_suffix_tokens
        assert built_prompt.context_tokens <= SMALL.max_context_tokens
        assert example.target_ids[-1] == fim.ENDOFTEXT
        assert len(example.target_ids) <= data.Recipe().max_target_tokens + 1
        answer = tokenizer.detokenize(example.target_ids[:-1])
        assert built_prompt.unheal(answer) == example.target
        assert tuple(server_prompt(package, example, tokenizer.tokenize).tokens) == built_prompt.tokens


def server_prompt(package, example, tokenize) -> prompt.Prompt:
    """What service.py does for this document: the workspace holds the buffer, context, then the prompt."""
    workspace = Workspace()
    for path, text in package.files:
        workspace.add(path, example.prefix + example.suffix if path == example.path else text)
    fim_input = FimInput(example.prefix, example.suffix, example.path, "shop")
    attached, _ = context.attach(fim_input, workspace, tokenize, SMALL.max_context_tokens, ContextConfig())
    return prompt.build(attached, tokenize, layout_of(example))


def layout_of(example) -> PromptConfig:
    if example.layout == "after_middle":
        return SMALL
    return dataclasses.replace(SMALL, current_line_after_middle=False, heal_trailing_whitespace=False)


def test_examples_mix_the_servers_layout_with_the_standard_one_by_the_recipes_share(built):
    layouts = Counter(e.layout for e in built.examples)
    assert set(layouts) == {"after_middle", "standard"}
    assert 0.25 <= layouts["standard"] / len(built.examples) <= 0.75
    assert all(not e.prompt.healed for e in built.examples if e.layout == "standard")


def test_a_recipe_without_standard_share_builds_only_the_servers_layout(package, tokenizer, cleaner):
    recipe = data.Recipe(prompt=SMALL, standard_layout_share=0.0)
    only = data.build([package], tokenizer.tokenize, examples=20, recipe=recipe, cleaner=cleaner)
    assert {e.layout for e in only.examples} == {"after_middle"}


def test_no_eval_package_can_be_training_data(package, tokenizer):
    eval_names = {pin.name for pin in pins.EVAL_PINS} | {pin.name for _, pin, _ in pins.REPLAY_PINS}
    assert eval_names == pins.EVAL_NAMES  # the IDE replay's repositories are eval packages too
    assert not eval_names & {pin.name for pin in pins.TRAIN_PINS}
    assert {pin.name for pin in pins.TRAIN_PINS} <= pins.TRAIN_PACKAGES
    assert not eval_names & pins.TRAIN_PACKAGES
    pins.check_split()
    for name in ("flask", "zod", "@trpc/server", "openai-agents", "@tanstack/db"):
        with pytest.raises(SourceError, match="eval package"):
            pins.train_pins([name])
    with pytest.raises(SourceError, match="not a pinned train package"):
        pins.train_pins(["left-pad"])
    leaking = dataclasses.replace(package, name="requests")
    with pytest.raises(SourceError, match="eval package"):
        data.build([leaking], tokenizer.tokenize, examples=5)


def test_decontamination_drops_the_planted_humaneval_line(built, package, cleaner):
    planted_row = FILES["shop/cart.py"].split("\n").index(PLANTED)
    assert cleaner.flagged_rows(FILES["shop/cart.py"].split("\n")) == {planted_row}
    assert cleaner.flagged_rows(["def has_close_elements(numbers: List[float], threshold: float) -> bool:"])
    assert not cleaner.flagged_rows(["        return False"])
    assert built.manifest["decontamination"]["candidates_dropped"]["shop"] > 0
    for example in built.examples:
        if example.path == "shop/cart.py":
            last_row = example.row + example.target.count("\n")
            window = range(
                example.row - decontaminate.WINDOW_LINES, last_row + decontaminate.WINDOW_LINES + 1
            )
            assert planted_row not in window


def test_two_builds_write_identical_files(built, package, tokenizer, cleaner, tmp_path):
    again = data.build(
        [package], tokenizer.tokenize, examples=60, recipe=data.Recipe(prompt=SMALL), cleaner=cleaner
    )
    data.write(built, tmp_path / "a")
    data.write(again, tmp_path / "b")
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == ["manifest.json", "train-00000.jsonl"]
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    records = data.load(tmp_path / "a")
    assert [r["prompt_ids"] for r in records] == [list(e.prompt.tokens) for e in built.examples]


def test_some_answers_copy_an_identifier_only_the_context_shows(built, package, tokenizer, cleaner):
    copies = [e for e in built.examples if e.copy_names]
    assert len(copies) >= 3
    few = data.build(
        [package], tokenizer.tokenize, examples=10, recipe=data.Recipe(prompt=SMALL), cleaner=cleaner
    )
    assert sum(1 for e in few.examples if e.copy_names) >= 3  # the share is filled first: 30% of 10
    for example in copies:
        in_file = "\n".join(example.prefix.split("\n")[example.prompt.prefix_start_line :]) + example.suffix
        shown = tokenizer.detokenize(example.prompt.tokens[: example.prompt.context_tokens])
        for name in example.copy_names:
            assert name in code_tokens(example.target)
            assert name in code_tokens(shown)
            assert name not in code_tokens(in_file)
    counts = built.manifest["counts"]["context_copy"]
    assert sum(c["yes"] for c in counts.values()) == len(copies)


def test_more_tries_per_copy_slot_fill_more_of_the_context_copy_share(package, tokenizer, cleaner):
    # in Python few answers copy from the context: six tries a slot filled 11% of a 30% share (docs/training.md)
    def copies(tries: int) -> int:
        recipe = data.Recipe(prompt=SMALL, context_copy_share=1.0, copy_tries_per_slot=tries)
        built = data.build([package], tokenizer.tokenize, examples=20, recipe=recipe, cleaner=cleaner)
        assert built.manifest["recipe"]["copy_tries_per_slot"] == tries
        return sum(1 for e in built.examples if e.copy_names)

    assert copies(1) < copies(24)


# names each file imports from another file of the package (FILES)
IMPORTED = {
    "shop/__init__.py": {"Item", "make_item", "total"},
    "shop/pricing.py": {"Item"},
    "shop/cart.py": {"Item", "make_item", "pricing"},
    "web/view.tsx": {"Cart", "formatPrice"},
    "web/badge.jsx": {"formatPrice"},
}


def test_a_cross_file_share_takes_lines_that_use_a_name_imported_from_another_file_first(
    built, package, tokenizer, cleaner
):
    def cross_file(examples) -> list:
        return [e for e in examples if e.cross_file]

    recipe = data.Recipe(prompt=SMALL, cross_file_share=1.0)
    asked = data.build([package], tokenizer.tokenize, examples=12, recipe=recipe, cleaner=cleaner)
    natural = data.build(
        [package], tokenizer.tokenize, examples=12, recipe=data.Recipe(prompt=SMALL), cleaner=cleaner
    )
    assert len(cross_file(asked.examples)) > len(cross_file(natural.examples))
    assert len(cross_file(asked.examples)) >= 8
    assert asked.manifest["recipe"]["cross_file_share"] == 1.0
    counts = asked.manifest["counts"]["cross_file"]
    assert sum(c["yes"] for c in counts.values()) == len(cross_file(asked.examples))
    for example in cross_file(asked.examples + built.examples):
        assert IMPORTED[example.path] & set(code_tokens(example.target)), example.id
    assert any(e.path == "shop/cart.py" for e in cross_file(built.examples))  # the default share: their own


def test_javascript_imports_resolve_to_the_packages_javascript_files_after_its_typescript_ones(tmp_path):
    files = {
        "web/app.js": 'import { helper } from "./lib";\nimport { other } from "./x.js";\n'
        'import both from "./both";\nimport { panel } from "./ui";\nimport React from "react";\n',
        "web/lib.js": "export function helper() {}\n",
        "web/x.js": "export const other = 1;\n",
        "web/both.ts": "export default 1;\n",
        "web/both.js": "export default 2;\n",
        "web/ui/index.jsx": "export const panel = 3;\n",
    }
    found = select_files(sources.directory_package(write_files(tmp_path, files), "web"))
    app = next(file for file in found if file.path == "web/app.js")
    names = PackageImports(found).cross_file_names(app)
    assert {alias: path for alias, (path, _) in names.items()} == {
        "helper": "web/lib.js",
        "other": "web/x.js",
        "both": "web/both.ts",
        "panel": "web/ui/index.jsx",
    }


def test_javascript_and_jsx_files_make_examples_of_their_own_language_and_dialect(built):
    by_path = {e.path: (e.language, e.dialect) for e in built.examples}
    assert by_path.get("web/stock.js") == ("javascript", "js")
    assert by_path.get("web/badge.jsx") == ("javascript", "jsx")
    assert by_path.get("web/cart.ts") == ("typescript", "ts")
    assert built.manifest["counts"]["by_language"]["javascript"] > 0


def test_the_new_train_packages_take_javascript_only_where_pinned_so():
    javascript = {pin.name for pin in pins.TRAIN_PINS if pin.suffixes == sources.JAVASCRIPT}
    assert javascript == {"three", "svelte", "preact", "yjs", "eslint"}
    assert all(not pin.suffixes for pin in pins.EVAL_PINS)  # the benchmark's files stay as they were
    assert len(pins.TRAIN_PINS) >= 6 + 10
