"""Training throughput on the real sentiment data (CPU): the engine's loop against Hugging Face ``Trainer``.

Same packaged MiniLM, batch size, length limit (300, as in the paper) and
training examples for every contestant; each trains one epoch over the same
subset of the CAD sentiment training set, from the same initial weights.
Samples/s are timed from the end of the first step to the end of the last
(the first step pays one-off costs in both). Contestants:

- ``Trainer`` padded to 300 tokens (the paper's fixed padding), fp32;
- ``Trainer`` with dynamic padding (``DataCollatorWithPadding``), fp32;
- ``Trainer`` with dynamic padding and ``group_by_length`` (its best settings for this data), fp32 and bf16;
- the engine's ``train_pass`` (length-grouped batches, dynamic padding, tokenised once), fp32 and bf16.

bf16 rows run only where the CPU computes bf16 natively (AVX512-BF16 or AMX).

    .venv/bin/python bench/throughput.py --data ../shared/data/cad [--samples 320] [--batch 16]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class StepClock:
    """Times of the end of each training step."""

    def __init__(self):
        self.ends: list[float] = []

    def samples_per_s(self, batch: int, total: int) -> float:
        steps = len(self.ends)
        measured = total - min(batch, total)  # all samples after the first step
        return measured / (self.ends[-1] - self.ends[0]) if steps > 1 else float("nan")


def load_union(data_dir: str, max_length: int):
    """(labels, tokenizer, tokenised originals and revisions) of the CAD sentiment training set."""
    from cast_engine.data import load_cad
    from cast_engine.models import load_classifier
    from cast_engine.train.batches import concat, tokenize_examples

    dataset = load_cad(data_dir, "sentiment", None)
    _, tokenizer = load_classifier("minilm", dataset.labels)
    union = concat([tokenize_examples(dataset.train.factual, tokenizer, max_length),
                    tokenize_examples(dataset.train.counterfactual, tokenizer, max_length)])
    return dataset.labels, tokenizer, union


def subset_of(union, samples: int, seed: int):
    """A seeded random subset of ``samples`` examples, in their original order."""
    import random

    from cast_engine.train.batches import TokenizedSet

    chosen = sorted(random.Random(seed).sample(range(len(union)), min(samples, len(union))))
    return TokenizedSet({k: [v[i] for i in chosen] for k, v in union.features.items()}, [union.labels[i] for i in chosen])


def fresh_model(labels, seed: int):
    import torch

    from cast_engine.models import load_classifier

    torch.manual_seed(seed)
    model, _ = load_classifier("minilm", labels)
    return model


def engine_rate(labels, tokenizer, subset, batch: int, max_length: int, bf16: bool, seed: int) -> float:
    import torch

    from cast_engine.config import RunConfig, TrainConfig
    from cast_engine.train.events import Progress
    from cast_engine.train.trainer import Trainer

    clock = StepClock()

    def on_event(event):
        if isinstance(event, Progress):
            clock.ends.append(time.perf_counter())

    config = RunConfig(train=TrainConfig(batch_size=batch, max_length=max_length, bf16=bf16, device="cpu", lr=5e-5,
                                         seed=seed, log_every=10))
    trainer = Trainer(fresh_model(labels, seed), tokenizer, config, None, torch.device("cpu"), on_event)
    trainer.new_optimizer(trainer.steps_in(subset))
    trainer.train_pass(subset, "training")
    return clock.samples_per_s(batch, len(subset))


def hf_trainer_rate(labels, tokenizer, subset, batch: int, max_length: int, mode: str, bf16: bool, seed: int) -> float:
    import datasets
    import transformers

    clock = StepClock()

    class Clock(transformers.TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            clock.ends.append(time.perf_counter())

    columns = {k: v for k, v in subset.features.items()}
    columns["labels"] = subset.labels
    if mode == "pad300":  # the paper's fixed padding: every row padded to max_length
        pad = {"input_ids": tokenizer.pad_token_id}
        columns = {k: [row + [pad.get(k, 0)] * (max_length - len(row)) for row in v] if k != "labels" else v
                   for k, v in columns.items()}
        collator = transformers.default_data_collator
    else:
        collator = transformers.DataCollatorWithPadding(tokenizer)
    table = datasets.Dataset.from_dict(columns)
    with tempfile.TemporaryDirectory() as out:
        args = transformers.TrainingArguments(
            output_dir=out, per_device_train_batch_size=batch, num_train_epochs=1, learning_rate=5e-5,
            group_by_length=mode == "grouped", bf16=bf16, use_cpu=True, report_to=[], save_strategy="no",
            logging_steps=10, disable_tqdm=True, lr_scheduler_type="linear", seed=seed, dataloader_num_workers=0)
        trainer = transformers.Trainer(model=fresh_model(labels, seed), args=args, train_dataset=table,
                                       data_collator=collator, callbacks=[Clock()])
        trainer.train()
    return clock.samples_per_s(batch, len(subset))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the Kaushik CAD folder (holding sentiment/)")
    parser.add_argument("--samples", type=int, default=320, help="training examples per contestant")
    parser.add_argument("--pad-samples", type=int, default=96, help="examples for the slow padded-to-300 contestant")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    import torch

    from cast_engine.train.trainer import bf16_native

    labels, tokenizer, union = load_union(args.data, args.max_length)
    subset, padded_subset = subset_of(union, args.samples, args.seed), subset_of(union, args.pad_samples, args.seed)
    native_bf16 = bf16_native(torch.device("cpu"))
    print(json.dumps({"torch": torch.__version__, "threads": torch.get_num_threads(), "native_bf16": native_bf16,
                      "samples": len(subset), "batch": args.batch, "max_length": args.max_length,
                      "mean_tokens": round(sum(subset.lengths) / len(subset), 1)}), flush=True)
    rates = {}

    def record(name, rate):
        rates[name] = rate
        print(json.dumps({"run": name, "samples_per_s": round(rate, 3)}), flush=True)

    common = (labels, tokenizer)
    record("engine_fp32", engine_rate(*common, subset, args.batch, args.max_length, False, args.seed))
    record("trainer_grouped_fp32", hf_trainer_rate(*common, subset, args.batch, args.max_length, "grouped", False, args.seed))
    record("trainer_dynamic_fp32", hf_trainer_rate(*common, subset, args.batch, args.max_length, "dynamic", False, args.seed))
    record("trainer_pad300_fp32", hf_trainer_rate(*common, padded_subset, args.batch, args.max_length, "pad300", False, args.seed))
    if native_bf16:
        record("engine_bf16", engine_rate(*common, subset, args.batch, args.max_length, True, args.seed))
        record("trainer_grouped_bf16", hf_trainer_rate(*common, subset, args.batch, args.max_length, "grouped", True, args.seed))
    reference = rates["trainer_grouped_fp32"]
    ratios = {f"{name}_over_trainer_grouped_fp32": round(rate / reference, 3) for name, rate in rates.items()
              if name != "trainer_grouped_fp32"}
    ratios["engine_fp32_over_trainer_pad300_fp32"] = round(rates["engine_fp32"] / rates["trainer_pad300_fp32"], 3)
    if native_bf16:
        ratios["engine_bf16_over_trainer_grouped_bf16"] = round(rates["engine_bf16"] / rates["trainer_grouped_bf16"], 3)
    print(json.dumps(ratios))


if __name__ == "__main__":
    main()
