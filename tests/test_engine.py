"""The real engine with the real 0.5B model: KV reuse, cancellation, stop tokens, log-probabilities."""

import math
import random
import time
from dataclasses import replace

import numpy as np
import pytest

from nanocomplete import fim, prompt
from nanocomplete.config import GenerationConfig, PromptConfig
from nanocomplete.engine import _Output, prefix_within, reuse_plan
from nanocomplete.errors import Cancelled, PromptError
from nanocomplete.prompt import FimInput

CODE = (
    "import math\n\n\n"
    "def circle_area(radius: float) -> float:\n"
    '    """Area of a circle."""\n'
    "    return math.pi * radius ** 2\n\n\n"
    "def square_area(side: float) -> float:\n"
    '    """Area of a square."""\n'
    "    return "
)


def fim_tokens(tokenizer, prefix=CODE, suffix="\n"):
    return prompt.build(FimInput(prefix, suffix), tokenizer.tokenize).tokens


def test_greedy_fim_completion_is_sensible(engine):
    engine.reset()
    result = engine.generate(fim_tokens(engine.tokenizer))
    assert result.text.startswith("side ** 2") or result.text.startswith("side * side")
    assert result.timings.tokens_generated == len(result.token_ids) == len(result.token_logprobs)


def test_generation_ends_on_a_stop_token_which_is_not_returned(engine, tokenizer):
    chat = [
        fim.IM_START, *tokenizer.tokenize("user\nReply with the single word OK."), fim.IM_END,
        *tokenizer.tokenize("\n"), fim.IM_START, *tokenizer.tokenize("assistant\n"),
    ]  # fmt: skip
    result = engine.generate(chat, GenerationConfig(max_tokens=16))
    assert result.stop_reason == "stop_token"
    assert result.text.strip().strip(".") == "OK"
    assert not set(result.token_ids) & fim.STOP_TOKEN_IDS


def test_log_probabilities_are_per_token_and_at_most_zero(engine):
    result = engine.generate(fim_tokens(engine.tokenizer))
    assert all(lp <= 0 and math.isfinite(lp) for lp in result.token_logprobs)
    assert list(result.token_end_chars) == sorted(result.token_end_chars)
    assert result.token_end_chars[-1] == len(result.text)


def test_the_same_prompt_twice_reuses_all_but_the_last_token(engine):
    engine.reset()
    tokens = fim_tokens(engine.tokenizer)
    first = engine.generate(tokens).timings
    second = engine.generate(tokens).timings
    assert (first.prompt_tokens_evaluated, first.prompt_tokens_reused) == (len(tokens), 0)
    assert (second.prompt_tokens_evaluated, second.prompt_tokens_reused) == (1, len(tokens) - 1)
    assert second.prompt_ms < first.prompt_ms


def test_typing_evaluates_only_the_changed_tail(engine, tokenizer):
    long_prefix = CODE * 8
    engine.reset()
    before = engine.generate(fim_tokens(tokenizer, long_prefix)).timings
    after = engine.generate(fim_tokens(tokenizer, long_prefix + "si")).timings
    assert after.prompt_tokens_reused >= before.prompt_tokens - 5
    assert after.prompt_tokens_evaluated <= 6
    assert after.prompt_ms < before.prompt_ms / 3


def test_generated_tokens_are_capped_by_max_tokens(engine):
    tokens = engine.tokenize("# a list of the first hundred prime numbers\nPRIMES = [2, 3, 5, 7, 11, ")
    result = engine.generate(tokens, GenerationConfig(max_tokens=5))
    assert result.stop_reason == "max_tokens"
    assert result.timings.tokens_generated == 5


def test_cancellation_stops_generation_between_tokens(engine):
    tokens = engine.tokenize("# a list of the first hundred prime numbers\nPRIMES = [2, 3, 5, 7, 11, ")
    engine.generate(tokens, GenerationConfig(max_tokens=1))  # warm the cache
    checks = []

    def cancel():
        checks.append(1)
        return len(checks) > 4  # one check per prompt batch (1 here), then one per token

    with pytest.raises(Cancelled):
        engine.generate(tokens, GenerationConfig(max_tokens=30), cancel=cancel)
    assert len(checks) == 5
    # the engine stays usable after a cancellation
    assert engine.generate(tokens, GenerationConfig(max_tokens=3)).timings.tokens_generated == 3


def test_cancellation_between_prompt_batches_keeps_the_evaluated_part(engine, tokenizer):
    tokens = fim_tokens(tokenizer, CODE * 6)
    batch = engine.config.batch_tokens
    assert len(tokens) > 3 * batch
    engine.reset()
    checks = []
    with pytest.raises(Cancelled):
        engine.prefill(tokens, cancel=lambda: checks.append(1) or len(checks) > 2)
    assert engine.cached_tokens == tokens[: 2 * batch]
    evaluated, reused = engine.prefill(tokens)
    assert (evaluated, reused) == (len(tokens) - 2 * batch, 2 * batch)


def test_an_interruptible_prefill_stops_inside_a_batch_and_discards_only_that_batch(engine, tokenizer):
    import threading
    import time

    tokens = fim_tokens(tokenizer, CODE * 6)
    batch = engine.config.batch_tokens
    engine.reset()
    started = time.perf_counter()
    engine.prefill(tokens[:batch])
    batch_s = time.perf_counter() - started  # one batch on this CPU (a stop lands halfway into one)
    engine.reset()
    engine.prefill(tokens[:batch])  # the first batch is cached; the stop lands in one of the next
    stopped_at = []

    def stop_now() -> None:
        stopped_at.append(time.perf_counter())
        engine.interrupt()

    engine.interrupt()  # before the prefill: does not count
    threading.Timer(batch_s / 2, stop_now).start()
    with pytest.raises(Cancelled, match="within a batch"):
        engine.prefill(tokens, interruptible=True)
    late_s = time.perf_counter() - stopped_at[0]
    kept = len(engine.cached_tokens)
    assert kept >= batch and kept % batch == 0 and engine.cached_tokens == tokens[:kept]
    assert late_s < batch_s / 2  # stopped within the batch in flight, not at its end
    resumed = engine.generate(tokens, GenerationConfig(max_tokens=8))  # the KV cache holds what it says
    engine.reset()
    fresh = engine.generate(tokens, GenerationConfig(max_tokens=8))
    assert resumed.timings.prompt_tokens_reused == kept and resumed.text == fresh.text


def test_should_stop_ends_generation_early(engine):
    tokens = engine.tokenize("# a list of the first hundred prime numbers\nPRIMES = [2, 3, 5, 7, 11, ")
    result = engine.generate(tokens, GenerationConfig(max_tokens=30), should_stop=lambda text: "," in text)
    assert result.stop_reason == "should_stop"
    assert result.text.count(",") == 1


def test_after_max_generation_ms_the_next_token_ends_a_generation_that_holds_a_whole_line(engine):
    tokens = engine.tokenize("def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n")
    unlimited = engine.generate(tokens, GenerationConfig(max_tokens=24))
    assert unlimited.stop_reason == "max_tokens" and unlimited.text.count("\n") >= 3
    limited = engine.generate(tokens, GenerationConfig(max_tokens=24, max_generation_ms=1))
    assert limited.stop_reason == "max_generation_ms"
    # the same tokens, up to the token that ends the first line with text (it may begin the next one)
    assert unlimited.text.startswith(limited.text)
    line, newline, rest = limited.text.partition("\n")
    assert line.strip() == "return a - b" and newline and not rest.strip()
    assert limited.timings.tokens_generated < unlimited.timings.tokens_generated


PIECES = {1: b"x", 2: b"\n", 3: b"    y", 4: b" = 1", 5: b"\n", 6: b"    z"}


def _output(deadline: float, healed_chars: int = 0, clock=time.perf_counter) -> _Output:
    detokenize = lambda ids: b"".join(PIECES[i] for i in ids)  # noqa: E731
    return _Output(detokenize, set(), 32, None, deadline, healed_chars, clock)


def _taken(out: _Output, tokens) -> str:
    """Feed `tokens` until the output ends; its text."""
    for token in tokens:
        if not out.add(token, 0.0):
            break
    return out.text


def test_past_the_time_limit_a_whole_line_of_the_models_own_ends_the_output():
    assert _taken(_output(deadline=0.0), range(1, 7)) == "x\n"
    # "x" only writes the healed text again: the model's own first line is "    y = 1"
    assert _taken(_output(deadline=0.0, healed_chars=1), range(1, 7)) == "x\n    y = 1\n"
    # an output that begins with a line break has no whole line until the next one
    assert _taken(_output(deadline=0.0), range(2, 7)) == "\n    y = 1\n"
    unlimited = _output(deadline=float("inf"))
    assert _taken(unlimited, range(1, 7)) == "x\n    y = 1\n    z" and unlimited.stop_reason == "max_tokens"


def test_a_limit_that_passes_inside_the_second_line_ends_the_output_there():
    times = iter([0.0, 0.0, 0.0, 2.0, 2.0, 2.0])  # the limit (1.0) passes after "    y"
    out = _output(deadline=1.0, clock=lambda: next(times))
    assert _taken(out, range(1, 7)) == "x\n    y = 1" and out.stop_reason == "max_generation_ms"


def test_sampling_with_a_seed_is_reproducible(engine, tokenizer):
    tokens = fim_tokens(tokenizer)
    config = GenerationConfig(temperature=0.8, seed=7, max_tokens=8)
    # the same path twice (the second reuses the cache the first left): the same floats, the same draws
    assert engine.generate(tokens, config).text == engine.generate(tokens, config).text


def test_a_restored_kv_snapshot_gives_the_same_floats_as_the_cache_it_was_taken_from(engine, tokenizer):
    tokens, other = fim_tokens(tokenizer), fim_tokens(tokenizer, CODE * 2)
    engine.reset()
    engine.prefill(tokens)
    stayed = engine.generate(tokens)  # reuses all but the last token, which is evaluated alone
    snapshot = engine.snapshot()
    engine.generate(other)  # another file takes the cache
    engine.restore(snapshot)
    restored = engine.generate(tokens)  # the same KV bytes, the last token again alone: the same path
    assert restored.timings.prompt_tokens_evaluated == stayed.timings.prompt_tokens_evaluated == 1
    assert (restored.token_ids, restored.token_logprobs) == (stayed.token_ids, stayed.token_logprobs)


def test_marker_strings_in_a_document_do_not_confuse_the_model(engine, tokenizer):
    hostile = (
        'FIM_TOKENS = ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]\n\n\n'
        "def count_markers(text: str) -> int:\n"
        "    return sum(text.count(token) for token in "
    )
    result = engine.generate(fim_tokens(tokenizer, hostile, "\n"), GenerationConfig(max_tokens=12))
    assert result.text.startswith("FIM_TOKENS")


def test_a_prompt_that_does_not_fit_the_context_window_is_a_prompt_error(engine):
    with pytest.raises(PromptError, match="context_window_tokens"):
        engine.generate([100] * engine.config.context_window_tokens)


def test_cached_tokenization_equals_llama_cpp_and_does_not_keep_the_tokenizer_alive(model_path):
    import weakref

    from nanocomplete.engine import SHORT_TEXT_CHARS, Tokenizer

    tokenizer = Tokenizer(model_path)
    short, long = "def area(r):\n    return 3.14 * r ** 2\n", "x = 1\n" * (SHORT_TEXT_CHARS // 5)
    for text in (short, short, long, "<|fim_prefix|>"):
        direct = tokenizer._llama.tokenize(text.encode(), add_bos=False, special=False)
        assert tokenizer.tokenize(text) == direct
    ids = tokenizer.tokenize(short)
    ids.append(0)  # callers may change the list they get
    assert tokenizer.tokenize(short) == ids[:-1]
    alive = weakref.ref(tokenizer)
    del tokenizer
    assert alive() is None  # freed at once: the cache makes no reference cycle


def test_the_engine_says_where_the_model_runs(engine):
    import llama_cpp

    from nanocomplete.engine import backend_description

    assert engine.layers == 24  # Qwen2.5-Coder-0.5B (../shared/notes/models.md)
    if llama_cpp.llama_supports_gpu_offload():
        assert backend_description(engine) == "GPU: 24 of 24 layers offloaded"
    else:
        assert engine.gpu_layers == 0
        assert backend_description(engine) == "CPU (llama.cpp built without GPU offload)"


def test_the_abort_flag_is_read_by_c_code_that_answers_its_state():
    from nanocomplete.engine import AbortFlag, _flag_reader

    flag, reader = AbortFlag(), _flag_reader()
    assert reader(flag.pointer) is False
    flag.set()
    assert flag.is_set() and reader(flag.pointer) is True
    flag.clear()
    assert not flag.is_set() and reader(flag.pointer) is False


GENERATOR = (
    "export async function* withPing<T>(iterable: AsyncIterable<T>) {\n"
    "  const iterator = iterable[Symbol.asyncIterator]();\n"
    "  while (true) {\n"
    "    const result = await iterator.next();\n"
    "    if (result.done) {\n"
    "      return "
)


@pytest.mark.parametrize(
    ("before_cursor", "after_cursor", "left_out", "expected"),
    [
        # "return " typed: left to itself, the model sees "return" and ends the statement (";")
        (GENERATOR, "\n    }\n    yield result.value;\n  }\n}\n", " ", "result.value;"),
        # an auto-indented new line: the indentation is left out
        (CODE.rpartition("\n")[0] + "\n    ", "\n", "    ", "return side"),
    ],
)
def test_a_healed_prompt_generates_text_that_begins_with_the_whitespace_left_out(
    engine, before_cursor, after_cursor, left_out, expected
):
    config = prompt.PromptConfig(current_line_after_middle=True, heal_trailing_whitespace=True)
    built = prompt.build(FimInput(before_cursor, after_cursor), engine.tokenize, config)
    assert built.healed == left_out
    result = engine.generate(built.tokens, GenerationConfig(max_tokens=12), required_start=built.healed)
    assert result.text.startswith(left_out)
    assert built.unheal(result.text).startswith(expected)


def test_a_prompt_healed_of_its_last_token_completes_after_a_dot_without_a_space(engine):
    config = prompt.PromptConfig(current_line_after_middle=True, heal_trailing_whitespace=True)
    before = "import json\n\n\ndef save(data, path):\n    path.write_text(json."
    healed = prompt.build(FimInput(before, "\n"), engine.tokenize, replace(config, heal_last_token=True))
    assert healed.healed == "."
    result = engine.generate(healed.tokens, GenerationConfig(max_tokens=8), required_start=healed.healed)
    assert healed.unheal(result.text).startswith("dumps(data")


@pytest.mark.parametrize("rest", [b".", b"(", b".du", b" return ", b"\xff", b"\xe2\x82", b"zzzzq"])
def test_the_tokens_that_agree_with_a_required_start_are_those_a_vocabulary_scan_finds(engine, rest):
    scan = np.array([t.startswith(rest) or (t != b"" and rest.startswith(t)) for t in engine._pieces])
    assert (engine._agreeing_tokens(rest) == scan).all()
    assert not engine._agreeing_tokens(rest)[list(engine._stop_ids)].any()  # the typed text is written whole


# --- KV reuse by shifting (kv_shift_min_tokens): the plan, then the real engine ---


def test_the_reuse_plan_keeps_runs_that_follow_a_deletion_and_never_the_last_token():
    cached = list(range(100, 110)) + list(range(200, 240))  # head, then 40 tokens of lines
    moved = list(range(100, 110)) + list(range(220, 240)) + [7, 8]  # the first 20 of them left the window
    plan = reuse_plan(cached, moved, min_run_tokens=8)
    assert (plan.head, plan.runs, plan.reused) == (10, ((30, 10, 20),), 30)  # (cache, prompt, length)
    whole = reuse_plan(cached, cached, min_run_tokens=8)
    assert whole.reused == len(cached) - 1  # the prompt's last token is evaluated, for its logits


def test_the_reuse_plan_skips_short_runs_and_without_insertions_text_inserted_before_a_run():
    cached = list(range(50))
    assert reuse_plan(cached, [0, 1, *range(45, 50), 9], min_run_tokens=8).runs == ()
    inserted = [0, 1, 999, *range(10, 50)]  # new text before the run: a shift left cannot place it
    assert reuse_plan(cached, inserted, min_run_tokens=8).reused == 2
    assert reuse_plan(cached, list(range(5)) + list(range(20, 40)), min_run_tokens=0).runs == ()


def test_with_insertions_the_plan_keeps_runs_after_new_text_and_counts_the_gaps_to_evaluate():
    cached = list(range(50))
    inserted = [0, 1, 997, 998, 999, *range(10, 50)]  # 3 new tokens, and 8 cached ones gone, before the run
    plan = reuse_plan(cached, inserted, min_run_tokens=8, insertions=True)
    assert (plan.head, plan.runs, plan.gaps) == (2, ((10, 5, 39),), ((2, 5),))  # not the last token
    assert (plan.reused, plan.gap_tokens, plan.end) == (41, 3, 44)
    # context replaced before the file: a longer block, then the file's tokens, then a line typed
    context, file = list(range(1000, 1100)), list(range(2000, 2300))
    replaced = list(range(5000, 5150)) + file + [7]
    plan = reuse_plan(context + file, replaced, min_run_tokens=32, insertions=True)
    assert (plan.head, plan.runs, plan.gaps) == (0, ((100, 150, 300),), ((0, 150),))


def test_with_insertions_several_runs_keep_their_order_and_a_short_match_is_new_text():
    cached = list(range(100))
    prompt = [*range(10), 900, *range(20, 40), *range(60, 65), 901, *range(40, 60), *range(70, 90), 902]
    plan = reuse_plan(cached, prompt, min_run_tokens=10, insertions=True)
    # the 5 tokens of 60-64 are shorter than a run: new text; 40-59 comes after them in the cache order
    assert plan.runs == ((20, 11, 20), (40, 37, 20), (70, 57, 20))
    assert plan.gaps == ((10, 11), (31, 37))


def test_every_plan_with_insertions_places_equal_runs_in_order_and_never_the_last_token():
    rng = random.Random(0)
    for _ in range(300):  # edited copies of a token list: deletions, insertions, replacements
        cached = [rng.randrange(40) for _ in range(rng.randrange(20, 300))]
        prompt = list(cached)
        for _ in range(rng.randrange(1, 5)):
            at = rng.randrange(len(prompt) + 1)
            cut = rng.randrange(0, 30)
            prompt[at : at + cut] = [rng.randrange(40, 60) for _ in range(rng.randrange(0, 40))]
        prompt = prompt or [1]
        plan = reuse_plan(cached, prompt, min_run_tokens=8, insertions=True)
        end_cached, end_prompt = plan.head, plan.head
        assert cached[: plan.head] == prompt[: plan.head]
        for start, place, length in plan.runs:
            assert length >= 8 and start >= end_cached and place >= end_prompt
            assert cached[start : start + length] == prompt[place : place + length]
            end_cached, end_prompt = start + length, place + length
        assert plan.end <= len(prompt) - 1
        assert plan.reused + plan.gap_tokens == plan.end


def test_a_warm_share_stops_where_its_tokens_run_out_not_after_runs_beyond_them():
    cached = list(range(100))
    prompt = [*range(10), *range(500, 560), *range(10, 100), 7]  # 60 new tokens before a 90-token run
    assert reuse_plan(cached, prompt, 8, insertions=True).reused == 100
    assert prefix_within(cached, prompt, 40, 8, insertions=True) == 50  # inside the gap: 40 evaluated
    assert prefix_within(cached, prompt, 70, 8, insertions=True) == 161  # the gap, the run, 10 more
    assert prefix_within(cached, prompt, 40, 8, insertions=False) == 50


def test_text_gained_is_skipped_among_other_files_but_ends_reuse_inside_the_file():
    context, lines, suffix = list(range(1000, 1040)), list(range(10, 60)), list(range(60, 100))

    def layout(other, prefix):
        return [
            fim.REPO_NAME,
            *other,
            fim.FILE_SEP,
            5,
            fim.FIM_PREFIX,
            *prefix,
            fim.FIM_SUFFIX,
            *suffix,
            fim.FIM_MIDDLE,
        ]

    cached = layout(context, lines)
    new_snippet = layout([*range(2000, 2030), *context], lines)  # 30 tokens more among the other files
    plan = reuse_plan(cached, new_snippet, min_run_tokens=8, insertions=True)
    assert plan.gaps == ((1, 31),) and plan.reused == len(new_snippet) - 31
    typed_above_suffix = layout(context, [*lines, 7, 7, 7])  # lines gained in the file's prefix
    plan = reuse_plan(cached, typed_above_suffix, min_run_tokens=8, insertions=True)
    assert plan.runs == () and plan.head == 1 + len(context) + 3 + len(lines)


def test_several_runs_are_kept_in_order():
    cached = list(range(60))
    prompt = list(range(5)) + list(range(15, 30)) + list(range(40, 55)) + [99]
    assert reuse_plan(cached, prompt, min_run_tokens=10).runs == ((15, 5, 15), (40, 20, 15))
    with_insertions = reuse_plan(cached, prompt, min_run_tokens=10, insertions=True)
    assert with_insertions.runs == ((15, 5, 15), (40, 20, 15)) and with_insertions.gaps == ()


@pytest.fixture(scope="module")
def shifting_engine(model_path):
    from nanocomplete.config import EngineConfig
    from nanocomplete.engine import Engine

    return Engine(
        model_path, EngineConfig(context_window_tokens=4096, batch_tokens=64, kv_shift_min_tokens=32)
    )


def test_a_moved_window_shifts_the_lines_it_kept_and_evaluates_only_the_new_ones(shifting_engine, tokenizer):
    config = PromptConfig(max_prefix_tokens=300, max_suffix_tokens=32, prefix_anchor_lines=8)
    text = "".join(f"def add_{i}(x):\n    return x + {i}\n" for i in range(60))
    typed = "".join(f"def sub_{i}(x):\n    return x - {i}\n" for i in range(6))  # 12 new lines
    before = prompt.build(FimInput(text, "\n"), tokenizer.tokenize, config)
    after = prompt.build(FimInput(text + typed, "\n"), tokenizer.tokenize, config, before.prefix_start_line)
    assert after.prefix_start_line > before.prefix_start_line  # the window's start moved down
    shifting_engine.reset()
    shifting_engine.prefill(before.tokens)
    shifted = shifting_engine.generate(after.tokens, GenerationConfig(max_tokens=8))
    new_tokens = len(tokenizer.tokenize(typed))
    assert shifted.timings.prompt_tokens_evaluated <= new_tokens + 8  # not the ~300 of the window
    assert shifted.timings.prompt_tokens_reused >= len(after.tokens) - new_tokens - 8
    assert shifting_engine.cached_tokens[: len(after.tokens)] == tuple(after.tokens)
    again = shifting_engine.generate(after.tokens, GenerationConfig(max_tokens=8))
    assert again.timings.prompt_tokens_evaluated == 1 and again.text == shifted.text  # a consistent cache
    shifting_engine.reset()
    fresh = shifting_engine.generate(after.tokens, GenerationConfig(max_tokens=8))
    assert fresh.text == shifted.text  # this pattern survives the shift (runs/kv_shift_quality.py: the rest)


def test_a_run_is_only_moved_within_its_part_of_the_prompt():
    lines, suffix = list(range(10, 50)), list(range(60, 100))
    cached = [fim.FIM_PREFIX, *lines, fim.FIM_SUFFIX, *suffix, fim.FIM_MIDDLE]
    # the suffix's first lines typed over: their tokens come back in the prefix, computed after <|fim_suffix|>
    moved = [fim.FIM_PREFIX, *lines[:5], *suffix, fim.FIM_SUFFIX, 1, fim.FIM_MIDDLE]
    assert reuse_plan(cached, moved, min_run_tokens=8).runs == ()
    deleted = [fim.FIM_PREFIX, *lines[20:], fim.FIM_SUFFIX, *suffix, fim.FIM_MIDDLE]  # the window moved
    assert reuse_plan(cached, deleted, min_run_tokens=8).runs == ((21, 1, 61),)  # not the last token
    assert reuse_plan(cached, moved, min_run_tokens=8, insertions=True).runs == ()


def _with_context(tokenizer, snippet: str, text: str):
    """The serving prompt of `text` (cursor at its end) with one other file, `snippet`, before it."""
    config = PromptConfig(max_prefix_tokens=1024, max_suffix_tokens=64, max_context_tokens=512)
    fim_input = FimInput(text, "\n", path="main.py", extra_files=(prompt.ExtraFile("util.py", snippet),))
    return prompt.build(fim_input, tokenizer.tokenize, config).tokens


def test_new_context_before_a_cached_file_is_evaluated_alone_and_the_file_shifted_right(
    shifting_engine, tokenizer
):
    text = "".join(f"def add_{i}(x):\n    return x + {i}\n" for i in range(40)) + "def add_40(x):\n"
    before = _with_context(tokenizer, "def helper(a, b):\n    return a * b\n", text)
    longer = "".join(f"def helper_{i}(a, b):\n    return a * b + {i}\n" for i in range(6))
    after = _with_context(tokenizer, longer, text)  # another file's context changed: the file moves right
    plan = reuse_plan(before, after, min_run_tokens=32, insertions=True)
    assert plan.gap_tokens >= 50 and plan.reused >= len(after) - plan.gap_tokens - 4
    shifting_engine.reset()
    shifting_engine.prefill(before)
    shifted = shifting_engine.generate(after, GenerationConfig(max_tokens=8))
    assert shifted.timings.prompt_tokens_evaluated == len(after) - plan.reused  # the gap and the last token
    assert shifting_engine.cached_tokens[: len(after)] == tuple(after)
    again = shifting_engine.generate(after, GenerationConfig(max_tokens=8))
    assert again.timings.prompt_tokens_evaluated == 1 and again.text == shifted.text  # a consistent cache
    shifting_engine.reset()
    fresh = shifting_engine.generate(after, GenerationConfig(max_tokens=8))
    assert fresh.text == shifted.text and shifted.text.startswith("    return x + 40")  # despite stale keys


def _cached_file_then_new_context(engine, tokenizer, name: str, op: str, constant: str):
    """Cache a file of 41 functions after a one-line other file; return the prompt whose other file has
    80 lines instead, and its gap (start, end): the new text before the cached file, now a run."""
    text = "".join(f"def {name}_{i}(x):\n    return x {op} {i}\n" for i in range(40)) + f"def {name}_40(x):\n"
    before = _with_context(tokenizer, "A = 1\n", text)
    after = _with_context(tokenizer, "".join(f"{constant}_{i} = {i}\n" for i in range(80)), text)
    gap_start, gap_end = reuse_plan(before, after, min_run_tokens=32, insertions=True).gaps[0]
    engine.reset()
    engine.prefill(before)
    return after, gap_start, gap_end


def _assert_holds_the_prompt_up_to_then_the_file(cached, prompt_tokens, done: int, gap_end: int) -> None:
    """The cache holds the prompt up to `done`, then the file that followed the gap, moved left."""
    assert cached[:done] == tuple(prompt_tokens[:done])
    assert cached[done:] == tuple(prompt_tokens[gap_end : len(cached) - done + gap_end])
    assert len(cached) > done + 300


def test_a_cancel_inside_new_context_keeps_what_it_evaluated_and_the_file_after_it(
    shifting_engine, tokenizer
):
    after, gap_start, gap_end = _cached_file_then_new_context(shifting_engine, tokenizer, "mul", "*", "B")
    calls = []
    with pytest.raises(Cancelled):  # batches of 64: the gap's first token, its first batch, then cancelled
        shifting_engine.prefill(after, cancel=lambda: calls.append(1) or len(calls) > 1)
    done = gap_start + 1 + 64
    assert gap_end - gap_start > 65 + 64
    _assert_holds_the_prompt_up_to_then_the_file(shifting_engine.cached_tokens, after, done, gap_end)
    snapshot = shifting_engine.snapshot()  # taken before any other decode: the moved keys were rotated
    shifting_engine.reset()
    shifting_engine.restore(snapshot)
    resumed = shifting_engine.generate(after, GenerationConfig(max_tokens=8))
    assert (
        resumed.timings.prompt_tokens_evaluated == gap_end - done + 1
    )  # the rest of the gap, the last token
    assert resumed.text.startswith("    return x * 40")


def test_a_prefill_stopped_inside_new_context_keeps_what_it_evaluated_and_the_file_after_it(
    shifting_engine, tokenizer
):
    after, gap_start, gap_end = _cached_file_then_new_context(shifting_engine, tokenizer, "sub", "-", "C")
    assert gap_end - gap_start > 200
    stop = gap_start + 100  # a warm-up's share of a request's budget, inside the new context
    evaluated, _ = shifting_engine.prefill(after, stop_at=stop)
    assert evaluated == 100
    _assert_holds_the_prompt_up_to_then_the_file(shifting_engine.cached_tokens, after, stop, gap_end)
    resumed = shifting_engine.generate(after, GenerationConfig(max_tokens=8))
    assert resumed.timings.prompt_tokens_evaluated == gap_end - stop + 1  # the rest of the gap, the last
    assert resumed.text.startswith("    return x - 40")


def test_a_prefill_stopped_after_the_cached_runs_holds_the_prompt_up_to_the_stop(shifting_engine, tokenizer):
    text = "".join(f"def div_{i}(x):\n    return x / {i + 1}\n" for i in range(40)) + "def div_40(x):\n"
    prompt_tokens = _with_context(tokenizer, "D = 4\n", text)
    shifting_engine.reset()
    evaluated, reused = shifting_engine.prefill(prompt_tokens, stop_at=300)
    assert (evaluated, reused) == (300, 0) and shifting_engine.cached_tokens == tuple(prompt_tokens[:300])
    rest = shifting_engine.generate(prompt_tokens, GenerationConfig(max_tokens=8))
    assert rest.timings.prompt_tokens_evaluated == len(prompt_tokens) - 300


def test_planning_reuse_over_a_repetitive_file_costs_a_bounded_time():
    import time

    # a file of `x\n` lines edited at its top: every gram matches everywhere, and each run found follows the
    # file's own new text (not reusable), so the search went on through every match: 24.8 s for these
    cached = [fim.FIM_PREFIX, 7, *[11, 12] * 1000, fim.FIM_SUFFIX, fim.FIM_MIDDLE]
    prompt_tokens = [fim.FIM_PREFIX, 8, *[11, 12] * 1000, fim.FIM_SUFFIX, fim.FIM_MIDDLE]
    started = time.monotonic()
    plan = reuse_plan(cached, prompt_tokens, 32, insertions=True)
    assert time.monotonic() - started < 2 and plan.head == 1
