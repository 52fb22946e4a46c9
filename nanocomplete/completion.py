"""One completion: text and cursor → prompt → engine → post-processing → Completion.

This is the path every caller shares (CLI, server, evaluation), so what is measured is what users get.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from nanocomplete import postprocess, prompt
from nanocomplete.config import GenerationConfig, PostprocessConfig, PromptConfig
from nanocomplete.engine import CancelCheck, Engine, Generation, Timings
from nanocomplete.errors import PromptError
from nanocomplete.prompt import ExtraFile, FimInput


@dataclass(frozen=True)
class Settings:
    prompt: PromptConfig = field(default_factory=PromptConfig)
    generation: GenerationConfig = field(default_factory=GenerationConfig)
    postprocess: PostprocessConfig = field(default_factory=PostprocessConfig)


@dataclass(frozen=True)
class Completion:
    text: str  # what to insert at the cursor ("" when nothing is worth showing)
    raw_text: str  # what the model wrote after the cursor (the healed text left out), before post-processing
    mean_logprob: float | None
    min_logprob: float | None
    hidden: bool  # the confidence gate hid it (text is then "")
    stop_reason: str
    timings: Timings
    prefix_start_line: int
    context_tokens: int
    prefix_tokens: int
    suffix_tokens: int


def fim_input_at(
    text: str,
    line: int,
    column: int,
    path: str | None = None,
    repo_name: str | None = None,
    extra_files: tuple[ExtraFile, ...] = (),
    first: int = 0,
) -> FimInput:
    """Split `text` at a line and column (in characters) counted from `first` (see `split_at`)."""
    return FimInput(*split_at(text, line, column, first), path, repo_name, extra_files)


def split_at(text: str, line: int, column: int, first: int = 0) -> tuple[str, str]:
    """The text before and after a line and column (in characters) that count from `first`: 0 for the API,
    1 for the command line, as editors show them. PromptError names the position as the caller gave it."""
    lines = text.split("\n")
    row, col = line - first, column - first
    if not 0 <= row < len(lines):
        raise PromptError(
            f"line {line} is out of range: the document has {len(lines)} lines, and lines start at {first} "
            f"(so {first} to {len(lines) - 1 + first})"
        )
    if not 0 <= col <= len(lines[row]):
        n = len(lines[row])
        raise PromptError(
            f"column {column} is out of range: line {line} has {n} characters, and columns start at {first} "
            f"(so {first} to {n + first}, the last one after its end)"
        )
    offset = sum(len(previous) + 1 for previous in lines[:row]) + col
    return text[:offset], text[offset:]


@dataclass(frozen=True)
class Prepared:
    """A request made ready for the engine: its prompt and what post-processing needs to know."""

    prompt: prompt.Prompt
    cursor: postprocess.CursorText

    def should_stop(self, settings: Settings):
        return lambda text: postprocess.is_finished(
            self.prompt.unheal(text), self.cursor, settings.postprocess
        )


def prepare(
    fim_input: FimInput,
    tokenize,
    settings: Settings,
    prefix_start_hint: int | None = None,
    middle_start_hint: int | None = None,
) -> Prepared:
    """The prompt and the cursor's surroundings; the hints are the lines where the document's last prompt
    started its prefix window and its middle (`prompt.build`)."""
    built = prompt.build(fim_input, tokenize, settings.prompt, prefix_start_hint, middle_start_hint)
    return Prepared(built, postprocess.CursorText.around(fim_input.prefix, fim_input.suffix))


def finish(prepared: Prepared, generated: Generation, settings: Settings) -> Completion:
    text = prepared.prompt.unheal(generated.text)
    shift = len(generated.text) - len(text)
    # the tokens that only write the healed text again are the user's, not the model's choice: their
    # log-probabilities do not count in the confidence gates
    own = [i for i, end in enumerate(generated.token_end_chars) if end > shift]
    ends = [generated.token_end_chars[i] - shift for i in own]
    logprobs = [generated.token_logprobs[i] for i in own]
    cut_off = generated.stop_reason in ("max_tokens", "max_generation_ms")  # the model was still writing
    result = postprocess.process(text, prepared.cursor, settings.postprocess, ends, logprobs, cut_off)
    built = prepared.prompt
    return Completion(
        text=result.text,
        raw_text=text,
        mean_logprob=result.mean_logprob,
        min_logprob=result.min_logprob,
        hidden=result.hidden,
        stop_reason=generated.stop_reason,
        timings=generated.timings,
        prefix_start_line=built.prefix_start_line,
        context_tokens=built.context_tokens,
        prefix_tokens=built.prefix_tokens,
        suffix_tokens=built.suffix_tokens,
    )


class Completer:
    """The whole path in the caller's thread (the CLI and the evaluation runner); the server runs the same
    `prepare` and `finish` around its scheduler."""

    def __init__(self, engine: Engine, settings: Settings = Settings()):
        self.engine = engine
        self.settings = settings

    def complete(
        self,
        fim_input: FimInput,
        cancel: CancelCheck | None = None,
        prefix_start_hint: int | None = None,
        middle_start_hint: int | None = None,
    ) -> Completion:
        prepared = prepare(
            fim_input, self.engine.tokenize, self.settings, prefix_start_hint, middle_start_hint
        )
        return self.complete_prepared(prepared, cancel)

    def complete_prepared(self, prepared: Prepared, cancel: CancelCheck | None = None) -> Completion:
        """Generate and post-process for a prompt `prepare` built (a caller that also shows the prompt
        builds it once)."""
        generated = self.engine.generate(
            prepared.prompt.tokens,
            self.settings.generation,
            prepared.should_stop(self.settings),
            cancel,
            prepared.prompt.healed,
        )
        return finish(prepared, generated, self.settings)


def prompt_explanation(built: prompt.Prompt, detokenize) -> dict:
    """The prompt as the model saw it (special tokens as text), the context files chosen and the token
    split: what `complete --json` and `serve --log-prompts` show."""
    return {
        "prompt": detokenize(built.tokens, special=True),
        "context_files": list(built.extra_files_used),
        "prompt_tokens": {
            "context": built.context_tokens,
            "prefix": built.prefix_tokens,
            "suffix": built.suffix_tokens,
        },
    }
