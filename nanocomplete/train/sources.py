"""The TRAIN split of the source corpus (/work/shared/corpus/manifest.md), pinned like the eval packages.

The split is by repository: a training package may never be an eval package. `pins_named` refuses an
eval package by name, `check_split` asserts that the tables are disjoint, and every pin must be on the
corpus manifest's train list (`TRAIN_PACKAGES`). Fetching, SHA-256 verification, the license allow-list
and reading the library files are the eval builder's (`crossfile_sources.load_package`), reused as is.

To add a package: `pip download --no-deps --no-binary :all: NAME==VERSION` or `npm pack NAME@VERSION
--ignore-scripts`, check that its source ships (for npm, `src/**/*.ts(x)`), and pin the archive's SHA-256.
"""

from __future__ import annotations

from nanocomplete.evals import crossfile_sources
from nanocomplete.evals.crossfile_sources import Pin, SourceError

# The corpus manifest's train list, by registry name (the only names a pin may have).
TRAIN_PACKAGES = frozenset(
    "werkzeug jinja2 fastapi pydantic sqlalchemy django black pytest networkx dask xarray tornado celery "
    "pygments sphinx mypy aiohttp twisted trio sympy pandas scikit-learn transformers "
    "rxjs effect @tanstack/query-core prosemirror-model @blueprintjs/core three svelte yjs preact eslint "
    "webpack".split()
)

# fmt: off
TRAIN_PINS: tuple[Pin, ...] = (
    Pin("werkzeug", "3.1.9", "pypi", ("werkzeug/",), "werkzeug-3.1.9.tar.gz",
        "55ca7c70a75689be937aa27f8ff4b018f06ff4838fc73045560bf0f5a1291060"),
    Pin("jinja2", "3.1.6", "pypi", ("jinja2/",), "jinja2-3.1.6.tar.gz",
        "0137fb05990d35f1275a587e9aee6d56da821fc83491a0fb838183be43f66d6d"),
    Pin("black", "26.10.1", "pypi", ("black/", "blackd/"), "black-26.10.1.tar.gz",
        "5f9f83beae62437e060dafd53d7f1fc327e3d3494f74d72ee5c2b73eb90fc4e7"),
    Pin("@tanstack/query-core", "5.108.4", "npm", ("src/",), "tanstack-query-core-5.108.4.tgz",
        "7660b37f747ce33f1e5456299009dbe217a08514f402c13e633ae95727e361e0"),
    Pin("prosemirror-model", "1.25.13", "npm", ("src/",), "prosemirror-model-1.25.13.tgz",
        "d7cb62718cc012c2eeda679512d3f409220ab15a782fe8a61bd08c010e015a0f"),
    Pin("rxjs", "7.8.2", "npm", ("src/",), "rxjs-7.8.2.tgz",
        "2312f8ffd9726ffd7bd53ea12c5f13663d09a3dc3326f448c70b88f5ef6fac82"),
)
# fmt: on

EVAL_NAMES = frozenset(pin.name for pin in crossfile_sources.PINS)


def check_split(pins: tuple[Pin, ...] = TRAIN_PINS) -> None:
    """Raise SourceError unless every pin is a train package and none is an eval package."""
    leaked = sorted(pin.name for pin in pins if pin.name in EVAL_NAMES)
    if leaked:
        raise SourceError(f"eval packages cannot be training data: {', '.join(leaked)}")
    unlisted = sorted(pin.name for pin in pins if pin.name not in TRAIN_PACKAGES)
    if unlisted:
        raise SourceError(f"not on the corpus manifest's train list: {', '.join(unlisted)}")


def pins_named(names: list[str] | None) -> tuple[Pin, ...]:
    """The train pins for `names` (all when None), in table order. An eval package or an unknown name is
    an error."""
    check_split()
    if not names:
        return TRAIN_PINS
    leaked = sorted(set(names) & EVAL_NAMES)
    if leaked:
        raise SourceError(f"eval packages cannot be training data: {', '.join(leaked)}")
    unknown = sorted(set(names) - {pin.name for pin in TRAIN_PINS})
    if unknown:
        known = ", ".join(pin.name for pin in TRAIN_PINS)
        raise SourceError(f"not a pinned train package: {', '.join(unknown)} (pinned: {known})")
    return tuple(pin for pin in TRAIN_PINS if pin.name in names)
