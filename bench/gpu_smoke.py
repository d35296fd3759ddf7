"""GPU smoke check of the engine's CUDA path (fused AdamW, bf16 autocast, top-K on CUDA).

Builds a randomly initialised BERT-base-size classifier (12 layers, hidden 768)
with a given tokenizer, trains `cast` and `full` on NLI RH1 for a few epochs
on CUDA with bf16 autocast and in fp32, and checks the exact top-K on CUDA
against torch.topk on ≈110M values. Prints one line per measurement.

    python bench/gpu_smoke.py --data ../shared/data/cad --tokenizer TOKENIZER_DIR
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing


def build_bert_base(tokenizer_dir: str, folder: Path) -> None:
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    torch.manual_seed(0)
    BertModel(BertConfig()).save_pretrained(folder)  # BERT-base shape, random weights
    AutoTokenizer.from_pretrained(tokenizer_dir).save_pretrained(folder)


def topk_check(n_target: int = 110_000_000, k: int = 10_000_000) -> dict:
    import torch

    from cast_engine.sparse.topk import global_topk_masks

    from transformers import BertConfig, BertModel

    shapes = [p.shape for p in BertModel(BertConfig()).parameters()]
    g = torch.Generator(device="cuda").manual_seed(0)
    scores = [torch.rand(s, device="cuda", generator=g) for s in shapes]
    torch.cuda.synchronize()
    t = time.perf_counter()
    masks = global_topk_masks(iter(scores), shapes, k)
    torch.cuda.synchronize()
    engine_s = time.perf_counter() - t
    t = time.perf_counter()
    flat = torch.cat([s.flatten() for s in scores])
    idx = flat.topk(k).indices
    torch.cuda.synchronize()
    topk_s = time.perf_counter() - t
    reference = torch.zeros_like(flat, dtype=torch.bool)
    reference[idx] = True
    same = bool(torch.equal(torch.cat([m.flatten() for m in masks]), reference))
    return {"values": flat.numel(), "k": k, "same_set_as_torch_topk": same, "engine_s": round(engine_s, 4),
            "torch_topk_s": round(topk_s, 4), "speedup": round(topk_s / engine_s, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--device", default="cuda", help="cpu only for a dry run of this script")
    parser.add_argument("--train-limit", type=int, default=0, help="first N originals only (dry runs)")
    args = parser.parse_args()

    import torch

    import cast_engine as ce

    cuda = args.device.startswith("cuda")
    print(json.dumps({"device": torch.cuda.get_device_name(0) if cuda else "cpu", "torch": torch.__version__}))
    if cuda:
        print(json.dumps({"topk_cuda": topk_check()}))
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "bert-base-random"
        build_bert_base(args.tokenizer, model_dir)
        db = Path(tmp) / "runs.sqlite"
        for method, bf16 in (("cast", True), ("full", True), ("cast", False)):
            config = ce.RunConfig(
                data=ce.DataConfig(data=args.data, task="nli", variant="RH1", train_limit=args.train_limit, eval_limit=args.train_limit),
                train=ce.TrainConfig(max_length=128, batch_size=32, max_epochs=args.epochs, lr=5e-5, device=args.device, bf16=bf16, seed=1),
                method=ce.CastConfig(alpha=0.05, k="9.1%") if method == "cast" else ce.FullConfig(),
                model=str(model_dir),
            )
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            result = ce.run(config, store=db)
            wall = time.perf_counter() - start
            test = result.test or {}
            print(json.dumps({"method": method, "bf16": bf16, "status": result.status, "reason": result.reason,
                              "epochs": len(result.history), "wall_s": round(wall, 1),
                              "peak_gpu_mib": round(torch.cuda.max_memory_allocated() / 2**20) if cuda else None,
                              "test_combined": test.get("combined"), "val_combined": [h["val_combined"] for h in result.history]}))


if __name__ == "__main__":
    main()
