"""Evaluation tasks: loaders load, known inputs score as they must, the scoring process has no model code."""

import subprocess
import sys

import pytest

from nanocomplete.evals import score
from nanocomplete.evals.score import score_fim_exec, score_l2r_exec, score_next_line
from nanocomplete.evals.tasks import Example, get_task, select, with_cursor
from nanocomplete.postprocess import covered_closers


@pytest.mark.parametrize(
    ("name", "count"),
    [
        ("humaneval-fim-single", 1033),
        ("humaneval-fim-multi", 5815),
        ("humaneval", 164),
        ("humaneval-x-js-fim-single", 1682),
        ("humaneval-x-js-fim-block-end", 414),
    ],
)
def test_humaneval_loaders_load_every_task(name, count):
    examples = get_task(name).load()
    assert len(examples) == count
    assert len({e.id for e in examples}) == count
    assert all(e.reference.strip() and "test" in e.meta for e in examples)


def test_select_is_a_seeded_sample_in_original_order():
    examples = get_task("humaneval-fim-single").load()
    first, again = select(examples, 50, seed=3), select(examples, 50, seed=3)
    assert first == again and len(first) == 50
    positions = [examples.index(e) for e in first]
    assert positions == sorted(positions)
    assert select(examples, 50, seed=4) != first


def test_leaving_out_a_test_sample_gives_examples_it_never_saw():
    examples = get_task("humaneval-fim-single").load()
    test_set = {e.id for e in select(examples, 300, seed=0)}
    held_out = select(examples, None, seed=0, leave_out=300)
    assert len(held_out) == len(examples) - 300 and not test_set & {e.id for e in held_out}
    sample = select(examples, 100, seed=0, leave_out=300)
    assert len(sample) == 100 and not test_set & {e.id for e in sample}
    assert sample == select(examples, 100, seed=0, leave_out=300)


@pytest.mark.parametrize("name", ["humaneval-fim-single", "humaneval-x-js-fim-single", "humaneval-fim-multi"])
def test_canonical_infills_pass_and_match_exactly(name):
    for example in select(get_task(name).load(), 25, seed=0):
        scores = score_fim_exec(
            example, {"completion": example.reference.rstrip("\n"), "raw": example.reference}
        )
        assert scores == {"pass": 1.0, "em": 1.0, "es": 1.0, "strict_em": 1.0}, example.id


def test_canonical_bodies_pass_and_empty_bodies_fail():
    for example in select(get_task("humaneval").load(), 40, seed=0):
        assert score_l2r_exec(example, {"completion": example.reference})["pass"] == 1.0, example.id
        assert score_l2r_exec(example, {"completion": ""})["pass"] == 0.0, example.id


def test_empty_infills_score_zero_except_where_the_line_is_redundant():
    examples = select(get_task("humaneval-fim-single").load(), 60, seed=0)
    scores = [score_fim_exec(e, {"completion": "", "raw": ""}) for e in examples]
    assert all(s["em"] == 0.0 and s["strict_em"] == 0.0 for s in scores)
    assert sum(s["pass"] for s in scores) <= 2  # a few canonical lines (e.g. a no-op) are not needed


def test_javascript_assertions_really_fail():
    example = get_task("humaneval-x-js-fim-single").load()[0]
    assert score_fim_exec(example, {"completion": "  return 42;", "raw": ""})["pass"] == 0.0
    assert "console.assert" in example.meta["test"] and "throw" in score.JS_ASSERT_SHIM


def test_next_line_scores_hand_computed():
    example = Example("x", "", "", "return self.get(url,  params)", "python")
    sample = {"completion": "# fetch\n    return self.get(url, params)\n", "raw": "return self.post(url)"}
    scores = score_next_line(example, sample)
    assert scores["em"] == 1.0 and scores["es"] < 1.0 and scores["id_em"] == 1.0 and scores["id_f1"] == 1.0
    assert scores["em_raw"] == 0.0 and scores["shown"] == 1.0
    empty = score_next_line(example, {"completion": "", "raw": ""})
    assert (empty["em"], empty["es"], empty["id_f1"], empty["shown"]) == (0.0, 0.0, 0.0, 0.0)


def test_a_typed_cursor_moves_the_first_word_into_the_prefix():
    example = Example("x", "def f(a):\n", "\nprint(1)\n", "    return a + 1\n", "python")
    typed = with_cursor(example, "typed")
    assert typed.prefix == "def f(a):\n    return " and typed.reference == "a + 1\n"
    assert typed.prefix + typed.reference == example.prefix + example.reference
    single_word = Example("y", "", "", "    pass\n", "python")
    assert with_cursor(single_word, "typed") == single_word


def test_an_own_line_cursor_is_the_typed_one_with_the_line_break_after_it_in_the_suffix():
    example = Example("x", "def f(a):\n", "print(1)\n", "    return a + 1\n", "python")
    own = with_cursor(example, "own-line")
    assert (
        own.prefix == "def f(a):\n    return " and own.reference == "a + 1" and own.suffix == "\nprint(1)\n"
    )
    single_word = with_cursor(Example("y", "if x:\n", "", "    pass\n", "python"), "own-line")
    assert (single_word.prefix, single_word.reference, single_word.suffix) == ("if x:\n    ", "pass", "\n")


def test_canonical_infills_pass_at_a_block_end_on_a_line_of_their_own():
    examples = [
        with_cursor(e, "own-line") for e in select(get_task("humaneval-x-js-fim-block-end").load(), 20, 0)
    ]
    for example in examples:
        assert example.suffix.startswith("\n") and example.suffix.split("\n")[1].strip(" })];,") == ""
        assert score_fim_exec(example, {"completion": example.reference, "raw": ""})["pass"] == 1.0


def test_an_auto_closed_cursor_types_up_to_the_first_opener_with_its_closers_right_of_the_cursor():
    example = Example("x", "def f(a):\n", "print(1)\n", "    return max(a[0], 1)\n", "python")
    closed = with_cursor(example, "auto-closed")
    assert closed.prefix == "def f(a):\n    return max(" and closed.suffix == ")\nprint(1)\n"
    assert closed.reference == "a[0], 1)" and closed.meta["auto_closed"] == ")"
    no_opener = Example("y", "", "", "    x = y\n", "python")
    only_closers_after = Example("z", "", "", "    reset()\n", "python")
    assert with_cursor(no_opener, "auto-closed") == no_opener
    assert with_cursor(only_closers_after, "auto-closed") == only_closers_after


def test_mid_line_cursors_type_up_to_the_first_member_dot_or_into_the_first_long_word():
    example = Example("x", "def f(a):\n", "print(1)\n", "    return ' '.join(a.strip())\n", "python")
    dot, word = with_cursor(example, "after-dot"), with_cursor(example, "mid-word")
    assert dot.prefix == "def f(a):\n    return ' '.join(a." and dot.reference == "strip())\n"
    assert word.prefix == "def f(a):\n    re" and word.reference == "turn ' '.join(a.strip())\n"
    short = Example("y", "", "", "    x = y.z + 1.5\n", "python")
    assert (
        with_cursor(short, "mid-word") == short and with_cursor(short, "after-dot").reference == "z + 1.5\n"
    )
    assert with_cursor(Example("z", "", "", "    x = 1.5\n", "python"), "after-dot").prefix == ""


def test_canonical_infills_pass_at_an_auto_closed_cursor_whether_they_cover_the_closers_or_not():
    examples = [with_cursor(e, "auto-closed") for e in select(get_task("humaneval-fim-single").load(), 40, 0)]
    closed = [e for e in examples if "auto_closed" in e.meta]
    assert len(closed) >= 15
    for example in closed:
        whole = example.reference  # types the closers again: the completion covers them
        before = whole[: len(whole) - len(example.meta["auto_closed"])]  # stops before them: they stay
        stops_before = whole.endswith(example.meta["auto_closed"]) and not covered_closers(
            before, example.meta["auto_closed"]
        )
        for completion in (whole, before) if stops_before else (whole,):
            scores = score_fim_exec(example, {"completion": completion, "raw": ""})
            assert scores == {"pass": 1.0, "em": 1.0, "es": 1.0, "strict_em": 1.0}, (example.id, completion)
        assert score_fim_exec(example, {"completion": "", "raw": ""})["em"] == 0.0


def test_the_scoring_process_imports_no_model_code():
    check = (
        "import sys, nanocomplete.evals.score\n"
        "assert not any(m == 'llama_cpp' or m.startswith('llama_cpp.') for m in sys.modules), 'llama_cpp'\n"
        "assert 'nanocomplete.engine' not in sys.modules and 'nanocomplete.completion' not in sys.modules\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert result.stdout.strip() == "ok", result.stderr
