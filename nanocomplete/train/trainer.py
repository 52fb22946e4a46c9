"""Fine-tuning the 0.5B on the built shards: LoRA (or full), loss on the answer tokens only.

    python -m nanocomplete.train.trainer --data DIR --out DIR [--max-examples N] [--resume] ...
    accelerate launch -m nanocomplete.train.trainer ...     (several GPUs: the same code, through accelerate)

The base weights are the registry's GGUF, dequantized by transformers, so the adapter is trained on the very
weights the engine serves. Each example is its prompt ids then its answer ids (the answer ends with
<|endoftext|>); only the answer's positions reach the LM head and the loss (`answer_loss`), so prompt tokens
cost a forward and backward pass but no vocabulary projection. Examples go one at a time (no padding) and
`batch_examples` of them make one optimizer step. With `--teacher FILE` (top-k log-probs from
train/teacher.py), `distill_weight` mixes a distillation loss into the cross-entropy.

Runs are reproducible (seeded order, seeded init) and resumable: every `checkpoint_steps` steps the adapter,
optimizer, scheduler and step go to `OUT/checkpoint/`, and `--resume` goes on from there. `OUT/config.json`
holds the run's settings; `OUT/log.jsonl` one line per step. This is the only module that imports torch.
"""

from __future__ import annotations

import argparse
import bisect
import dataclasses
import itertools
import json
import math
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import MISSING, dataclass
from pathlib import Path

from nanocomplete import models
from nanocomplete.config import setting
from nanocomplete.train import records as built

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CHECKPOINT = "checkpoint"
ADAPTER = "adapter"  # the final PEFT adapter folder inside OUT (the whole model's, with method "full")


@dataclass(frozen=True)
class TrainConfig:
    data: str = setting(MISSING, "folder of train-*.jsonl shards (python -m nanocomplete.train.data build)")
    out: str = setting(MISSING, "run folder: config.json, log.jsonl, loss.png, checkpoint/, adapter/")
    base_model: str = setting(models.BASE_MODEL, "registered model (or .gguf) to start from")
    method: str = setting("lora", "lora | full")
    init_adapter: str | None = setting(
        None,
        "adapter to go on training from (a later stage): a PEFT folder, or a GGUF LoRA adapter such as the "
        "committed nanocomplete/adapters/*.gguf (read back into the run folder's init-adapter/); none "
        "starts a new LoRA",
    )
    lora_rank: int = setting(16, "LoRA rank r")
    lora_alpha: float = setting(32.0, "LoRA alpha (scale alpha / r)")
    learning_rate: float = setting(2e-4, "peak AdamW learning rate")
    warmup_steps: int = setting(4, "linear warmup steps, then cosine decay to 10%")
    batch_examples: int = setting(8, "examples per optimizer step (gradient accumulation)")
    micro_batch_examples: int = setting(
        1, "examples per forward pass, left-padded to the longest (1 on a CPU; 8-32 fill a GPU)"
    )
    max_train_seconds: float = setting(
        0.0,
        "stop after the optimizer step that passes this wall-clock budget and save; the learning rate's"
        " cosine reaches its end by then too (0: no limit)",
    )
    epochs: int = setting(1, "passes over the examples")
    skip_examples: int = setting(
        0, "leave out the first N examples (a later stage: the examples that the earlier ones did not see)"
    )
    max_examples: int | None = setting(None, "only the first N examples (after skip_examples)")
    max_train_tokens: int | None = setting(
        None, "only the first examples whose prompt and answer tokens add up to at most this (equal compute)"
    )
    max_sequence_tokens: int = setting(2048, "longer examples are skipped")
    teacher: str | None = setting(None, "teacher top-k file (python -m nanocomplete.train.teacher)")
    distill_weight: float = setting(0.0, "share of the distillation loss; above 0 needs --teacher")
    checkpoint_steps: int = setting(10, "steps between checkpoints")
    precision: str = setting("bf16", "bf16 (autocast, CPU or GPU) | fp32")
    activation_checkpointing: int = setting(
        0,
        "recompute the activations of every Nth decoder layer in the backward pass instead of keeping them"
        " (gradient checkpointing; 0: off, 1: every layer): the same gradients, less memory, more compute"
        " (what fits the 1.5B in 24 GB: docs/training.md)",
    )
    threads: int = setting(0, "CPU threads for torch; 0 leaves torch's default")
    seed: int = setting(0, "seed of the example order and the LoRA initialisation")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


# --- the loss (pure torch, tested on a tiny model) -------------------------------------------------------


def model_input(prompt_ids: Sequence[int], target_ids: Sequence[int]):
    """The ids fed to the model: the prompt and all answer tokens but the last (the last one is only a
    label). The last len(target_ids) positions then predict the answer."""
    import torch

    return torch.tensor([[*prompt_ids, *target_ids[:-1]]], dtype=torch.long)


def answer_loss(model, prompt_ids, target_ids, teacher=None, distill_weight: float = 0.0):
    """Mean cross-entropy over the answer tokens only (LM head evaluated on those positions alone),
    mixed with the distillation loss against `teacher` = (top-k ids, top-k log-probs) per answer token."""
    input_ids = model_input(prompt_ids, target_ids).to(model.device)
    logits = model(input_ids=input_ids, logits_to_keep=len(target_ids)).logits[0]
    return _example_loss(logits, target_ids, teacher, distill_weight)


def batch_answer_loss(model, records: Sequence[dict], distill_weight: float = 0.0):
    """The mean of `answer_loss` over `records` from one forward pass: the examples left-padded to the
    longest (attention mask and positions skip the padding), the LM head on the last positions only."""
    import torch

    inputs = [model_input(r["prompt_ids"], r["target_ids"])[0] for r in records]
    width = max(len(ids) for ids in inputs)
    input_ids = torch.zeros((len(inputs), width), dtype=torch.long)
    mask = torch.zeros((len(inputs), width), dtype=torch.long)
    for row, ids in enumerate(inputs):
        input_ids[row, width - len(ids) :] = ids
        mask[row, width - len(ids) :] = 1
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    keep = max(len(r["target_ids"]) for r in records)
    logits = model(
        input_ids=input_ids.to(model.device),
        attention_mask=mask.to(model.device),
        position_ids=positions.to(model.device),
        logits_to_keep=keep,
    ).logits
    losses = [
        _example_loss(
            logits[row, keep - len(r["target_ids"]) :], r["target_ids"], _teacher(r), distill_weight
        )
        for row, r in enumerate(records)
    ]
    return torch.stack(losses).mean()


def _example_loss(logits, target_ids, teacher, distill_weight: float):
    """One example's loss from the logits at its answer positions ([answer tokens, vocabulary])."""
    import torch
    import torch.nn.functional as F

    logits = logits.float()
    labels = torch.tensor(target_ids, dtype=torch.long, device=logits.device)
    log_probs = F.log_softmax(logits, dim=-1)
    loss = F.nll_loss(log_probs, labels)
    if teacher is None or distill_weight == 0.0:
        return loss
    top_ids, top_logprobs = teacher
    ids = torch.tensor(top_ids, dtype=torch.long, device=logits.device)
    weights = torch.softmax(torch.tensor(top_logprobs, dtype=torch.float, device=logits.device), dim=-1)
    distill = -(weights * log_probs.gather(1, ids)).sum(dim=-1).mean()
    return (1 - distill_weight) * loss + distill_weight * distill


# --- the model ---------------------------------------------------------------------------------------------


def load_base(name_or_path: str):
    """The base model as a transformers model (float32): dequantized from the registry's GGUF, or read from a
    transformers folder (`save_pretrained`; `train.gpu smoke`'s tiny model)."""
    import torch
    from transformers import AutoModelForCausalLM

    if (Path(name_or_path) / "config.json").is_file():
        return AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch.float32)
    path = models.resolve(name_or_path)
    return AutoModelForCausalLM.from_pretrained(
        str(path.parent), gguf_file=path.name, dtype=torch.float32, low_cpu_mem_usage=True
    )


def prepare(model, config: TrainConfig, adapter_dir: Path | None = None):
    """Wrap `model` for training: a LoRA adapter (new, or loaded from `adapter_dir`), or all weights."""
    if config.method == "full":
        return without_gguf_marker(model)
    from peft import LoraConfig, PeftModel, get_peft_model

    if adapter_dir is not None:
        return PeftModel.from_pretrained(model, str(adapter_dir), is_trainable=True)
    lora = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        target_modules=list(LORA_TARGETS),
        lora_dropout=0.0,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, lora)


def without_gguf_marker(model):
    """`model` no longer marked as loaded from GGUF. transformers keeps its GGUF quantizer on a model it
    dequantized to float32 (`load_base`), and then refuses `save_pretrained` ("quantized with gguf and is
    not serializable"); the weights are plain float32 tensors, so full fine-tuning saves them as such."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


# --- the loop ------------------------------------------------------------------------------------------


def order(records: list[dict], config: TrainConfig) -> list[dict]:
    """The examples in training order: seeded shuffle per epoch of the first `max_examples` after the
    first `skip_examples` (and of those within `max_train_tokens`), too long ones left out."""
    fits = [r for r in records[config.skip_examples :] if _tokens(r) <= config.max_sequence_tokens]
    rng = random.Random(config.seed)
    chosen = fits[: config.max_examples] if config.max_examples else fits
    if config.max_train_tokens is not None:
        within = list(itertools.accumulate(_tokens(r) for r in chosen))
        chosen = chosen[: bisect.bisect_right(within, config.max_train_tokens)]
    ordered = []
    for _ in range(config.epochs):
        epoch = list(chosen)
        rng.shuffle(epoch)
        ordered += epoch
    return ordered


def _tokens(record: dict) -> int:
    return len(record["prompt_ids"]) + len(record["target_ids"])


def with_teacher(records: list[dict], config: TrainConfig) -> list[dict]:
    """The records with their teacher top-k attached (all of them must have one) when distilling."""
    if config.distill_weight == 0.0:
        return records
    if config.teacher is None:
        raise SystemExit("--distill-weight above 0 needs --teacher FILE")
    found = built.load_teacher(config.teacher)
    chosen = order(records, dataclasses.replace(config, epochs=1))
    missing = [r["id"] for r in chosen if r["id"] not in found]
    if missing:
        raise SystemExit(
            f"{len(missing)} examples have no teacher scores in {config.teacher} (e.g. {missing[0]})"
        )
    return [{**r, "teacher": found[r["id"]]} if r["id"] in found else r for r in records]


def schedule(step: int, total_steps: int, warmup_steps: int, time_progress: float = 0.0) -> float:
    """Learning-rate factor: linear warmup, then cosine decay to 10%, at the pace of the steps or of
    `time_progress` (the share of a wall-clock budget spent), whichever is further along: a run cut short
    by `max_train_seconds` still ends at 10%."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    progress = max((step - warmup_steps) / max(1, total_steps - warmup_steps), time_progress)
    return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train(config: TrainConfig, resume: bool = False, progress: bool = True) -> Path:
    """Train; returns the final adapter folder (or the model folder with method "full")."""
    import torch
    from accelerate import Accelerator
    from tqdm import tqdm

    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    _check_or_write_config(out, config, resume)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    accelerator = Accelerator(mixed_precision="bf16" if config.precision == "bf16" else "no")
    examples = order(with_teacher(built.load_examples(config.data), config), config)
    total_steps = math.ceil(len(examples) / config.batch_examples)
    checkpoint = out / CHECKPOINT
    resuming = resume and (checkpoint / "state.pt").is_file()
    model = _start_model(config, checkpoint, resuming)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.0)
    began, spent = time.perf_counter(), 0.0  # spent: the time schedule's share that earlier calls used

    def time_progress() -> float:
        if config.max_train_seconds <= 0:
            return spent
        return spent + (1 - spent) * (time.perf_counter() - began) / config.max_train_seconds

    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: schedule(step, total_steps, config.warmup_steps, time_progress())
    )
    step = 0
    if resuming:
        state = torch.load(checkpoint / "state.pt", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, spent = state["step"], min(1.0, state.get("time_progress", 0.0))
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    model.train()
    bar = tqdm(total=total_steps, initial=step, desc="train", unit="step", disable=not progress)
    began = time.perf_counter()
    with open(out / "log.jsonl", "a", encoding="utf-8") as log:
        while step < total_steps:
            batch = examples[step * config.batch_examples : (step + 1) * config.batch_examples]
            started, loss_sum, tokens = time.perf_counter(), 0.0, 0
            size = config.micro_batch_examples
            for micro in (batch[i : i + size] for i in range(0, len(batch), size)):
                with accelerator.autocast():
                    loss = _micro_batch_loss(model, micro, config.distill_weight)
                accelerator.backward(loss * len(micro) / len(batch))
                loss_sum += loss.item() * len(micro)
                tokens += sum(len(r["prompt_ids"]) + len(r["target_ids"]) for r in micro)
            # a non-finite gradient (4 of 103 steps on the H200, cause not established) would make every
            # weight NaN from then on: that step is left out, as AMP's loss scaler does, and logged
            finite = bool(torch.isfinite(torch.as_tensor(accelerator.clip_grad_norm_(trainable, 1.0))))
            if finite:
                optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            seconds = time.perf_counter() - started
            line = {
                "step": step,
                "loss": loss_sum / len(batch),
                "learning_rate": scheduler.get_last_lr()[0],
                "tokens_per_s": tokens / seconds,
                "examples": step * config.batch_examples,
                **({} if finite else {"skipped": "non-finite gradient"}),
            }
            log.write(json.dumps(line) + "\n")
            log.flush()
            bar.update(1)
            bar.set_postfix(loss=f"{line['loss']:.3f}", tok_s=f"{line['tokens_per_s']:.0f}")
            out_of_time = (
                config.max_train_seconds > 0 and time.perf_counter() - began > config.max_train_seconds
            )
            if step % config.checkpoint_steps == 0 or step == total_steps or out_of_time:
                _save_checkpoint(accelerator, model, optimizer, scheduler, step, checkpoint, time_progress())
            if out_of_time:
                break
    bar.close()
    plot_log(out / "log.jsonl", out / "loss.png")
    final = out / ADAPTER
    accelerator.unwrap_model(model).save_pretrained(str(final))
    return final


def plot_log(log_path: Path, png_path: Path) -> Path:
    """The answer-token loss per step (and its 10-step mean) from a run's log.jsonl."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [json.loads(line) for line in log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
    steps, losses = [line["step"] for line in lines], [line["loss"] for line in lines]
    window = [
        sum(losses[max(0, i - 9) : i + 1]) / len(losses[max(0, i - 9) : i + 1]) for i in range(len(losses))
    ]
    figure, axes = plt.subplots(figsize=(6, 3.2))
    axes.plot(steps, losses, alpha=0.4, label="step")
    axes.plot(steps, window, label="10-step mean")
    axes.set(xlabel="optimizer step", ylabel="answer-token loss (nats)", title=log_path.parent.name)
    axes.legend()
    figure.tight_layout()
    figure.savefig(png_path, dpi=110)
    plt.close(figure)
    return png_path


def _start_model(config: TrainConfig, checkpoint: Path, resuming: bool):
    """The model to train: with method "full", the checkpoint's weights when resuming, else the base's;
    with LoRA, the base wrapped with the adapter it starts from (`_start_adapter`)."""
    if config.method == "full" and resuming:
        import torch
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(str(checkpoint / ADAPTER), dtype=torch.float32)
    else:
        model = prepare(load_base(config.base_model), config, _start_adapter(config, checkpoint, resuming))
    if config.activation_checkpointing:
        # non-reentrant: gradients reach the LoRA weights although the frozen embeddings need none
        model.activation_checkpointing_enable(
            {"use_reentrant": False}, every_n_layers=config.activation_checkpointing
        )
    return model


def _start_adapter(config: TrainConfig, checkpoint: Path, resuming: bool) -> Path | None:
    """The adapter training starts from: the checkpoint's when resuming, else `init_adapter` (if any)."""
    if resuming:
        return checkpoint / ADAPTER
    if config.init_adapter is None:
        return None
    if config.method != "lora":
        raise SystemExit("--init-adapter needs --method lora")
    if config.init_adapter.endswith(".gguf"):
        from nanocomplete.train.lora_gguf import ExportError, to_peft

        try:
            return to_peft(config.init_adapter, Path(config.out) / "init-adapter")
        except (ExportError, OSError, ValueError) as error:
            raise SystemExit(f"--init-adapter {config.init_adapter}: {error}") from error
    if not (Path(config.init_adapter) / "adapter_config.json").is_file():
        raise SystemExit(f"--init-adapter {config.init_adapter}: no PEFT adapter (adapter_config.json) there")
    return Path(config.init_adapter)


def _micro_batch_loss(model, records: list[dict], distill_weight: float):
    if len(records) == 1:
        record = records[0]
        return answer_loss(
            model, record["prompt_ids"], record["target_ids"], _teacher(record), distill_weight
        )
    return batch_answer_loss(model, records, distill_weight)


def _teacher(record: dict):
    teacher = record.get("teacher")
    return (teacher["top_ids"], teacher["top_logprobs"]) if teacher else None


def _save_checkpoint(
    accelerator, model, optimizer, scheduler, step: int, checkpoint: Path, time_progress: float
) -> None:
    """Adapter, optimizer, scheduler, step and the time schedule's progress, replaced as a whole (a crash
    keeps the previous one)."""
    import shutil

    import torch

    partial = checkpoint.with_name(checkpoint.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    accelerator.unwrap_model(model).save_pretrained(str(partial / ADAPTER))
    state = {
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
        "time_progress": time_progress,
    }  # fmt: skip
    torch.save(state, partial / "state.pt")
    shutil.rmtree(checkpoint, ignore_errors=True)
    partial.rename(checkpoint)


# settings that do not change what is learned: a resumed run may change them
RUN_ONLY_SETTINGS = ("max_train_seconds", "threads", "activation_checkpointing")


def _check_or_write_config(out: Path, config: TrainConfig, resume: bool) -> None:
    path = out / "config.json"
    if path.is_file():
        recorded = {**TrainConfig(data=config.data, out=config.out).to_json(), **json.loads(path.read_text())}
        current = config.to_json()
        if any(recorded[k] != current[k] for k in current if k not in RUN_ONLY_SETTINGS):
            raise SystemExit(f"{out} holds a run with other settings; use another --out")
        if not resume:
            raise SystemExit(f"{out} already holds this run; pass --resume to go on")
    path.write_text(json.dumps(config.to_json(), indent=2) + "\n", encoding="utf-8")


# --- command line --------------------------------------------------------------------------------------


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m nanocomplete.train.trainer", description=__doc__.split("\n")[0]
    )
    for item in dataclasses.fields(TrainConfig):
        flag = "--" + item.name.replace("_", "-")
        required = item.default is MISSING
        kind = {"int": int, "float": float, "str": str, "int | None": int, "str | None": str}[str(item.type)]
        default = None if required else item.default
        help_text = item.metadata["help"] + ("" if required else f" (default: {default})")
        parser.add_argument(
            flag, type=kind, required=required, default=default, help=help_text.replace("%", "%%")
        )
    parser.add_argument("--resume", action="store_true", help="go on from OUT/checkpoint")
    return parser


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The settings `make_parser` parsed (train/gpu.py builds a run the same way)."""
    return TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})


def main(argv: Sequence[str] | None = None) -> int:
    args = make_parser().parse_args(argv)
    config = config_from_args(args)
    final = train(config, resume=args.resume)
    print(f"adapter: {final}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
