"""GPU path: a CAST iteration on a BERT-base-size model as in the paper (length 300, batch 128).

Measures on synthetic token ids (a randomly initialised BERT-base, 3 labels):
- a CAST iteration (factual pass + counterfactual pass + snapshots, mask, merge)
  with bf16 autocast and in fp32: samples/s (both passes' samples), and its
  overhead over the two passes alone (goal: ≤ 1.05×);
- the engine's full fine-tuning epoch over the same samples, bf16;
- Hugging Face ``Trainer`` full fine-tuning over the same samples, bf16;
- model-FLOPs utilisation against the card's dense bf16 peak (goal ≥ 40 %);
- peak GPU memory of a CAST iteration over a full fine-tuning epoch (goal ≤ 1.1×,
  snapshots in pinned host memory).
Ratios are measured in one run. Needs a CUDA GPU.

    python bench/gpu_path.py [--batches 16] [--peak-tflops 989]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class PadOnly:
    pad_token_id = 0


def synthetic_set(n: int, length: int, seed: int):
    import torch

    from cast_engine.train.batches import TokenizedSet

    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 30000, (n, length), generator=g).tolist()
    labels = torch.randint(0, 3, (n,), generator=g).tolist()
    return TokenizedSet({"input_ids": ids, "attention_mask": [[1] * length for _ in range(n)]}, labels)


def train_flops_per_sample(model, length: int) -> float:
    """≈ 3 × forward FLOPs: 2·N (non-embedding weights) per token plus attention's 4·L·T·d per token."""
    config = model.config
    non_embedding = sum(p.numel() for n, p in model.named_parameters() if "embeddings" not in n)
    per_token = 2 * non_embedding + 4 * config.num_hidden_layers * length * config.hidden_size
    return 3 * per_token * length


DEVICE = "cuda"


def sync() -> None:
    import torch

    if DEVICE == "cuda":
        torch.cuda.synchronize()


def peak_memory(reset: bool = False) -> int:
    import torch

    if DEVICE != "cuda":
        return 0
    if reset:
        torch.cuda.reset_peak_memory_stats()
    return torch.cuda.max_memory_allocated()


def timed(fn) -> float:
    sync()
    start = time.perf_counter()
    fn()
    sync()
    return time.perf_counter() - start


def make_trainer(bf16: bool, data, length: int, batch: int, method=None, **train):
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from cast_engine.config import RunConfig, TrainConfig
    from cast_engine.train.trainer import Trainer

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(num_labels=3, attn_implementation="sdpa"))
    if method is not None:
        model = method.prepare(model)
    config = RunConfig(train=TrainConfig(batch_size=batch, max_length=length, bf16=bf16, device=DEVICE, lr=1e-5,
                                         log_every=50, **train))
    trainer = Trainer(model, PadOnly(), config, data, torch.device(DEVICE), lambda e: None)
    trainer.new_optimizer(10_000)
    return trainer


def measure_cast(bf16: bool, data, length: int, batch: int, k: int, **train) -> dict:

    from cast_engine.methods.cast import CastConfig
    from cast_engine.methods.cast.method import Cast

    method = Cast(CastConfig(alpha=0.05, k=str(k)))
    trainer = make_trainer(bf16, data, length, batch, method, **train)
    for epoch in (1, 2):  # warm-up to the steady state of a long run (kernels, allocator, pooled pinned buffers;
        trainer.epoch = epoch  # the first iteration's optimiser snapshot is empty, so the pool fills in the second)
        method.iteration(trainer)
    trainer.epoch = 2
    fac = timed(lambda: trainer.train_pass(data.factual, "factual pass"))
    cf = timed(lambda: trainer.train_pass(data.counterfactual, "counterfactual pass", pass_index=1))
    peak_memory(reset=True)
    trainer.epoch = 3
    iteration = timed(lambda: method.iteration(trainer))
    peak = peak_memory()
    samples = len(data.factual) + len(data.counterfactual)
    flops = train_flops_per_sample(trainer.model, length) * samples
    return {"iteration_s": iteration, "passes_s": fac + cf, "overhead": iteration / (fac + cf),
            "samples_per_s": samples / iteration, "tflops": flops / iteration / 1e12, "peak_bytes": peak,
            "param_bytes": sum(p.numel() * p.element_size() for p in trainer.model.parameters())}


def check_optimizer_restore(data, length: int, batch: int) -> dict:
    """The CUDA optimiser stash (pinned host, side stream) restores exactly what torch's state_dict holds."""
    import copy

    import torch

    trainer = make_trainer(True, data, length, batch)
    same, tensors = True, 0
    for round_ in range(2):  # the second round reuses the first round's pinned buffers
        trainer.train_pass(data.factual, "warm-up", pass_index=round_)
        reference = copy.deepcopy(trainer.optimizer.state_dict())
        saved = trainer.optimizer_state()
        trainer.train_pass(data.counterfactual, "changes the moments", pass_index=1)
        trainer.restore_optimizer(saved)
        trainer.stash.wait()
        restored = trainer.optimizer.state_dict()
        same &= all(torch.equal(restored["state"][i][key], value) for i, entry in reference["state"].items()
                    for key, value in entry.items())
        tensors = sum(len(e) for e in reference["state"].values())
        del saved
    return {"optimizer_restore_exact": same, "tensors": tensors, "pooled_buffer_sets": len(trainer.stash._free_buffers)}


def measure_full(data, length: int, batch: int) -> dict:

    trainer = make_trainer(True, data, length, batch)
    trainer.train_pass(data.factual, "warm-up")
    peak_memory(reset=True)
    seconds = timed(lambda: trainer.train_pass(data.union, "training"))
    flops = train_flops_per_sample(trainer.model, length) * len(data.union)
    return {"epoch_s": seconds, "samples_per_s": len(data.union) / seconds, "tflops": flops / seconds / 1e12,
            "peak_bytes": peak_memory()}


def measure_hf_trainer(union, length: int, batch: int) -> dict:
    import torch
    import transformers
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(BertConfig(num_labels=3, attn_implementation="sdpa"))
    rows = [{"input_ids": torch.tensor(ids), "attention_mask": torch.tensor(mask), "labels": label}
            for ids, mask, label in zip(union.features["input_ids"], union.features["attention_mask"], union.labels)]

    class Rows(torch.utils.data.Dataset):  # a plain torch dataset: the GPU image may lack `datasets`
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return rows[i]
    with tempfile.TemporaryDirectory() as out:
        def trainer_for(n):
            args = transformers.TrainingArguments(
                output_dir=out, per_device_train_batch_size=batch, num_train_epochs=1, learning_rate=1e-5,
                bf16=DEVICE == "cuda", optim="adamw_torch_fused" if DEVICE == "cuda" else "adamw_torch",
                use_cpu=DEVICE != "cuda", report_to=[], save_strategy="no", logging_strategy="no",
                dataloader_num_workers=2, dataloader_pin_memory=True, disable_tqdm=True, lr_scheduler_type="linear")
            return transformers.Trainer(model=model, args=args, train_dataset=Rows(n))

        trainer_for(min(4 * batch, len(union))).train()  # warm-up
        trainer = trainer_for(len(union))
        seconds = timed(trainer.train)
    flops = train_flops_per_sample(model, length) * len(union)
    return {"epoch_s": seconds, "samples_per_s": len(union) / seconds, "tflops": flops / seconds / 1e12}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--batches", type=int, default=16, help="batches in each of F and C")
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--k", type=int, default=10**7)
    parser.add_argument("--compile", action="store_true", help="also measure CAST with torch.compile")
    parser.add_argument("--skip-fp32", action="store_true", help="leave out the (slow) fp32 CAST iteration")
    parser.add_argument("--device", default="cuda", help="cpu only for a dry run of this script")
    parser.add_argument("--peak-tflops", type=float, default=989.0, help="dense bf16 peak of the card (H100/H200 SXM: 989)")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device

    import torch

    from cast_engine.train.batches import concat
    from cast_engine.train.trainer import TokenizedSplit, TrainingData

    n = args.batches * args.batch
    fac, cf = synthetic_set(n, args.length, 1), synthetic_set(n, args.length, 2)
    empty = synthetic_set(0, args.length, 3)
    data = TrainingData(fac, cf, concat([fac, cf]), TokenizedSplit(empty, empty, []), TokenizedSplit(empty, empty, []), 3)
    print(json.dumps({"device": torch.cuda.get_device_name(0) if DEVICE == "cuda" else DEVICE, "torch": torch.__version__, "samples_per_pass": n,
                      "length": args.length, "batch": args.batch, "k": args.k}))
    print(json.dumps(check_optimizer_restore(data, args.length, args.batch)), flush=True)
    results = {}

    def record(name: str, result: dict) -> None:  # printed as each finishes, for a run cut short
        results[name] = result
        print(json.dumps({"finished": name, **result}), flush=True)

    record("cast_bf16", measure_cast(True, data, args.length, args.batch, args.k))
    record("cast_bf16_host_weights", measure_cast(True, data, args.length, args.batch, args.k, host_snapshots=True))
    if not args.skip_fp32:
        record("cast_fp32", measure_cast(False, data, args.length, args.batch, args.k))
    record("full_bf16", measure_full(data, args.length, args.batch))
    record("hf_trainer_bf16", measure_hf_trainer(data.union, args.length, args.batch))
    if args.compile:
        record("cast_bf16_compiled", measure_cast(True, data, args.length, args.batch, args.k, compile=True))
    for name, r in results.items():
        line = {"run": name, **{k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}}
        line["mfu"] = round(r["tflops"] / args.peak_tflops, 4)
        print(json.dumps(line), flush=True)
    cast, full, hf = results["cast_bf16"], results["full_bf16"], results["hf_trainer_bf16"]
    print(json.dumps({
        "cast_bf16_over_fp32_speed": round(cast["samples_per_s"] / results["cast_fp32"]["samples_per_s"], 3) if "cast_fp32" in results else None,
        "cast_bf16_over_hf_trainer_speed": round(cast["samples_per_s"] / hf["samples_per_s"], 3),
        "engine_full_over_hf_trainer_speed": round(full["samples_per_s"] / hf["samples_per_s"], 3),
        "cast_iteration_over_its_passes": round(cast["overhead"], 4),
        "cast_peak_gpu_memory_over_full": round(cast["peak_bytes"] / full["peak_bytes"], 3) if full["peak_bytes"] else None,
        "cast_mfu": round(cast["tflops"] / args.peak_tflops, 4),
        "cast_host_weights_iteration_over_its_passes": round(results["cast_bf16_host_weights"]["overhead"], 4),
        "cast_host_weights_peak_gpu_memory_over_full":
            round(results["cast_bf16_host_weights"]["peak_bytes"] / full["peak_bytes"], 3) if full["peak_bytes"] else None,
        **({"cast_compiled_mfu": round(results["cast_bf16_compiled"]["tflops"] / args.peak_tflops, 4),
            "cast_compiled_over_eager_speed": round(results["cast_bf16_compiled"]["samples_per_s"] / cast["samples_per_s"], 3)}
           if args.compile else {}),
    }), flush=True)


if __name__ == "__main__":
    main()
