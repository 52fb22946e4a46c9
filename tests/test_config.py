"""Settings: one name per setting, documented in one generated table."""

import dataclasses
import time
from pathlib import Path

import pytest

from nanocomplete import config
from nanocomplete.cli import make_parser
from nanocomplete.config import settings_from_args
from nanocomplete.errors import NanocompleteError

DOCS = Path(__file__).parent.parent / "docs"


def test_docs_settings_table_is_generated_from_the_dataclasses():
    assert (DOCS / "settings.md").read_text() == config.settings_table(), (
        "run `nanocomplete settings > docs/settings.md`"
    )


def test_every_setting_is_a_flag_of_the_same_name_on_the_commands_that_use_it():
    parser = make_parser()
    serve = parser.parse_args(["serve"])
    complete = parser.parse_args(["complete", "f.py", "--line", "1", "--col", "1"])
    for group in config.SETTING_GROUPS:
        for item in dataclasses.fields(group):
            assert hasattr(serve, item.name), item.name
            assert hasattr(complete, item.name) or group in (config.ServerConfig, config.TierConfig), (
                item.name
            )


def test_setting_names_are_unique_across_groups():
    names = [item.name for group in config.SETTING_GROUPS for item in dataclasses.fields(group)]
    assert len(names) == len(set(names))


def test_an_unknown_context_source_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="unknown context source 'imports'; known: header, import"):
        config.ContextConfig(context_sources="header,imports")
    args = make_parser().parse_args(["serve", "--context-sources", "similar,bogus"])
    with pytest.raises(NanocompleteError, match="'bogus'"):
        settings_from_args(args, "context")


@pytest.mark.parametrize("group", ["prompt", "generation", "postprocess"])
def test_serve_help_and_the_settings_table_show_the_defaults_serve_uses(group, capsys):
    served = config.SERVING_BASES[group]
    changed = [f for f in dataclasses.fields(served) if getattr(served, f.name) != f.default]
    assert changed, "the served settings differ from the dataclass defaults somewhere"
    with pytest.raises(SystemExit):
        make_parser().parse_args(["serve", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    table = config.settings_table()
    for item in changed:
        value = getattr(served, item.name)
        assert f"{item.metadata['help']} (default: {value})" in help_text
        assert f"| `{item.name}` | `{value}` | `{item.default}` |" in table


def test_the_servers_disabled_files_are_dashs_defaults():
    import json
    from pathlib import Path

    from nanocomplete.config import DISABLED_FILES, IndexConfig

    manifest = Path(__file__).parents[1] / "editors" / "vscode" / "package.json"
    dash = json.loads(manifest.read_text())["contributes"]["configuration"]["properties"]
    assert tuple(dash["nanocomplete.disabledFiles"]["default"]) == DISABLED_FILES
    assert IndexConfig().disabled_globs == DISABLED_FILES
    assert IndexConfig(disabled_files="**/*.{pem,key},**/.env").disabled_globs == (
        "**/*.{pem,key}",
        "**/.env",
    )


def test_dashs_generation_settings_are_the_requests_fields_of_the_same_name_and_bounds():
    import json
    from pathlib import Path

    from nanocomplete import api

    manifest = Path(__file__).parents[1] / "editors" / "vscode" / "package.json"
    dash = json.loads(manifest.read_text())["contributes"]["configuration"]["properties"]
    fields = api.CompleteRequest.model_json_schema()["properties"]
    for name in ("max_tokens", "max_generation_ms"):
        setting = dash[
            "nanocomplete." + "".join(w.capitalize() if i else w for i, w in enumerate(name.split("_")))
        ]
        (bounds,) = [kind for kind in fields[name]["anyOf"] if kind["type"] == "integer"]
        assert (setting["minimum"], setting["maximum"]) == (bounds["minimum"], bounds["maximum"]), name
        assert setting["default"] is None and f"`{name}`" in setting["markdownDescription"]
        assert f"`--{name.replace('_', '-')}`" in setting["markdownDescription"]  # empty: the server's


def test_disabled_files_take_vs_codes_alternatives_ignore_case_and_refuse_what_they_cannot_read():
    import pytest

    from nanocomplete.config import DISABLED_FILES, IndexConfig, disabled_files_matcher

    defaults = disabled_files_matcher(DISABLED_FILES)
    assert all(map(defaults.matches, ["a/ClientSecret.py", ".ENV", "web/awsCredentials.ts", "secrets/db.py"]))
    assert not defaults.matches("app/keys.py")
    editor = disabled_files_matcher(("**/*.{pem,key}", "**/config/*.{prod,staging}.ts"))
    assert editor.matches("certs/site.pem") and editor.matches("config/app.staging.ts")
    assert not editor.matches("config/app.dev.ts")
    for unreadable in ("[z-a]", "{a,b}{c,d}{e,f}{g,h}{i,j}{k,l}{m,n}"):  # 128 alternatives
        with pytest.raises(ValueError):
            IndexConfig(disabled_files=unreadable)


def test_a_glob_built_to_backtrack_matches_in_linear_time():
    # a hostile client's glob: Python's backtracking `re` took 29 s on it, holding the GIL
    matcher = config.DisabledFiles(("*a*a*a*a*a*a*a*a*a*a*a*ab",))
    started = time.monotonic()
    assert not matcher.matches("tmp/" + "a" * 2_000)
    assert matcher.matches("tmp/" + "a" * 2_000 + "b")
    assert time.monotonic() - started < 0.5
