"""The completion service's context path, with a stand-in engine (what is checked is the prompt's input,
not the model's answer)."""

import itertools

from fakes import FakeEngine

from nanocomplete import api
from nanocomplete.completion import Settings
from nanocomplete.service import CompletionService

IMPORTS = "import os\nfrom pkg.db import connect\n\n"
BODY = "".join(f"step_{i} = os.path.join('a', '{i}')\n" for i in range(300))


def document(text: str) -> api.Document:
    lines = text.split("\n")
    return api.Document(
        uri="file:///project/app/long.py",
        text=text,
        cursor=api.Position(line=len(lines) - 1, character=len(lines[-1])),
    )


def test_the_documents_imports_reach_the_prompt_without_a_workspace():
    service = CompletionService(FakeEngine(), "fake", Settings())
    fim_input, _ = service.fim_input(document(IMPORTS + BODY + "conn = "))
    assert fim_input.header == ((0, "import os"), (1, "from pkg.db import connect"))


def test_the_header_follows_its_imports_when_a_line_above_them_moves_them():
    service = CompletionService(FakeEngine(), "fake", Settings())
    service.fim_input(document(IMPORTS + BODY + "conn = "))
    moved = '"""The app."""\n' + IMPORTS + BODY + "conn = "  # same imports, one line lower
    fim_input, _ = service.fim_input(document(moved))  # the cursor is near: a sticky selection would be kept
    assert fim_input.header == ((1, "import os"), (2, "from pkg.db import connect"))


def test_a_response_says_when_the_prefix_window_moved_and_only_then():
    import dataclasses

    from nanocomplete.config import SERVING_PROMPT

    # a prefix of at most 200 characters (the stand-in's tokens) that starts on a multiple of 4 lines
    prompt = dataclasses.replace(
        SERVING_PROMPT, max_prefix_tokens=200, prefix_anchor_lines=4, cold_prompt_tokens=0
    )
    service = CompletionService(FakeEngine(), "fake", Settings(prompt=prompt))
    lines = [f"x_{i} = {i}" for i in range(40)]  # 10 characters and a newline each
    moved = []
    try:
        for typed in range(20, 40):
            text = "\n".join(lines[:typed]) + "\n"
            request = api.CompleteRequest(**document(text).model_dump())
            moved.append(service.finish(service.submit(request)).prefix_window_moved)
    finally:
        service.close()
    assert not moved[0]  # the document's first request has no window to move
    assert 3 <= sum(moved) <= 6  # every ~4 typed lines, not on every line
    assert all(not (a and b) for a, b in itertools.pairwise(moved))


def test_typing_through_a_completion_steps_over_the_brackets_the_editor_closes():
    from nanocomplete.config import SERVING_POSTPROCESS, SERVING_PROMPT

    service = CompletionService(
        FakeEngine("abs(width)) * 2"),
        "fake",
        Settings(prompt=SERVING_PROMPT, postprocess=SERVING_POSTPROCESS),
    )
    head = "def area(width):\n    return max("

    def ask(typed: str, auto_closed: str) -> api.CompleteResponse:
        text = head + typed + auto_closed + "\n\nprint(area(2))\n"
        cursor = api.Position(line=1, character=len("    return max(" + typed))
        request = api.CompleteRequest(uri="file:///w/area.py", text=text, cursor=cursor)
        return service.finish(service.submit(request))

    try:
        first = ask("", ")")
        opened = ask("abs(", "))")  # the editor closed the new bracket
        stepped_over = ask("abs(width))", "")  # both typed closers stepped over the editor's
    finally:
        service.close()
    assert first.completion == "abs(width)) * 2" and first.replace_range.end.character == 16  # covers `)`
    assert opened.cache == stepped_over.cache == "result_cache"
    assert opened.completion == "width)) * 2" and opened.replace_range.end.character == 21  # covers `))`
    assert stepped_over.completion == " * 2" and stepped_over.replace_range.end.character == 26


def test_typing_through_a_multi_line_completion_up_to_a_bracket_the_editor_closes_answers_its_first_line_only():
    from nanocomplete.config import SERVING_POSTPROCESS, SERVING_PROMPT

    service = CompletionService(
        FakeEngine("for (const item of items) {\n    total += item;\n  }"),
        "fake",
        Settings(prompt=SERVING_PROMPT, postprocess=SERVING_POSTPROCESS),
    )
    head = "function sum(items) {\n  let total = 0;\n  "

    def ask(typed: str, auto_closed: str) -> api.CompleteResponse:
        text = head + typed + auto_closed + "\n  return total;\n}\n"
        cursor = api.Position(line=2, character=len("  " + typed))
        request = api.CompleteRequest(uri="file:///w/sum.js", text=text, cursor=cursor)
        return service.finish(service.submit(request))

    try:
        first = ask("", "")
        opened = ask("for (const item of items) {", "}")  # the editor closed the brace: mid-line now
    finally:
        service.close()
    assert first.completion.startswith("for (const item of items) {\n")
    assert opened.completion == "" or "\n" not in opened.completion  # never lines before the editor's `}`


def test_a_multi_line_completion_in_a_crlf_document_breaks_its_lines_as_the_document_does():
    from nanocomplete.config import SERVING_POSTPROCESS, SERVING_PROMPT

    answer = "for (const item of items) {\n    total += item;\n  }"
    service = CompletionService(
        FakeEngine(answer), "fake", Settings(prompt=SERVING_PROMPT, postprocess=SERVING_POSTPROCESS)
    )

    def ask(text: str, line: int, character: int) -> api.CompleteResponse:
        request = api.CompleteRequest(
            uri="file:///w/sum.js", text=text, cursor=api.Position(line=line, character=character)
        )
        return service.finish(service.submit(request))

    lines = ["function sum(items) {", "  let total = 0;", "  ", "  return total;", "}", ""]
    try:
        crlf = ask("\r\n".join(lines), 2, 2)
        typed_through = ask("\r\n".join([*lines[:2], "  for (const item of items) {", *lines[3:]]), 2, 29)
    finally:
        service.close()
    assert crlf.completion == "for (const item of items) {\r\n    total += item;"  # as with "\n", the `}` cut
    assert typed_through.cache == "result_cache" and typed_through.completion == "\r\n    total += item;"


def test_a_documents_state_remembers_only_the_text_near_the_cursor_and_still_types_through():
    from nanocomplete.service import REMEMBERED_CHARS

    service = CompletionService(FakeEngine("os.path.join(root, name)"), "fake", Settings())
    body = "x = 1\n" * 200_000  # 1.2 MB above and below the cursor
    try:
        first = service.finish(
            service.submit(api.CompleteRequest(uri="u", prefix=body + "path = ", suffix="\n" + body))
        )
        typed = api.CompleteRequest(uri="u", prefix=body + "path = os.pa", suffix="\n" + body)
        through = service.finish(service.submit(typed))
        edited_above = api.CompleteRequest(
            uri="u", prefix="y = 2\n" + body + "path = os.path.", suffix="\n" + body
        )
        after_edit = service.finish(service.submit(edited_above))
    finally:
        service.close()
    state = service._documents["u"]
    assert len(state.last_prefix_end) == len(state.last_suffix_start) == REMEMBERED_CHARS
    assert first.completion == "os.path.join(root, name)"
    assert through.cache == "result_cache" and through.completion == "th.join(root, name)"
    assert after_edit.cache != "result_cache"  # a line added far above: the model answers again


def test_typing_through_up_to_a_closed_bracket_in_a_crlf_document_leaves_no_carriage_return():
    service = CompletionService(FakeEngine("(a,\n    b)"), "fake", Settings())
    try:
        service.finish(
            service.submit(api.CompleteRequest(uri="u", prefix="x = 1\r\nfoo", suffix="\r\nbar\r\n"))
        )
        typed = api.CompleteRequest(uri="u", prefix="x = 1\r\nfoo(", suffix=")\r\nbar\r\n")
        through = service.finish(service.submit(typed))
    finally:
        service.close()
    assert through.cache == "result_cache" and through.completion == "a,"
