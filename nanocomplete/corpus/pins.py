"""The corpus's two disjoint splits, pinned: EVAL packages (the cross-file benchmark) and TRAIN packages
(the training data), each with its archive's SHA-256; licenses are checked when a package is read
(`sources.load_package`). The split is by repository (/work/shared/corpus/manifest.md): a training package
may never be an eval package. `train_pins` refuses an eval package by name, `check_split` asserts that the
tables are disjoint, and every train pin must be on the corpus manifest's train list (`TRAIN_PACKAGES`).

To add a package: `pip download --no-deps --no-binary :all: NAME==VERSION` or `npm pack NAME@VERSION
--ignore-scripts`, check that its source ships (for npm, `src/**/*.ts(x)`), and pin the archive's SHA-256.
"""

from __future__ import annotations

from nanocomplete.corpus.sources import JAVASCRIPT, Pin, SourceError

# fmt: off
EVAL_PINS: tuple[Pin, ...] = (
    Pin("requests", "2.34.2", "pypi", ("requests/",), "requests-2.34.2.tar.gz",
        "f288924cae4e29463698d6d60bc6a4da69c89185ad1e0bcc4104f584e960b9ed"),
    Pin("flask", "3.1.3", "pypi", ("flask/",), "flask-3.1.3.tar.gz",
        "0ef0e52b8a9cd932855379197dd8f94047b359ca0a78695144304cb45f87c9eb"),
    Pin("httpx", "0.28.1", "pypi", ("httpx/",), "httpx-0.28.1.tar.gz",
        "75e98c5f16b0f35b567856f597f06ff2270a374470a5c2392242528e3e3e42fc"),
    Pin("click", "8.5.1", "pypi", ("click/",), "click-8.5.1.tar.gz",
        "9bbfada76703fd1d784b83eea012e3e8c6a001a876543ef104fa56aaaeb072b4"),
    Pin("attrs", "26.1.0", "pypi", ("attr/", "attrs/"), "attrs-26.1.0.tar.gz",
        "d03ceb89cb322a8fd706d4fb91940737b6642aa36998fe130a9bc96c985eff32"),
    Pin("rich", "15.0.0", "pypi", ("rich/",), "rich-15.0.0.tar.gz",
        "edd07a4824c6b40189fb7ac9bc4c52536e9780fbbfbddf6f1e2502c31b068c36"),
    Pin("marshmallow", "4.4.0", "pypi", ("marshmallow/",), "marshmallow-4.4.0.tar.gz",
        "9e6ffa8511012ca89732324c1c253efd7b4d35632dcbdf80aa793fe01804af3e"),
    Pin("typer", "0.29.2", "pypi", ("typer/",), "typer-0.29.2.tar.gz",
        "b1998dc5f2c3dedafa1517a9521fa944cc4dc1fadcea085d81a3b10ebcaeb075"),
    Pin("starlette", "1.10.0", "pypi", ("starlette/",), "starlette-1.10.0.tar.gz",
        "b8399098d4c1e3522734f7235dc79b1fc967f96cf139c81e0fa30479e0685f9b"),
    Pin("zod", "4.6.7", "npm", ("src/v3/", "src/v4/"), "zod-4.6.7.tgz",
        "84efd155bed93270286e793fc951be270b536cbd5b0eeb111f0fa3967201d698"),
    Pin("@trpc/server", "11.25.2", "npm", ("src/",), "trpc-server-11.25.2.tgz",
        "43d5562bf3d3ca2ba55bb37a91020c19d90ddaa3359a1eb55e5fefc62c6cb29a"),
    Pin("immer", "11.2.10", "npm", ("src/",), "immer-11.2.10.tgz",
        "f8184e2750790534d2faf01137b39133586ef2c14fa504ee82409568dbb0b32d"),
    Pin("mobx", "7.1.3", "npm", ("src/",), "mobx-7.1.3.tgz",
        "bbd07665d8851ee01df2fd4e12db106c60fd878839610dd8b899548969625616"),
    Pin("@blueprintjs/select", "6.3.6", "npm", ("src/",), "blueprintjs-select-6.3.6.tgz",
        "c0c91433570b895aa359ef292a9eaa8b79d367b50e2f50eac6aaa79ee7ac7c08"),
    Pin("@blueprintjs/datetime", "6.2.6", "npm", ("src/",), "blueprintjs-datetime-6.2.6.tgz",
        "ae21c8b61dc5278059e6f8dc5810f8d1c9c3b2afd9756dfe951b3f2dba1eab65"),
)
# fmt: on


def eval_pins(names: list[str] | None) -> tuple[Pin, ...]:
    """The eval pins for `names` (all when None), in table order; unknown names are an error."""
    if not names:
        return EVAL_PINS
    unknown = sorted(set(names) - {pin.name for pin in EVAL_PINS})
    if unknown:
        raise SourceError(
            f"not an eval package: {', '.join(unknown)} (known: {', '.join(p.name for p in EVAL_PINS)})"
        )
    return tuple(pin for pin in EVAL_PINS if pin.name in names)


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
    # added for training v2 (#20): more Python, React TSX, and plain JavaScript
    Pin("fastapi", "0.165.0", "pypi", ("fastapi/",), "fastapi-0.165.0.tar.gz",
        "dd94d4128319c1e1d50535ab023ab698f850a4d2822f0e181747b46f4ff3c0ab"),
    Pin("pydantic", "2.14.4", "pypi", ("pydantic/",), "pydantic-2.14.4.tar.gz",
        "7c19f1d46f8accf55a4617a6116e1ade64840870f397b846a2c53fb9019414ba"),
    Pin("pytest", "9.2.0", "pypi", ("_pytest/", "pytest/"), "pytest-9.2.0.tar.gz",
        "97c4f3b1f3c7414aa36465e09b8220f1d03627993bd51b1282e193753c80557b"),
    Pin("tornado", "6.6.1", "pypi", ("tornado/",), "tornado-6.6.1.tar.gz",
        "28e6311402af59c8b02e3fa0f5e7d8eb465b25081381803b127d97e6a4395d5a"),
    Pin("trio", "0.35.0", "pypi", ("trio/",), "trio-0.35.0.tar.gz",
        "7efb295c78a0ecd1235c5759e620b5da564ca80d2efcb0055423588547248b96"),
    Pin("pygments", "2.21.0", "pypi", ("pygments/",), "pygments-2.21.0.tar.gz",
        "610ca751c9bc2492b38eb9a38a7fbc93edbbb2d7182edaf34e66ae493dee5c8c"),
    Pin("@blueprintjs/core", "6.20.0", "npm", ("src/",), "blueprintjs-core-6.20.0.tgz",
        "780c2f73b4ade1e0fa1c3f9012ee4c69aa10a5a70a577d4f314f3519d4606d5e"),
    Pin("three", "0.187.0", "npm", ("src/",), "three-0.187.0.tgz",
        "ff540832ded0cfe919764d24a3d88f3e2a05f23303f876423e4f893841e90728", JAVASCRIPT),
    Pin("svelte", "5.57.3", "npm", ("src/",), "svelte-5.57.3.tgz",
        "afda776761670addcd6f4345c1b4b0665c8dd11b82961cbfee9696d5d9f4546a", JAVASCRIPT),
    Pin("preact", "11.2.0", "npm", ("src/", "compat/src/", "hooks/src/", "debug/src/", "jsx-runtime/src/"),
        "preact-11.2.0.tgz", "3c4456766bd32b6b534d52bf4e9c2a29b33e7eedf6e96ed479300ba1a7888ebf", JAVASCRIPT),
    Pin("yjs", "13.6.33", "npm", ("src/",), "yjs-13.6.33.tgz",
        "cfd28813389c4204a6d1ae3db7847c8b47195523c9ef8e31a8a4b69a2b499f34", JAVASCRIPT),
    Pin("eslint", "10.15.0", "npm", ("lib/",), "eslint-10.15.0.tgz",
        "8cb5e45fb5b1174e4216d546b69d37c0ac5cb5d9ba8342946a04af1f59605edb", JAVASCRIPT),
)
# fmt: on

# The IDE replay's repositories (eval only): code first released after the Qwen2.5-Coder training cut-off
# (Sep 2024), so that no model here can have memorised it. Judged by the first upload on PyPI, and for npm
# (whose publish times are unreliable on this mirror) by the commit that added the package to its GitHub
# repository, with the LICENSE's copyright year; see docs/performance.md. (language, pin, the file
# suffixes the typist writes in: TSX for the React packages.)
# fmt: off
REPLAY_PINS: tuple[tuple[str, Pin, tuple[str, ...]], ...] = (
    ("python", Pin("openai-agents", "0.24.0", "pypi", ("agents/",), "openai_agents-0.24.0.tar.gz",
                   "4b4b285f4fed81fdf1b4ac426a9101658d9cd29b4fb1aaeee18f639b77e704e3"), (".py",)),
    ("python", Pin("strands-agents", "1.62.0", "pypi", ("strands/",), "strands_agents-1.62.0.tar.gz",
                   "8732c87f9c1ceb6ef4c5c4bd6d96b4cdf1bbfde095f1537ec2ac6fddb8d5a066"), (".py",)),
    ("python", Pin("any-llm-sdk", "1.40.2", "pypi", ("any_llm/",), "any_llm_sdk-1.40.2.tar.gz",
                   "bb3de5fb787279a44d1ba9d1492f05a0ed771f7e02032da6f621485383e66e70"), (".py",)),
    ("typescript", Pin("@tanstack/db", "0.15.2", "npm", ("src/",), "tanstack-db-0.15.2.tgz",
                       "18682e004ce628f78fd144409e8780c9cca774eaac141f953d1a146a573738b9"), (".ts",)),
    ("typescript", Pin("@tanstack/ai-react", "0.27.3", "npm", ("src/",), "tanstack-ai-react-0.27.3.tgz",
                       "12529ec54999dbad7a8138f0ba8df134137a44a2c376720d1feda6254eecbc4d"), (".tsx",)),
    ("typescript", Pin("@assistant-ui/react-devtools", "1.2.16", "npm", ("src/",),
                       "assistant-ui-react-devtools-1.2.16.tgz",
                       "c34d2d210d801692929ba2e8b8da4df1f6c932c52eb32733db3d39592b827baf"), (".tsx",)),
)
# fmt: on

EVAL_NAMES = frozenset(pin.name for pin in EVAL_PINS) | frozenset(pin.name for _, pin, _ in REPLAY_PINS)


def check_split(pins: tuple[Pin, ...] = TRAIN_PINS) -> None:
    """Raise SourceError unless every pin is a train package and none is an eval package."""
    leaked = sorted(pin.name for pin in pins if pin.name in EVAL_NAMES)
    if leaked:
        raise SourceError(f"eval packages cannot be training data: {', '.join(leaked)}")
    unlisted = sorted(pin.name for pin in pins if pin.name not in TRAIN_PACKAGES)
    if unlisted:
        raise SourceError(f"not on the corpus manifest's train list: {', '.join(unlisted)}")


def train_pins(names: list[str] | None) -> tuple[Pin, ...]:
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
