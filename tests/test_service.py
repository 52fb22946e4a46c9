"""The completion service's context path, with a stand-in engine (what is checked is the prompt's input,
not the model's answer)."""

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
