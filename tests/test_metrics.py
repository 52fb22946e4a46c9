"""Metrics against hand-computed values."""

import pytest

from nanocomplete.evals import metrics


@pytest.mark.parametrize(
    ("generation", "expected"),
    [
        ("    return x\n    y = 2", "return x"),
        ("\n    return x\n", "return x"),
        ("return x", "return x"),
        ("", ""),
        ("\n\n", ""),
    ],
)
def test_qwen_first_line_takes_the_line_after_a_leading_newline(generation, expected):
    assert metrics.qwen_first_line(generation) == expected


def test_first_code_line_skips_blank_and_comment_lines():
    assert metrics.first_code_line("\n# note\n  x = 1\n", "python") == "x = 1"
    assert metrics.first_code_line("// todo\n/* a */\nconst a = 1;", "typescript") == "const a = 1;"
    assert metrics.first_code_line("# only a comment", "python") == ""


def test_exact_matches():
    assert metrics.exact_match("  a = 1 ", "a = 1") == 1.0
    assert metrics.exact_match("a = 1", "a =  1") == 0.0
    assert metrics.token_exact_match("a =  1", " a = 1") == 1.0
    assert metrics.token_exact_match("a=1", "a = 1") == 0.0


def test_edit_similarity_hand_computed():
    # Indel distance between "kitten" and "sitting" is 5; ratio = 1 - 5 / 13
    assert metrics.edit_similarity("kitten", "sitting") == pytest.approx(1 - 5 / 13)
    assert metrics.edit_similarity("abc", "abc") == 1.0
    assert metrics.edit_similarity("", "abc") == 0.0


def test_identifier_match_and_f1_hand_computed():
    assert metrics.identifiers("self.get(url, params=None)") == ["self", "get", "url", "params", "None"]
    assert metrics.identifier_exact_match("foo(bar)", "foo( bar )") == 1.0
    # predicted {foo, baz}, expected {foo, bar}: precision 1/2, recall 1/2, F1 1/2
    assert metrics.identifier_f1("foo(baz)", "foo(bar)") == pytest.approx(0.5)
    assert metrics.identifier_f1("x", "y") == 0.0


def test_wilson_interval_hand_computed():
    low, high = metrics.wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert metrics.wilson_interval(0, 0) == (0.0, 1.0)


def test_mean_with_interval_uses_wilson_for_binary_and_bootstrap_otherwise():
    binary = metrics.mean_with_interval([1.0] * 5 + [0.0] * 5)
    assert binary["mean"] == 0.5 and round(binary["low"], 4) == 0.2366
    graded = metrics.mean_with_interval([0.2, 0.4, 0.6, 0.8])
    assert graded["low"] <= 0.5 <= graded["high"] and graded["n"] == 4


def test_paired_difference_hand_computed():
    result = metrics.paired_difference([1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 1.0, 0.0])
    assert result["difference"] == 0.25 and result["b_wins"] == 1 and result["a_wins"] == 0
    assert result["low"] <= 0.25 <= result["high"]


def test_p95_is_the_nearest_rank_value():
    assert metrics.p95(list(range(100, 0, -1))) == 96  # index 95 of 1..100
    assert metrics.p95([3.0, 1.0, 2.0]) == 3.0 and metrics.p95([7.0]) == 7.0
