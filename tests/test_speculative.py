"""Speculative decoding (the quality-tier issue, item 2): the drafts themselves, and the real engine verifying
them with two real models (nanocomplete-0.5b as the target, qwen2.5-coder-0.5b-instruct drafting, the pair
the tests have; `nanocomplete bench speculative` runs the 1.5B pair)."""

import pytest

from nanocomplete import draft, models, prompt
from nanocomplete.bench import tie_margin
from nanocomplete.config import EngineConfig, GenerationConfig
from nanocomplete.engine import Engine
from nanocomplete.errors import EngineError
from nanocomplete.evals import tasks

# a flip of the best token between batched and single-token decodes happens only at near-ties
# (docs/numerics.md: the two kernels differ by up to ~0.1 in log-probability)
NEAR_TIE = 0.15


@pytest.mark.parametrize(
    ("tokens", "max_tokens", "expected"),
    [
        ([1, 2, 3, 9, 1, 2, 3], 2, [9, 1]),  # the 3-gram recurs: what followed it
        ([1, 2, 3, 9, 1, 2, 3], 9, [9, 1, 2, 3]),  # as much as follows, up to the end
        ([5, 2, 3, 7, 8, 2, 3], 1, [7]),  # only the 2-gram recurs
        ([4, 9, 6, 3, 1, 4, 5, 9], 3, [6, 3, 1]),  # only the 1-gram recurs
        ([1, 2, 8, 1, 2, 9, 1, 2], 2, [9, 1]),  # the most recent occurrence wins
        ([1, 2, 3, 4], 4, []),  # nothing recurs
        ([7], 4, []),
        ([], 4, []),
        ([1, 2, 1, 2], 0, []),
    ],
)
def test_prompt_lookup_drafts_what_followed_the_latest_repeat_of_the_longest_tail(
    tokens, max_tokens, expected
):
    assert draft.prompt_lookup(tokens, max_tokens) == expected


@pytest.mark.parametrize(
    ("guess", "choices", "accepted"),
    [([5, 6, 7], [5, 6, 7, 8], 3), ([5, 6, 7], [5, 0, 7, 8], 1), ([5], [4, 5], 0), ([], [3], 0)],
)
def test_a_draft_is_accepted_up_to_the_first_token_the_target_would_not_choose(guess, choices, accepted):
    assert draft.accepted_length(guess, choices) == accepted


def test_an_unknown_drafter_is_a_settings_error():
    with pytest.raises(ValueError, match="unknown draft"):
        GenerationConfig(draft="medusa")


@pytest.fixture(scope="module")
def target() -> Engine:
    config = EngineConfig(context_window_tokens=4096, batch_tokens=64, draft_model=models.BASE_MODEL)
    return Engine.for_model(models.DEFAULT_MODEL, config)


@pytest.fixture(scope="module")
def prompts(target) -> list[list[int]]:
    """Real prompts: a seeded sample of HumanEval multi-line infilling (bodies of up to 32 tokens)."""
    examples = tasks.examples_for(tasks.get_task("humaneval-fim-multi"), 4, seed=1)
    return [prompt.build(example.fim_input(), target.tokenize).tokens for example in examples]


@pytest.mark.parametrize("drafter", ["lookup", "model"])
def test_speculative_greedy_output_is_the_target_decoding_alone(target, prompts, drafter):
    drafted = accepted = 0
    for tokens in prompts:
        plain = target.generate(tokens, GenerationConfig())
        spec = target.generate(tokens, GenerationConfig(draft=drafter, draft_max_tokens=4))
        if spec.token_ids != plain.token_ids:  # only a rounding flip of a near-tie may differ
            assert tie_margin(target, tokens, plain.token_ids, spec.token_ids) < NEAR_TIE
        drafted += spec.timings.draft_tokens
        accepted += spec.timings.draft_accepted_tokens
    assert accepted > 0 and drafted >= accepted  # the drafts were verified, and some were right


def test_a_rejected_draft_leaves_nothing_in_the_kv_cache(target, prompts):
    for tokens in prompts:
        spec = target.generate(tokens, GenerationConfig(draft="model", draft_max_tokens=8))
        if spec.timings.draft_tokens > spec.timings.draft_accepted_tokens:  # some draft was rejected
            break
    else:
        pytest.fail("every draft was accepted: no prompt here tests a rejection")
    cached = target.cached_tokens
    assert cached == tuple([*tokens, *spec.token_ids])[: len(cached)]
    again = target.generate(tokens, GenerationConfig()).timings
    assert (again.prompt_tokens_evaluated, again.prompt_tokens_reused) == (1, len(tokens) - 1)


def test_a_model_draft_without_a_draft_model_is_an_engine_error(engine):
    with pytest.raises(EngineError, match="draft_model"):
        engine.generate([1, 2, 3], GenerationConfig(draft="model"))
