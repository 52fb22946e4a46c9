"""The `nanocomplete` command. Errors become messages on stderr and exit code 1 here, nowhere else."""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import tempfile
from pathlib import Path

from nanocomplete import config, models
from nanocomplete.config import GenerationConfig, add_settings_flags, settings_from_args
from nanocomplete.errors import NanocompleteError
from nanocomplete.evals.tasks import CURSORS


def main(argv: list[str] | None = None) -> int:
    parser = make_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except NanocompleteError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nanocomplete", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    listing = commands.add_parser("models", help="list the registered models and whether they are pulled")
    listing.set_defaults(run=run_models)

    pull = commands.add_parser("pull", help="fetch, verify and cache a registered model")
    pull.add_argument(
        "name", nargs="?", default=models.DEFAULT_MODEL, help="model name (default: %(default)s)"
    )
    pull.add_argument("--force", action="store_true", help="fetch again even if it is cached")
    pull.add_argument("--source", choices=("offline", "hub"), help="only try this kind of source")
    pull.add_argument("--verbose", action="store_true", help="show llama.cpp's log while merging an adapter")
    pull.set_defaults(run=run_pull)

    complete = commands.add_parser("complete", help="complete FILE at a cursor position")
    complete.add_argument("file", type=Path, help="the source file")
    complete.add_argument("--line", type=int, required=True, help="cursor line, 1-based as editors show it")
    complete.add_argument("--col", type=int, required=True, help="cursor column in characters, 1-based")
    _add_model_flag(complete)
    complete.add_argument(
        "--json",
        action="store_true",
        help="the whole result as JSON, with the prompt the model saw, the context files and the timings",
    )
    complete.add_argument(
        "--workspace", type=Path, help="project root: index it and add cross-file context from its files"
    )
    complete.add_argument("--repo-name", help="repository name for the repo-level prompt format")
    complete.add_argument(
        "--extra-file",
        type=Path,
        action="append",
        default=[],
        help="another file to show the model (repeatable)",
    )
    add_settings_flags(complete, ("engine", "prompt", "context", "index", "generation", "postprocess"))
    complete.set_defaults(run=run_complete)

    bench = commands.add_parser("bench", help="benchmarks")
    bench_kinds = bench.add_subparsers(required=True, metavar="KIND")
    engine = bench_kinds.add_parser("engine", help="prompt-eval and generation speed of each installed model")
    engine.add_argument(
        "--model", action="append", help="model name or .gguf path (repeatable; default: every pulled model)"
    )
    engine.add_argument("--repeats", type=int, default=3, help="runs per measurement; medians are reported")
    engine.add_argument("--prompt-tokens", type=int, nargs="+", default=[16, 128, 512, 2048])
    add_settings_flags(engine, ("engine",))
    engine.set_defaults(run=run_bench_engine)

    serve = commands.add_parser(
        "serve", help="run the completion server (127.0.0.1:8012 unless told otherwise)"
    )
    _add_model_flag(serve)
    serve.add_argument(
        "--telemetry-db", type=Path, help="SQLite file for editor events (default: XDG state dir)"
    )
    add_settings_flags(
        serve,
        ("server", "engine", "tier", "prompt", "context", "index", "generation", "postprocess"),
        config.SERVING_BASES,
    )
    serve.set_defaults(run=run_serve)

    tasks = commands.add_parser("tasks", help="list the evaluation tasks")
    tasks.set_defaults(run=run_tasks)

    evaluate = commands.add_parser(
        "eval", help="run an evaluation task: generate, then score in a separate process"
    )
    evaluate.add_argument("task", help="task name (see `nanocomplete tasks`)")
    _add_model_flag(evaluate)
    evaluate.add_argument("--limit", type=int, help="a seeded random sample of this many examples")
    evaluate.add_argument(
        "--seed", type=int, default=0, help="sampling seed for --limit (default: %(default)s)"
    )
    evaluate.add_argument(
        "--leave-out",
        type=int,
        default=None,
        help="first leave out the seeded sample of this many examples (a test set: confirm there what was "
        "chosen on it), then sample --limit from the rest",
    )
    evaluate.add_argument(
        "--cursor",
        choices=CURSORS,
        default="line-start",
        help="cursor at the start of the reference line, after its first typed word (typed), the same on a "
        "line of its own as after Enter (own-line), after its first opening bracket with the editor's "
        "auto-closed characters right of it (auto-closed), after its first member access's dot "
        "(after-dot) or after the first two letters of its first word of 4 or more (mid-word)",
    )
    evaluate.add_argument(
        "--as-served",
        action="store_true",
        help="prompt settings start from what `serve` uses for a file it holds (config.SERVING_FULL_PROMPT: "
        "the serving prompt without the cold_prompt_tokens bound, which --cold-prompt-tokens measures) "
        "instead of the CLI's; flags given still override them. The gate is not applied (`nanocomplete "
        "gate RUN` replays it)",
    )
    evaluate.add_argument("--setting", help="only examples of this setting, e.g. cross_file_first")
    evaluate.add_argument(
        "--out", type=Path, help="run directory (default: out/eval/TASK--MODEL--CURSOR--LAYOUT)"
    )
    evaluate.add_argument("--workers", type=int, default=2, help="programs executed at once while scoring")
    add_settings_flags(evaluate, ("engine", "prompt", "context"))
    evaluate.set_defaults(run=run_eval)

    report = commands.add_parser(
        "report", help="a Markdown report with tables and plots from run directories"
    )
    report.add_argument("run_dirs", type=Path, nargs="+")
    report.add_argument(
        "--out", type=Path, required=True, help="the Markdown file to write (plots go beside it)"
    )
    report.set_defaults(run=run_report)

    restore = bench_kinds.add_parser(
        "restore",
        help="a restarted server's first request: a KV snapshot read from disk vs evaluating the prompt",
    )
    _add_model_flag(restore)
    restore.add_argument(
        "--prompt-tokens",
        type=int,
        nargs="+",
        default=[512, 1024, 2048],
        help="prompt sizes (default: %(default)s)",
    )
    restore.add_argument(
        "--repeats", type=int, default=3, help="median of this many runs (default: %(default)s)"
    )
    add_settings_flags(restore, ("engine",))
    restore.set_defaults(run=run_bench_restore)

    speculative = bench_kinds.add_parser(
        "speculative",
        help="speculative decoding: the cost of verifying n tokens; each drafter against the target alone",
    )
    _add_model_flag(speculative)
    speculative.add_argument(
        "--task",
        default="humaneval-fim-multi",
        help="prompts from this evaluation task (default: %(default)s)",
    )
    speculative.add_argument(
        "--limit", type=int, default=20, help="prompts (a seeded sample; default: %(default)s)"
    )
    speculative.add_argument(
        "--draft-max-tokens",
        type=int,
        nargs="+",
        default=[2, 4, 8],
        help="draft lengths to try for each drafter (default: %(default)s)",
    )
    speculative.add_argument(
        "--repeats", type=int, default=5, help="verify-cost timings per size; medians (default: %(default)s)"
    )
    add_settings_flags(speculative, ("engine",))
    speculative.set_defaults(run=run_bench_speculative)

    ctx = bench_kinds.add_parser("context", help="workspace indexing time and context selection time")
    ctx.add_argument("root", type=Path, help="a project directory to index")
    ctx.add_argument("--requests", type=int, default=200, help="cursor positions to select context for")
    ctx.add_argument("--max-context-tokens", type=int, default=1024, help="the context budget")
    _add_model_flag(ctx)
    ctx.set_defaults(run=run_bench_context)

    index = bench_kinds.add_parser(
        "index", help="completion latency beside workspace indexing, and the index's memory"
    )
    index.add_argument(
        "--root", type=Path, help="the workspace to index (default: a synthetic tree of --files files)"
    )
    index.add_argument("--files", type=int, default=50_000, help="files in the synthetic tree")
    index.add_argument(
        "--pairs", type=int, default=10, help="paired completions (in / outside the workspace)"
    )
    index.add_argument("--out", type=Path, help="also write the results as JSON here")
    _add_model_flag(index)
    add_settings_flags(index, ("engine", "index"))
    index.set_defaults(run=run_bench_index)

    coverage = bench_kinds.add_parser(
        "coverage",
        help="how much of the names a cross-file completion needs each context arm shows (no model)",
    )
    coverage.add_argument("--languages", default="python,typescript", help="comma-separated")
    coverage.add_argument(
        "--budgets", default="256,512,1024,2048", help="context token budgets, comma-separated"
    )
    coverage.add_argument("--limit", type=int, default=None, help="examples per language (default: all)")
    coverage.add_argument("--setting", default="cross_file_first", help="benchmark setting")
    coverage.add_argument("--seed", type=int, default=0, help="example sample seed")
    _add_model_flag(coverage)
    coverage.set_defaults(run=run_bench_coverage)

    replay = bench_kinds.add_parser(
        "replay",
        help="seeded editing sessions over HTTP on unseen code: ours as served, naive, and llama.vscode's "
        "requests to llama.cpp's llama-server",
    )
    _add_model_flag(replay)
    replay.add_argument(
        "--arms",
        default="served,naive,peer",
        help="comma-separated, of served, naive, peer (default: %(default)s)",
    )
    replay.add_argument(
        "--language",
        default="python,typescript",
        help="languages of the pinned replay repositories, comma-separated (default: %(default)s)",
    )
    replay.add_argument("--repo", type=Path, help="replay a local checkout instead (give its one --language)")
    replay.add_argument(
        "--session-seed", type=int, default=0, help="seed of the typing sessions (default: %(default)s)"
    )
    replay.add_argument(
        "--sessions-per-repo",
        type=int,
        default=1,
        help="seeded sessions in each repository (default: %(default)s; one full session: ~140-230 requests)",
    )
    replay.add_argument(
        "--visits",
        type=int,
        help="only the first N of each session's 11 visits (default: all; 4 covers every request kind)",
    )
    replay.add_argument(
        "--naive-requests",
        type=int,
        default=60,
        help="served requests the naive arm replays (a seeded sample; default: %(default)s)",
    )
    replay.add_argument(
        "--auto-close",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the editor closes brackets and quotes as they are typed, as VS Code does (default: on; "
        "--no-auto-close for the typist of replays before 2026-12-01)",
    )
    replay.add_argument(
        "--typing-ms-per-char",
        type=float,
        default=0.0,
        help="the typist's time per typed character, idle for the server (default: %(default)s, the next "
        "request the moment an answer comes; 150 is ~80 words a minute)",
    )
    replay.add_argument(
        "--switch-pause-ms",
        type=float,
        default=0.0,
        help="the typist's pause after opening a file, before typing (default: %(default)s)",
    )
    replay.add_argument("--out", type=Path, help="run directory (default: out/bench/replay-MODEL)")
    replay.add_argument(
        "--show",
        type=Path,
        metavar="RUN_DIR",
        help="print the tables of a finished run (its replay.json) and exit",
    )
    replay.add_argument(
        "--pair",
        type=Path,
        nargs=2,
        metavar=("OURS_ARM_DIR", "PEER_ARM_DIR"),
        help="ours ÷ peer from two finished arms of the same sessions (RUN/served OTHER_RUN/peer), and exit; "
        "several arms joined by commas on both sides are pooled (one per language, in the same order)",
    )
    add_settings_flags(
        replay, ("engine", "tier", "prompt", "context", "generation", "postprocess"), config.SERVING_BASES
    )
    replay.set_defaults(run=run_bench_replay)

    compare = commands.add_parser(
        "compare", help="paired difference of a metric between two scored runs (B - A)"
    )
    compare.add_argument("run_a", help="a scored run directory, or several joined by commas (pooled)")
    compare.add_argument("run_b", help="as many run directories, paired with run_a's in order")
    compare.add_argument(
        "--metric", default="em", help="a score name in results.jsonl (default: %(default)s)"
    )
    compare.set_defaults(run=run_compare)

    gate = commands.add_parser(
        "gate",
        help="the confidence gate's trade-off (shown vs quality) from scored runs, or from served replay "
        "arms run with the gate off (`bench replay --arms served --min-mean-logprob -99`; the arm folders)",
    )
    gate.add_argument("run_dirs", type=Path, nargs="+")
    gate.add_argument("--metric", default="em", help="the acceptance proxy (default: %(default)s)")
    gate.add_argument(
        "--reference",
        type=float,
        default=config.SERVING_POSTPROCESS.min_mean_logprob,
        help="replay arms: accepted characters are compared with those at this threshold (default: the "
        "serving gate, %(default)s)",
    )
    gate.add_argument(
        "--tier",
        choices=("fast", "quality"),
        help="replay arms of `--tier auto`: vary the threshold for this tier's answers only, the other "
        "tier's at --reference (default: every answer)",
    )
    gate.set_defaults(run=run_gate)

    misses = commands.add_parser(
        "misses",
        help="why the typist took nothing of shown answers, by request kind, from served replay arms "
        "(their folders; replays since 2026-12-03 keep what the typist was about to type)",
    )
    misses.add_argument("arm_dirs", type=Path, nargs="+")
    misses.set_defaults(run=run_misses)

    register = commands.add_parser(
        "register",
        help="write how to start this server for editors to find (make setup runs it; Dash reads it)",
    )
    register.add_argument(
        "serve_flags",
        nargs=argparse.REMAINDER,
        help="flags for `serve`, after `--` (`register -- --threads 2`)",
    )
    register.set_defaults(run=run_register)

    settings = commands.add_parser(
        "settings", help="print every setting with its default as a Markdown table"
    )
    settings.set_defaults(run=lambda args: print(config.settings_table(), end="") or 0)
    return parser


def _add_model_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=models.DEFAULT_MODEL,
        help="model name or path to a .gguf file (default: %(default)s)",
    )


def _serving_settings(args: argparse.Namespace):
    """Settings for the server and the replay benchmark: the flags given, over `config.SERVING_BASES`."""
    from nanocomplete.completion import Settings

    bases = config.SERVING_BASES
    return Settings(
        settings_from_args(args, "prompt", bases["prompt"]),
        settings_from_args(args, "generation", bases["generation"]),
        settings_from_args(args, "postprocess", bases["postprocess"]),
    )


def run_register(args: argparse.Namespace) -> int:
    from nanocomplete import launcher

    flags = [flag for flag in args.serve_flags if flag != "--"]
    make_parser().parse_args(["serve", *flags])  # refuses what `serve` would refuse, now
    path, command = launcher.register(flags)
    print(f"editors start the server with: {' '.join(command)}\n(written to {path})")
    return 0


def run_models(args: argparse.Namespace) -> int:
    pulled = set(models.installed())
    for spec in models.REGISTRY.values():
        mark = "*" if spec.name == models.DEFAULT_MODEL else " "
        state = "pulled" if spec.name in pulled else "not pulled"
        size = f"{spec.size_bytes / 1e6:,.0f} MB" if spec.size_bytes else "size from hub"
        print(f"{mark} {spec.name:30} {state:11} {size:>14}  {spec.description}")
        for source in spec.sources:
            print(f"  {'':30} source: {source.describe()}")
        if spec.adapter:
            print(f"  {'':30} adapter: {models.ADAPTER_DIR / spec.adapter} over {spec.base}")
            merged = models.merged_path(spec)
            unmerged = (
                f"not merged yet ({spec.tensor_type}): `nanocomplete pull {spec.name}`"
                if spec.tensor_type
                else "applied at load time until pulled (merged)"
            )
            how = f"merged: {merged}" if merged.is_file() else unmerged
            print(f"  {'':30} {how}")
    print(f"\n* default model; cache: {models.cache_dir()}")
    return 0


def run_pull(args: argparse.Namespace) -> int:
    path = models.pull(args.name, force=args.force, source_kind=args.source, verbose=args.verbose)
    print(path)
    return 0


def run_complete(args: argparse.Namespace) -> int:
    from nanocomplete.completion import Completer, Settings, fim_input_at, prepare, prompt_explanation
    from nanocomplete.engine import Engine
    from nanocomplete.prompt import ExtraFile

    text = _read_text(args.file)
    extra = tuple(ExtraFile(str(path), _read_text(path)) for path in args.extra_file)
    fim_input = fim_input_at(text, args.line, args.col, str(args.file), args.repo_name, extra, first=1)
    engine = Engine.for_model(args.model, settings_from_args(args, "engine"))
    settings = Settings(
        settings_from_args(args, "prompt"),
        settings_from_args(args, "generation"),
        settings_from_args(args, "postprocess"),
    )
    if args.workspace is not None:
        fim_input = _with_workspace_context(
            fim_input, args, engine.tokenize, settings.prompt.max_context_tokens
        )
    prepared = prepare(fim_input, engine.tokenize, settings)
    completion = Completer(engine, settings).complete_prepared(prepared)
    if args.json:
        explained = {
            **dataclasses.asdict(completion),
            **prompt_explanation(prepared.prompt, engine.detokenize),
            "cache": "hit" if completion.timings.prompt_tokens_reused else "miss",
        }
        print(json.dumps(explained, indent=2))
    else:
        print(completion.text if completion.text else "(no completion)")
        print(_describe(completion), file=sys.stderr)
    return 0


def _with_workspace_context(fim_input, args: argparse.Namespace, tokenize, budget_tokens: int):
    from nanocomplete import context
    from nanocomplete.index import WorkspaceIndex

    root = args.workspace.resolve()
    try:
        relative = args.file.resolve().relative_to(root).as_posix()
    except ValueError:
        raise NanocompleteError(f"{args.file} is not inside the workspace {root}") from None
    index = WorkspaceIndex(root, settings_from_args(args, "index"))
    stats = index.refresh()
    if stats.capped_by:
        bound = f"{stats.capped_by} bound ({stats.files} files)"
        print(f"the workspace index stopped at its {bound}", file=sys.stderr)
    fim_input = dataclasses.replace(fim_input, path=relative, repo_name=fim_input.repo_name or root.name)
    return context.attach(
        fim_input, index.workspace, tokenize, budget_tokens, settings_from_args(args, "context")
    )[0]


def _model_label(model: str) -> str:
    """A registered name as is; a .gguf path by its file name."""
    return Path(model).stem if model.endswith(".gguf") else model


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise NanocompleteError(f"cannot read {path}: {error}") from error


def _describe(completion) -> str:
    t = completion.timings
    confidence = (
        f"mean {completion.mean_logprob:.2f}, min {completion.min_logprob:.2f}"
        if completion.mean_logprob is not None
        else "n/a"
    )
    return (
        f"prompt {t.prompt_tokens} tokens "
        f"({t.prompt_tokens_evaluated} evaluated, {t.prompt_tokens_reused} reused) "
        f"{t.prompt_ms:.0f} ms · generated {t.tokens_generated} tokens {t.generation_ms:.0f} ms "
        f"({completion.stop_reason}) · token log-prob {confidence}"
    )


def run_bench_engine(args: argparse.Namespace) -> int:
    from nanocomplete import bench

    names = args.model or models.installed()
    if not names:
        raise NanocompleteError("no model is pulled: run `nanocomplete pull` first")
    rows = [
        bench.engine_speed(name, settings_from_args(args, "engine"), args.prompt_tokens, args.repeats)
        for name in names
    ]
    print(bench.engine_table(rows, args.prompt_tokens))
    return 0


def run_bench_restore(args: argparse.Namespace) -> int:
    from nanocomplete import bench
    from nanocomplete.engine import Engine

    config = settings_from_args(args, "engine")
    engine = Engine.for_model(args.model, config)
    with tempfile.TemporaryDirectory(prefix="nanocomplete-restore-") as folder:
        rows = bench.restore_speed(engine, args.prompt_tokens, args.repeats, Path(folder))
    print(bench.restore_table(_model_label(args.model), config.resolved_threads(), rows))
    return 0


def run_bench_speculative(args: argparse.Namespace) -> int:
    from nanocomplete import bench, prompt
    from nanocomplete.engine import Engine
    from nanocomplete.evals import tasks

    config = settings_from_args(args, "engine")
    target = Engine.for_model(args.model, config)
    verify = {_model_label(args.model): bench.verify_cost_ms(target, args.repeats)}
    if target.draft_engine is not None:
        verify[_model_label(config.draft_model)] = bench.verify_cost_ms(target.draft_engine, args.repeats)
    examples = tasks.examples_for(tasks.get_task(args.task), args.limit, seed=0)
    prompts = [prompt.build(example.fim_input(), target.tokenize).tokens for example in examples]
    drafts = ["lookup"] + (["model"] if target.draft_engine is not None else [])
    arms = {
        f"{draft} k={k}": GenerationConfig(draft=draft, draft_max_tokens=k)
        for draft in drafts
        for k in args.draft_max_tokens
    }
    samples = bench.speculative_samples(target, prompts, arms)
    label = _model_label(config.draft_model) if config.draft_model else ""
    print(
        bench.speculative_table(_model_label(args.model), label, config.resolved_threads(), verify, samples)
    )
    return 0


def run_bench_context(args: argparse.Namespace) -> int:
    from nanocomplete import bench
    from nanocomplete.engine import Tokenizer

    tokenizer = Tokenizer(models.resolve(args.model))
    speed = bench.context_speed(args.root, tokenizer.tokenize, args.max_context_tokens, args.requests)
    print(f"machine: {bench.machine_description()}")
    for name, value in dataclasses.asdict(speed).items():
        print(f"{name}: {value:.3f}" if isinstance(value, float) else f"{name}: {value}")
    return 0


def run_bench_index(args: argparse.Namespace) -> int:
    import tempfile

    from nanocomplete import bench, storage
    from nanocomplete.engine import Engine

    engine = Engine.for_model(args.model, settings_from_args(args, "engine"))
    with tempfile.TemporaryDirectory(prefix="nanocomplete-tree-") as scratch:
        root = args.root.resolve() if args.root else Path(scratch)
        if args.root is None:
            bench.synthetic_tree(root, args.files)
        result = bench.index_under_load(
            engine, _model_label(args.model), root, settings_from_args(args, "index"), args.pairs
        )
    print(bench.index_table(result))
    if args.out:
        storage.write_atomic(args.out, json.dumps(dataclasses.asdict(result), indent=1).encode())
    return 0


def run_bench_coverage(args: argparse.Namespace) -> int:
    from nanocomplete.engine import Tokenizer
    from nanocomplete.evals import coverage

    tokenizer = Tokenizer(models.resolve(args.model))
    budgets = [int(b) for b in args.budgets.split(",")]
    rows = []
    for language in args.languages.split(","):
        rows += coverage.measure(language, tokenizer.tokenize, budgets, args.limit, args.seed, args.setting)
    print(coverage.table(rows))
    return 0


def run_bench_replay(args: argparse.Namespace) -> int:
    from nanocomplete import models, replay, typist
    from nanocomplete.config import ServerConfig
    from nanocomplete.server import free_port

    if args.pair is not None:
        try:
            print(replay.paired_arms(*args.pair))
        except ValueError as error:
            print(f"error: {error}")
            return 2
        return 0
    if args.show is not None:
        path = args.show / "replay.json"
        if not path.is_file():
            print(f"error: {path} does not exist (a finished `bench replay` writes it)")
            return 2
        print(replay.report(json.loads(path.read_text())))
        return 0
    arms = [a for a in args.arms.split(",") if a]
    unknown = sorted(set(arms) - set(replay.ARMS))
    languages = [lang for lang in args.language.split(",") if lang]
    if unknown:
        print(f"error: unknown arm {', '.join(unknown)} (arms: {', '.join(replay.ARMS)})")
        return 2
    unknown = sorted(set(languages) - set(replay.LANGUAGE_SUFFIXES))
    if unknown:
        print(
            f"error: unknown language {', '.join(unknown)} (languages: {', '.join(replay.LANGUAGE_SUFFIXES)})"
        )
        return 2
    repos = [dataclasses.replace(r, visits=args.visits) for r in replay_repos(args.repo, languages)]
    engine_config = settings_from_args(args, "engine")
    engines = _tier_engines(args, engine_config)
    settings = _serving_settings(args)

    kv_dir = tempfile.mkdtemp(prefix="nanocomplete-replay-kv-")  # snapshots on disk, as served; removed after

    def service_factory(reuse_kv: bool):
        for engine, _ in engines.values():
            engine.reset()
        server = ServerConfig(port=free_port(), kv_snapshot_dir=kv_dir)
        service = _completion_service(engines, settings, args, server, reuse_kv=reuse_kv)
        return service, server

    peer_server = None
    if "peer" in arms:
        binary = replay.llama_server_binary()
        files = models.resolve_files(args.model)
        threads = engine_config.resolved_threads()

        def peer_server():
            return replay.LlamaServer(binary, files.model, threads, files.adapter, args.session_seed)

    out = args.out or Path("out/bench") / f"replay-{_model_label(args.model)}"
    try:
        result = replay.run(
            repos, arms, service_factory, peer_server, out, args.session_seed, args.naive_requests,
            args.sessions_per_repo,
            typist.Habits(args.auto_close, args.typing_ms_per_char, args.switch_pause_ms),
        )  # fmt: skip
    finally:
        shutil.rmtree(kv_dir, ignore_errors=True)
    print(replay.report(result))
    print(
        f"\nresults: {out}/ (replay.json; per arm: summary.json, {replay.REQUESTS_FILE}, results.jsonl for "
        "compare)"
    )
    return 0


def replay_repos(local: Path | None, languages: list[str]):
    """The replay's repositories: a local checkout, or the pinned replay repositories of `languages`."""
    from nanocomplete import replay
    from nanocomplete.corpus import pins, sources
    from nanocomplete.evals import crossfile

    if local is not None:
        if len(languages) != 1:
            raise SystemExit("error: --repo needs exactly one --language")
        package = sources.directory_package(local, local.name)
        suffixes = replay.LANGUAGE_SUFFIXES[languages[0]]
        return [replay.Repo(str(local), languages[0], dict(package.files), suffixes)]
    archives = crossfile.default_out_dir() / "archives"
    repos = []
    for language, pin, suffixes in pins.REPLAY_PINS:
        if language in languages:
            package = sources.load_package(pin, archives)
            repos.append(replay.Repo(f"{pin.name} {pin.version}", language, dict(package.files), suffixes))
    return repos


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from nanocomplete.engine import backend_description, build_features
    from nanocomplete.server import HeaderDeadlineProtocol, create_app
    from nanocomplete.telemetry import EventStore, default_database

    server = settings_from_args(args, "server")
    if not server.listens_on_loopback() and not server.api_token:
        print(f"warning: listening on {server.host} without --api-token: anyone who can reach it can use it")
    settings = _serving_settings(args)
    engine_settings = settings_from_args(args, "engine")
    if settings.generation.draft == "model" and not engine_settings.draft_model:
        raise NanocompleteError("--draft model needs --draft-model NAME (the model that drafts)")
    engines = _tier_engines(args, engine_settings)
    for tier, (engine, name) in engines.items():
        print(f"{tier} tier: {name}; engine: {backend_description(engine)}; {build_features()}", flush=True)
    events = EventStore(args.telemetry_db or default_database(), server.store_code_in_telemetry)
    service = _completion_service(engines, settings, args, server, events)
    if server.log_prompts:
        import logging

        from nanocomplete.service import PROMPT_LOG

        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s prompt: %(message)s"))
        PROMPT_LOG.addHandler(handler)
        PROMPT_LOG.setLevel(logging.INFO)
    app = create_app(service, server)
    uvicorn.run(app, host=server.host, port=server.port, log_level="info", http=HeaderDeadlineProtocol)
    return 0


def _tier_engines(args: argparse.Namespace, engine_config) -> dict:
    """{"fast": (engine, label)} for `--model`, and "quality" for `--quality-model` when given (then only
    the quality tier's engine loads `--draft-model`: the fast model does not draft for itself)."""
    from nanocomplete.engine import Engine

    tiers = settings_from_args(args, "tier")
    if not tiers.quality_model:
        return {"fast": (Engine.for_model(args.model, engine_config), _model_label(args.model))}
    fast_config = dataclasses.replace(engine_config, draft_model="")
    return {
        "fast": (Engine.for_model(args.model, fast_config), _model_label(args.model)),
        "quality": (Engine.for_model(tiers.quality_model, engine_config), _model_label(tiers.quality_model)),
    }


def _completion_service(
    engines: dict, settings, args: argparse.Namespace, server, events=None, reuse_kv=True
):
    """The service `serve` and the replay run: one tier's `CompletionService`, or the `TieredService`
    of the fast and quality tiers, each tier's costs measured first (a request may ask for `auto` under
    any `--tier`: Dash's `nanocomplete.tier` can be set per language)."""
    from nanocomplete.service import CompletionService
    from nanocomplete.tiers import TieredService

    context, index = settings_from_args(args, "context"), settings_from_args(args, "index")
    if len(engines) == 1:
        engine, name = engines["fast"]
        return CompletionService(engine, name, settings, context, server, events, reuse_kv, index)
    tiers = settings_from_args(args, "tier")
    service = TieredService(engines, settings, tiers, context, server, events, index, reuse_kv)
    service.calibrate()
    return service


def run_tasks(args: argparse.Namespace) -> int:
    from nanocomplete.evals.tasks import TASKS

    for task in TASKS.values():
        print(f"{task.name:28} {task.description}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from nanocomplete.evals import runner
    from nanocomplete.evals.tasks import get_task

    try:
        task = get_task(args.task)
    except KeyError as error:
        raise NanocompleteError(str(error.args[0])) from None
    prompt = settings_from_args(args, "prompt", config.SERVING_FULL_PROMPT if args.as_served else None)
    spec = runner.RunSpec(
        args.task, args.model, args.limit, args.seed, args.cursor, prompt, settings_from_args(args, "engine"),
        settings_from_args(args, "context"), args.setting, args.leave_out,
    )  # fmt: skip
    layout = "after-middle" if prompt.current_line_after_middle else "standard"
    name = f"{args.task}--{_model_label(args.model)}--{args.cursor}--{layout}" + (
        f"--{args.setting}" if args.setting else ""
    )
    out = args.out or Path("out/eval") / name
    runner.generate(spec, task, out)
    summary = runner.score_in_subprocess(out, args.workers)
    print(f"{out}: n={summary['n']}")
    for name, value in summary["overall"].items():
        print(f"  {name:10} {value['mean']:.3f}  [{value['low']:.3f}, {value['high']:.3f}]")
    return 0


def run_compare(args: argparse.Namespace) -> int:
    from nanocomplete.evals import report

    runs_a, runs_b = ([Path(p) for p in side.split(",")] for side in (args.run_a, args.run_b))
    if len(runs_a) != len(runs_b):
        raise NanocompleteError(f"compare: {len(runs_a)} run(s) on side A but {len(runs_b)} on side B")
    unscored = [str(run) for run in (*runs_a, *runs_b) if not (run / "results.jsonl").is_file()]
    if unscored:
        raise NanocompleteError(f"compare: no results.jsonl in {', '.join(unscored)} (not a scored run yet)")
    d = report.compare(runs_a, runs_b, args.metric)
    print(
        f"{args.metric}: B - A = {d['difference']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}] "
        f"(95% paired bootstrap), n={d['n']}, A better on {d['a_wins']}, B better on {d['b_wins']}"
    )
    return 0


def run_gate(args: argparse.Namespace) -> int:
    from nanocomplete import replay
    from nanocomplete.evals import report

    if all(replay.has_requests(run_dir) for run_dir in args.run_dirs):  # served replay arms
        try:
            rows = replay.gate_tradeoff(
                args.run_dirs, report.GATE_THRESHOLDS, reference=args.reference, tier=args.tier
            )
        except ValueError as error:
            print(f"error: {error}")
            return 2
        print(
            "| min_mean_logprob | answers shown | shown share | accepted chars | of the ungated | "
            f"÷ at {args.reference} (95% CI over visits) | answers with a char accepted | "
            "accepted chars at a new line |"
        )
        print("|---|---|---|---|---|---|---|---|")
        for row in rows:
            ratio, low, high = row["vs_reference"]
            print(
                f"| {row['min_mean_logprob']} | {row['shown']} | {row['shown_share']:.2f} | "
                f"{row['accepted_chars']} | {row['accepted_kept_share']:.2f} | "
                f"{ratio:.3f} [{low:.3f}, {high:.3f}] | "
                f"{row['accepted_share']:.2f} | {row['new_line_accepted_chars']} |"
            )
        return 0
    if args.tier:
        print(f"error: --tier applies to replay arms (folders with {replay.REQUESTS_FILE})")
        return 2
    print(f"| min_mean_logprob | shown | shown share | {args.metric} of shown | {args.metric}=1 kept |")
    print("|---|---|---|---|---|")
    for row in report.gate_tradeoff(args.run_dirs, args.metric):
        print(
            f"| {row['min_mean_logprob']} | {row['shown']} | {row['shown_share']:.2f} | "
            f"{row[args.metric]:.3f} | {row['good_kept_share']:.2f} |"
        )
    return 0


def run_misses(args: argparse.Namespace) -> int:
    from nanocomplete import replay

    try:
        table = replay.miss_table(args.arm_dirs)
    except ValueError as error:
        print(f"error: {error}")
        return 2
    kinds = ("new_line", "mid_line", "other")
    totals = {kind: sum(row[kind] for row in table.values()) for kind in kinds}
    everything = sum(totals.values())
    print("| shown answers | new line | mid-line | other (first, return, jump) | all | share |")
    print("|---|---|---|---|---|---|")
    for outcome, row in table.items():
        count = sum(row.values())
        cells = " | ".join(str(row[kind]) for kind in kinds)
        print(f"| {outcome} | {cells} | {count} | {count / everything if everything else 0:.2f} |")
    print(f"| all | {' | '.join(str(totals[kind]) for kind in kinds)} | {everything} | 1.00 |")
    return 0


def run_report(args: argparse.Namespace) -> int:
    from nanocomplete.evals import report

    report.write(args.run_dirs, args.out)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
