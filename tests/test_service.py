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


def test_a_context_chosen_before_the_workspaces_first_index_pass_is_chosen_again_after_it(
    tmp_path, monkeypatch
):
    import threading
    import time

    from nanocomplete import index

    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "models.py").write_text("class Order:\n    lines: list\n    coupon: str\n")
    text = "from .models import Order\n\n\ndef total(order: Order) -> int:\n    return sum(line.price for line in order."
    request = api.Document(
        uri=f"file://{tmp_path}/shop/pricing.py",
        text=text,
        cursor=api.Position(line=4, character=len(text.split("\n")[-1])),
        workspace_root=str(tmp_path),
    )
    indexing = threading.Event()  # the first pass waits for it: the first request comes before the index
    refresh = index.WorkspaceIndex.refresh
    monkeypatch.setattr(index.WorkspaceIndex, "refresh", lambda self: indexing.wait(10) and refresh(self))
    service = CompletionService(FakeEngine(), "fake", Settings())
    try:
        before, _ = service.fim_input(request)
        indexing.set()
        deadline = time.monotonic() + 10
        while service.workspaces.get(str(tmp_path)).passes == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        after, _ = service.fim_input(request)  # the same cursor: a sticky choice would be kept
    finally:
        service.close()
    assert "shop/models.py" not in [f.path for f in before.extra_files]
    assert "shop/models.py" in [f.path for f in after.extra_files]
    assert "coupon: str" in next(f.text for f in after.extra_files if f.path == "shop/models.py")


def test_secrets_files_never_reach_another_files_prompt_from_the_index_the_editor_or_its_globs(tmp_path):
    import time

    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "models.py").write_text("class Order:\n    lines: list\n")
    (tmp_path / "shop" / "credentials.py").write_text('API_TOKEN = "tok_live_51H8zQ"\n')
    (tmp_path / "shop" / "private_keys.py").write_text('DB_PASSWORD = "hunter2-prod"\n')
    text = (
        "from .models import Order\nfrom .credentials import API_TOKEN\nfrom .private_keys import DB_PASSWORD\n"
        "\n\ndef headers(order: Order) -> dict:\n    return {'token': "
    )
    request = api.Document(
        uri=f"file://{tmp_path}/shop/client.py",
        text=text,
        cursor=api.Position(line=6, character=len(text.split("\n")[-1])),
        workspace_root=str(tmp_path),
        recent=[
            api.Snippet(path=".env", text="STRIPE_KEY=sk_live_x\n"),  # an editor that sends one anyway
            api.Snippet(path="shop/orders.py", text="def place(order):\n    return order\n"),
        ],
        # the editor's own glob (Dash's `nanocomplete.disabledFiles`); a negation cannot undo the server's
        disabled_files=["**/private_*.py", "!**/*secret*", "!.env"],
    )
    service = CompletionService(FakeEngine(), "fake", Settings())
    try:
        deadline = time.monotonic() + 10
        while (service.workspaces.get(str(tmp_path)).passes == 0) and time.monotonic() < deadline:
            time.sleep(0.01)
        fim_input, _ = service.fim_input(request)
    finally:
        service.close()
    shown = "\n".join(f"{f.path}\n{f.text}" for f in fim_input.extra_files)
    assert "shop/models.py" in shown and "shop/orders.py" in shown  # context still comes
    for secret in ("tok_live", "hunter2", "sk_live", "credentials.py", "private_keys.py", ".env"):
        assert secret not in shown


def test_a_disabled_file_is_never_evaluated_nor_warmed_whichever_client_sends_it(tmp_path):
    """The server's `disabled_files` (Dash's defaults) and a request's own globs cover the document itself,
    not only other files: a client other than Dash may send a `.env` for completion."""
    engine = FakeEngine()
    service = CompletionService(engine, "fake", Settings())
    try:
        for uri, globs in (
            (f"file://{tmp_path}/.env", []),  # the server's default **/.env
            (f"file://{tmp_path}/deploy/Prod.Secrets.yaml", []),  # **/*secret*, any case
            (f"file://{tmp_path}/conf/keys.ts", ["conf/**"]),  # the request's own glob
        ):
            document = api.Document(
                uri=uri, text="STRIPE_KEY=sk_live_51H8\nTOKEN=", cursor=api.Position(line=1, character=6),
                workspace_root=str(tmp_path), disabled_files=globs,
            )  # fmt: skip
            answer = service.finish(service.submit(api.CompleteRequest(**document.model_dump())))
            assert (answer.completion, answer.disabled_file, answer.cache) == ("", True, "none")
            assert answer.replace_range.start == api.Position(line=1, character=6)
            assert service.warm(api.WarmRequest(**document.model_dump())).queued is False
        assert engine.cached_tokens == ()  # nothing of them reached the model
        allowed = api.Document(
            uri=f"file://{tmp_path}/conf/keys.ts",
            text="const a = ",
            cursor=api.Position(line=0, character=10),
            workspace_root=str(tmp_path),
        )  # the same path without the request's glob is completed
        answer = service.finish(service.submit(api.CompleteRequest(**allowed.model_dump())))
        assert not answer.disabled_file and engine.cached_tokens
    finally:
        service.close()
