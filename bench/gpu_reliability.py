"""GPU reliability check (issue 5): a real CUDA out-of-memory, resume on CUDA, and what checkpoints cost.

On a random BERT-base-size classifier (the given tokenizer), with synthetic
paired data written here:

1. a run whose first batch cannot fit (batch 4096, length 512) must fail with
   the engine's advice, and a normal run in the same process must then complete
   (the studio's queue lives in one process);
2. CAST (bf16) is stopped after epoch 1 and resumed: the resumed run's
   per-epoch validation scores, test scores and weights are compared with an
   unbroken run of the same seed (identical on CPU; reported here for CUDA);
3. full fine-tuning with and without epoch checkpoints: seconds per epoch,
   the checkpoint's size and the time its writing adds.

    python bench/gpu_reliability.py --tokenizer TOKENIZER_DIR
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

DEVICE = "cuda"  # --device cpu: a dry run of checks 2-4 before spending device time
WORDS = "the film plot cast score story ending scene actor music camera light dark slow fast long short".split()


def say(**fields) -> None:
    print(json.dumps(fields), flush=True)


def write_pairs(path: Path, pairs: int, words: int, seed: int = 0) -> Path:
    """A paired CSV: each original and its revision differ in the sentiment word and the label."""
    rng = random.Random(seed)
    lines = ["pair_id,split,role,text,label"]
    for split, count in (("train", pairs), ("dev", max(pairs // 8, 16)), ("test", max(pairs // 8, 16))):
        for i in range(count):
            body = " ".join(rng.choice(WORDS) for _ in range(words))
            good = i % 2 == 0
            lines.append(f"{split}{i},{split},original,{'good' if good else 'bad'} {body},{'positive' if good else 'negative'}")
            lines.append(f"{split}{i},{split},revised,{'bad' if good else 'good'} {body},{'negative' if good else 'positive'}")
    path.write_text("\n".join(lines) + "\n")
    return path


def build_bert_base(tokenizer_dir: str, folder: Path) -> str:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    BertModel(BertConfig()).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)
    return str(folder)


def config(model: str, data: Path, method: str = "full", **train):
    from cast_engine.config import DataConfig, RunConfig, TrainConfig
    from cast_engine.methods.registry import get_method

    options = {"k": "1%", "alpha": 0.05} if method == "cast" else {}
    train = {"device": DEVICE, "lr": 2e-5, "max_length": 128, "batch_size": 32, "max_epochs": 3, "bf16": True, **train}
    return RunConfig(data=DataConfig(data=str(data), task="sentiment"), train=TrainConfig(**train),
                     method=get_method(method).config_cls(**options), model=model)


def out_of_memory(model: str, work: Path, store) -> None:
    import torch

    from cast_engine.runs.runner import run

    long_data = write_pairs(work / "long.csv", pairs=2048, words=600)
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    result = run(config(model, long_data, batch_size=4096, max_length=512, max_epochs=1, bf16=False), store=store)
    say(check="real CUDA out of memory", status=result.status, reason=result.reason,
        seconds=round(time.perf_counter() - started, 1), peak_gib=round(torch.cuda.max_memory_allocated() / 2**30, 1),
        allocated_after_gib=round(torch.cuda.memory_allocated() / 2**30, 2))
    assert result.status == "failed" and "CUDA ran out of memory" in result.reason and "--batch-size 2048" in result.reason
    after = run(config(model, work / "small.csv", max_epochs=1), store=store)
    say(check="next run in the same process", status=after.status, test_combined=after.test and after.test["combined"])
    assert after.status == "completed"


def resume_on_cuda(model: str, work: Path, store) -> None:
    from safetensors.torch import load_file

    from cast_engine.train.events import CancelToken, EpochEnded
    from cast_engine.runs.runner import resume, run

    cfg = config(model, work / "small.csv", method="cast")
    reference = run(cfg, store=store)
    token = CancelToken()

    def stop(event):
        if isinstance(event, EpochEnded) and event.epoch == 1:
            token.cancel("stopped after epoch 1")

    stopped = run(cfg, store=store, cancel=token, sinks=[stop])
    resumed = resume(stopped.run_id, store=store)
    ref_val = [e["val_combined"] for e in store.epochs(reference.run_id)]
    res_val = [e["val_combined"] for e in store.epochs(resumed.run_id)]
    ref_w = load_file(str(reference.artifact))
    res_w = load_file(str(resumed.artifact))
    max_diff = max(float((ref_w[n].float() - res_w[n].float()).abs().max()) for n in ref_w)
    say(check="resume on CUDA (CAST, bf16)", stopped=stopped.status, resumed=resumed.status,
        val_reference=ref_val, val_resumed=res_val, test_reference=reference.test["combined"],
        test_resumed=resumed.test["combined"], same_test=reference.test == resumed.test,
        max_weight_difference=max_diff)
    assert resumed.status == "completed"


def checkpoint_cost(model: str, work: Path, store) -> None:
    from cast_engine.runs.folders import checkpoint_path
    from cast_engine.train.events import EpochEnded
    from cast_engine.runs.runner import run

    data = write_pairs(work / "medium.csv", pairs=4096, words=90, seed=1)
    times = {}
    for checkpoint in (False, True):
        ends = []
        result = run(config(model, data, max_epochs=3, checkpoint=checkpoint), store=store,
                     sinks=[lambda e, ends=ends: ends.append(time.perf_counter()) if isinstance(e, EpochEnded) else None])
        times[checkpoint] = (ends[-1] - ends[0]) / (len(ends) - 1)  # steady epochs: first to last epoch end
        if checkpoint:
            folder = store.artifact_dir(result.run_id, create=False)
            say(check="checkpoint file after completion", exists=checkpoint_path(folder).exists())
    say(check="epoch checkpoint cost (full, bf16, BERT-base, 8,192 examples of ~100 tokens)",
        epoch_s_without=round(times[False], 2), epoch_s_with=round(times[True], 2),
        ratio=round(times[True] / times[False], 3))


def checkpoint_size(model: str, work: Path, store) -> None:
    from cast_engine.runs.folders import checkpoint_path
    from cast_engine.train.events import CancelToken, EpochEnded
    from cast_engine.runs.runner import run

    token = CancelToken()
    result = run(config(model, work / "small.csv", method="cast", max_epochs=3), store=store, cancel=token,
                 sinks=[lambda e: token.cancel() if isinstance(e, EpochEnded) and e.epoch == 2 else None])
    path = checkpoint_path(store.artifact_dir(result.run_id, create=False))
    say(check="CAST checkpoint size (BERT-base)", bytes=path.stat().st_size, gib=round(path.stat().st_size / 2**30, 2))


def main() -> int:
    import torch

    from cast_engine.store import RunStore

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--device", default="cuda", help="cpu: a dry run without the out-of-memory check")
    parser.add_argument("--model", help="a model folder instead of the random BERT-base (dry runs)")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    say(device=torch.cuda.get_device_name() if DEVICE == "cuda" else DEVICE, torch=torch.__version__)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        model = args.model or build_bert_base(args.tokenizer, work / "bert-base")
        write_pairs(work / "small.csv", pairs=512, words=40, seed=2)
        checks = [resume_on_cuda, checkpoint_cost, checkpoint_size]
        with RunStore(work / "runs.sqlite") as store:
            for check in ([out_of_memory] if DEVICE == "cuda" else []) + checks:
                started = time.perf_counter()
                try:
                    check(model, work, store)
                except Exception as exc:  # report and go on: one device call must bring back every answer
                    say(check=check.__name__, error=f"{type(exc).__name__}: {exc}")
                say(finished=check.__name__, seconds=round(time.perf_counter() - started, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
