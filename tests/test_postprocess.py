"""Post-processing rules, table-driven: (prefix, suffix, raw completion) → what the user sees."""

import pytest

from nanocomplete import postprocess
from nanocomplete.config import PostprocessConfig
from nanocomplete.postprocess import CursorText, covered_closers, cut_index, is_finished, process

CASES = [
    # (id, prefix, suffix, raw, expected)
    ("mid-line keeps the first line only", "x = foo(", ")\n", "a, b)\nprint(x)", "a, b"),
    ("mid-line without overlap keeps the line", "x = [", "]\n", "1, 2, 3", "1, 2, 3"),
    ("closing bracket the document already has is trimmed", "print(", ")\n", '"hi")', '"hi"'),
    ("a needed closing bracket is not trimmed", "print(len(", ")\n", "x)", "x)"),
    ("output equal to the rest of the line is dropped", "x = ", "compute()\n", "compute()", ""),
    (
        "end of line allows several lines in the block",
        "def f(x):\n",
        "\n",
        "    y = x + 1\n    return y\n",
        "    y = x + 1\n    return y",
    ),
    (
        "stops when indentation drops below the block",
        "    if ok:\n        a = 1\n        ",
        "\n",
        "b = 2\n    else:\n        c = 3",
        "b = 2",
    ),
    (
        "a block opened on the line ends at its own indent",
        "def f(x):",
        "\n",
        "\n    return x\ndef g():\n    pass",
        "\n    return x",
    ),
    (
        "stops before repeating the next line",
        "items = []\n",
        "\nreturn items\n",
        "items.append(1)\nreturn items\n",
        "items.append(1)",
    ),
    ("drops a first line that repeats the next line", "def f():\n    ", "\n    return 1\n", "return 1", ""),
    (
        "drops a continuation that repeats the next line",
        "for (",
        "\n\tlet node = first;\n",
        "let node = first;\n\tnode",
        "",
    ),
    ("a blank line after code ends it", "x = 1\n", "\n", "y = 2\n\ndef g():\n    pass", "y = 2"),
    (
        "a leading newline is not a blank line after code",
        "def f():",
        "\n",
        "\n    return 1\n",
        "\n    return 1",
    ),
    ("whitespace only is dropped", "x = 1\n", "\n", "   \n\n  ", ""),
    ("too short is dropped", "x = 1\n", "\n", "y", ""),
    ("trailing blank lines and spaces are stripped", "def f():\n", "\n", "    pass   \n\n\n", "    pass"),
    (
        "at most max_lines lines",
        "",
        "",
        "a()\nb()\nc()\nd()\ne()\nf()\ng()\nh()",
        "a()\nb()\nc()\nd()\ne()\nf()",
    ),
    (
        "a finished line written again is cut (the model looping)",
        'def launch(count):\n    print("🚀🛰 launched", cou',
        "\n",
        'nt)\n    print("🚀🛰 launched", count)\n    print("🚀🛰 launched", count)',
        "nt)",
    ),
    (
        "identical lines further down are kept (a matrix's rows)",
        "IDENTITY_ROWS = [\n",
        "\n",
        "    [0, 0],\n    [0, 0],\n",
        "    [0, 0],\n    [0, 0],",
    ),
    (
        "the same text at another indentation is not a repeat",
        "rows = [\n",
        "\n",
        "    [1, 2],\n        [1, 2],\n",
        "    [1, 2],\n        [1, 2],",
    ),
    (
        "JS block closes at the brace's indent",
        "function f() {\n  ",
        "\n",
        "return 1;\n}\nfunction g() {",
        "return 1;",
    ),
]


@pytest.mark.parametrize(
    ("prefix", "suffix", "raw", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_rules(prefix, suffix, raw, expected):
    assert process(raw, CursorText.around(prefix, suffix)).text == expected


BEFORE_LINE_TEXT = [
    # (id, prefix, suffix, raw, expected): the cursor has only indentation left of it, code right of it
    (
        "column 0: whole lines, then a line break so the line stays on its own",
        "def fib(n):\n",
        '# show a greeting\nprint("hi")\n',
        "    if n <= 1:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
        "    if n <= 1:\n        return n\n",  # the block rule of an end of line: it ends at its own indent
    ),
    (
        "column 0: a line the model joins to the existing text is ended before it",
        "def fib(n):\n",
        "print(fib(10))\n",
        "    if n <= 1:",
        "    if n <= 1:\n",
    ),
    (
        "after the indentation: the existing line keeps it",
        "def f(x):\n    ",
        "return x\n",
        "y = x * 2\n    x = y",
        "y = x * 2\n    x = y\n    ",
    ),
    (
        "retyping the existing line is dropped",
        "function f() {\n  ",
        "return 1;\n}\n",
        "return 1;",
        "",
    ),
    (
        "tab indentation is kept",
        "if x:\n\t",
        "pass\n",
        "y = 1",
        "y = 1\n\t",
    ),
]


@pytest.mark.parametrize(
    ("prefix", "suffix", "raw", "expected"),
    [c[1:] for c in BEFORE_LINE_TEXT],
    ids=[c[0] for c in BEFORE_LINE_TEXT],
)
def test_before_a_lines_text_the_completion_inserts_whole_lines_above_it(prefix, suffix, raw, expected):
    cursor = CursorText.around(prefix, suffix)
    assert cursor.before_line_text and not cursor.mid_line
    assert process(raw, cursor).text == expected


def test_blank_lines_can_be_allowed_inside_a_completion():
    config = PostprocessConfig(stop_at_blank_line=False)
    raw = "    a = 1\n\n    return a\nprint(1)"
    assert process(raw, CursorText.around("def f():\n", "\n"), config).text == "    a = 1\n\n    return a"


def test_the_result_is_always_a_prefix_of_the_raw_completion():
    for _, prefix, suffix, raw, _ in CASES:
        assert raw.startswith(process(raw, CursorText.around(prefix, suffix)).text)


def test_confidence_covers_only_the_tokens_kept():
    # tokens: "a, b" | ")" | "\nprint" with end offsets 4, 5, 11
    result = process(
        "a, b)\nprint", CursorText.around("foo(", ")\n"), PostprocessConfig(), (4, 5, 11), (-0.5, -1.5, -9.0)
    )
    assert result.text == "a, b"
    assert result.tokens_kept == 1
    assert result.mean_logprob == -0.5 and result.min_logprob == -0.5


def test_confidence_is_mean_and_minimum_log_probability():
    result = process(
        "abc = 1", CursorText.around("", "\n"), PostprocessConfig(), (3, 5, 7), (-0.1, -0.2, -0.6)
    )
    assert result.tokens_kept == 3
    assert result.mean_logprob == pytest.approx(-0.3)
    assert result.min_logprob == -0.6


def test_an_empty_result_has_no_confidence():
    result = process("  ", CursorText.around("x = ", "\n"), PostprocessConfig(), (2,), (-0.1,))
    assert (result.text, result.mean_logprob, result.min_logprob) == ("", None, None)


@pytest.mark.parametrize(
    ("prefix", "suffix", "raw", "finished"),
    [
        ("x = foo(", ")\n", "a, b", False),
        ("x = foo(", ")\n", "a, b)\n", True),
        ("def f():\n", "\n", "    a = 1\n", False),
        ("def f():\n", "\n", "    a = 1\nprint(", True),
        ("def f():\n", "\n", "    a = 1\n    b", False),
    ],
)
def test_generation_can_stop_once_the_rules_have_cut(prefix, suffix, raw, finished):
    assert is_finished(raw, CursorText.around(prefix, suffix), PostprocessConfig()) is finished


def test_cut_index_is_the_full_length_when_nothing_is_cut():
    raw = "    a = 1\n    b = 2"
    assert cut_index(raw, CursorText.around("def f():\n", "\n"), PostprocessConfig()) == len(raw)


def test_a_completion_is_cut_before_its_first_very_unsure_token():
    config = PostprocessConfig(min_token_logprob=-3.0)
    result = process(
        "foo(bar, baz)", CursorText.around("x = ", "\n"), config, (3, 7, 12, 13), (-0.1, -0.2, -5.0, -0.1)
    )
    assert result.text == "foo(bar"
    assert result.tokens_kept == 2


def test_an_unsure_completion_is_hidden_by_the_mean_gate():
    config = PostprocessConfig(min_mean_logprob=-1.0)
    sure = process("foo()", CursorText.around("x = ", "\n"), config, (3, 5), (-0.1, -0.3))
    unsure = process("foo()", CursorText.around("x = ", "\n"), config, (3, 5), (-1.5, -1.0))
    assert (sure.text, sure.hidden) == ("foo()", False)
    assert (unsure.text, unsure.hidden) == ("", True)
    assert unsure.mean_logprob == pytest.approx(-1.25)


@pytest.mark.parametrize(
    ("typed", "after", "raw", "shown", "covered"),
    [
        ("describe('sum", "')", "Prices', () => {", "Prices", 0),  # the quote again, not the `)`: cut
        ("describe('sum", "')", "Prices')", "Prices", 0),  # both again at the end: rule 3 trims them
        ("print(len(", "))", "items))", "items", 0),
        ("x = data[", "]", "key]", "key", 0),
        ("const obj = {", "}", " a: 1 }", " a: 1", 0),
        ("describe('sum", "')", "Prices'), x", "Prices'), x", 2),  # again, then more: the range covers them
        ("return <div>", "</div>", "hello</div>", "hello</div>", 0),  # `<` is not a closer
        ("const m = new Map<", ">", "string, number>", "string, number>", 1),  # TSX / generics
        ("print(", ")", "foo(bar)", "foo(bar)", 0),  # the `)` closes its own `(`: nothing covered
        ('f("a', '")', 'bc", x)', 'bc", x)', 2),
        # the quote again, then a string of its own that needs the quote that is there: nothing covered
        ("label = '", "'", "total' if value > 100 else 'price", "total' if value > 100 else 'price", 0),
    ],
)
def test_auto_closed_characters_typed_again_are_covered_or_the_completion_stops_before_them(
    typed, after, raw, shown, covered
):
    result = process(raw, CursorText.around(typed, after + "\n")).text
    assert result == shown
    assert covered_closers(result, after, typed) == covered
    accepted = typed + result + after[covered:]
    assert accepted.count("'") % 2 == 0 and accepted.count('"') % 2 == 0
    assert accepted.count("(") == accepted.count(")") and accepted.count("[") == accepted.count("]")


@pytest.mark.parametrize(
    ("prefix", "suffix", "raw", "expected"),
    [
        # Enter between brackets left the closer below; the prompt did not show it
        (
            "    return sum(\n        ",
            "\n    )\n",
            "sale.units for sale in sales)",
            "sale.units for sale in sales",
        ),
        ("OPTIONS = [\n", "\n];\n", '"SUMMER",\n"WINTER",\n];', '"SUMMER",\n"WINTER",'),
        ("  if (x) {\n    ", "\n  }\n}\n", "y();\n  }\n}", "y();"),
        # the completion's own brackets, and brackets inside strings, are its own
        ("  if (x) {\n    ", "\n  }\n", "if (y) { z(); }", "if (y) { z(); }"),
        ("  if (x) {\n    ", "\n  }\n", 'log("a)")', 'log("a)")'),
        # brackets opened on the cursor's line are closed on it
        ("  if (x) {\n    out.push(", "\n  }\n", "delimeter);", "delimeter);"),
        ("  if (x) {\n    f(a) + g(", "\n  }\n", "b));", "b)"),  # the second `)` closes a line above
        # no line of closers below: nothing to cut on this rule
        ("    return sum(\n        ", "\n    total)\n", "a)", "a)"),
    ],
)
def test_a_completion_stops_before_closing_what_the_line_below_already_closes(prefix, suffix, raw, expected):
    assert process(raw, CursorText.around(prefix, suffix)).text == expected


def test_the_line_break_at_the_cursor_is_the_documents_own():
    assert postprocess.document_line_break("a\r\nb = ", "\n") == "\r\n"  # the nearest one before the cursor
    assert postprocess.document_line_break("b = ", " + 1\r\nc\n") == "\r\n"  # else the first after it
    assert postprocess.document_line_break("x\n", "") == postprocess.document_line_break("", "") == "\n"
    assert postprocess.with_line_break("if x:\n    y\r\n", "\r\n") == "if x:\r\n    y\r\n"
    assert postprocess.with_line_break("if x:\n    y", "\n") == "if x:\n    y"


def test_a_completion_cut_off_by_its_token_limit_drops_the_line_the_limit_cut():
    cursor = CursorText.around("function slug(title) {\n  ", "\n}\n")
    raw = "const s = title.trim();\n  return s.replace(/[^a-z0-9]"
    assert process(raw, cursor, cut_off=True).text == "const s = title.trim();"
    assert process(raw, cursor).text == raw  # a stop token ended it: the last line is whole
    one_line = "return title.toLowerCase().replace(/[^a-z0-9]"
    assert process(one_line, cursor, cut_off=True).text == one_line  # nothing before it: partial, but kept
    cut_earlier = "const s = title.trim();\n\nfunction other() {\n  return s.replace(/[^a"
    assert process(cut_earlier, cursor, cut_off=True).text == "const s = title.trim();"  # a rule cut first


def test_one_line_cut_off_while_repeating_itself_is_dropped():
    cursor = CursorText.around('def banner():\n    msg = "😀😀" + ', "\n")
    loop = '" 🌟" + " 🌟" + " 🌟" + " 🌟" + " 🌟" + "'
    assert process(loop, cursor, cut_off=True).text == ""
    assert process(loop, cursor).text == loop  # it stopped by itself: kept
    zeros = CursorText.around("grid = [", "]\n")
    assert process("0, 0, 0, 0", zeros, cut_off=True).text == "0, 0, 0, 0"  # short: may be meant
    long_line = "compute_total(items, tax_rate=0.2, discount=None, currency='EUR', rounding"
    assert process(long_line, CursorText.around("x = ", "\n"), cut_off=True).text == long_line


def test_a_cut_off_completion_that_opens_with_a_line_break_keeps_its_one_line_of_text():
    cursor = CursorText.around("def f(a):\n    x = a", "\n")
    assert process("\n    return g(a, b", cursor, cut_off=True).text == "\n    return g(a, b"
