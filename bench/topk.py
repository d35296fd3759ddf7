"""Exact global top-K at BERT-base scale: the engine's mask selection against torch.topk.

Builds one random score tensor per BERT-base parameter (shapes from
``BertModel(BertConfig())`` on the meta device, ≈110M values, float32 like
|θ_counter − θ_fac|), then for each K times, in the same run, the median of
``--repeats`` runs after one warm-up of

* the engine: ``global_topk_masks(iter(scores), shapes, k)``;
* the reference: ``torch.topk(torch.cat([s.flatten() for s in scores]), k)``
  (its concatenation included, as a user would write it);

checks that both select the same set of entries, and measures the peak extra
memory of one engine selection (and of one reference call) as a multiple of
the parameter bytes: on CPU the process RSS above what it was before the call
after a warm-up call and ``malloc_trim`` (sampled every 0.2 ms by a thread,
and the kernel's ``ru_maxrss``), on CUDA
``torch.cuda.max_memory_allocated`` above the memory allocated before it.

``torch.topk`` does not promise which of several entries tied at the K-th
value it keeps (the engine keeps the lowest flat indices); when the sets
differ, ``diff_only_ties`` says whether they differ only among such ties and
``engine_is_lowest_ties`` whether the engine kept the lowest-index ones.

    .venv/bin/python bench/topk.py                       # CPU, K = 10^7
    .venv/bin/python bench/topk.py --k 1e4 1e6 1e7 1e8   # several K
    .venv/bin/python bench/topk.py --device cuda         # on a GPU

Prints one ``key=value`` line per K (ratio = torch_topk_s / engine_s); it
asserts nothing about timings.
"""

from __future__ import annotations

import argparse
import ctypes
import math
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

import torch  # noqa: E402

from cast_engine.sparse.topk import global_topk_masks  # noqa: E402


def bert_base_shapes() -> list[torch.Size]:
    from transformers import BertConfig

    config = BertConfig()
    try:
        from transformers import BertModel

        with torch.device("meta"):  # shapes only, no weights allocated
            return [p.shape for p in BertModel(config).parameters()]
    except Exception:  # noqa: BLE001 - a transformers without meta-device construction: the same shapes by hand
        h, i, S = config.hidden_size, config.intermediate_size, torch.Size
        shapes = [S([config.vocab_size, h]), S([config.max_position_embeddings, h]), S([config.type_vocab_size, h]),
                  S([h]), S([h])]
        layer = [S([h, h]), S([h])] * 4 + [S([h]), S([h]), S([i, h]), S([i]), S([h, i]), S([h]), S([h]), S([h])]
        return shapes + layer * config.num_hidden_layers + [S([h, h]), S([h])]


def make_scores(shapes, device: str, seed: int) -> list[torch.Tensor]:
    g = torch.Generator(device=device).manual_seed(seed)
    return [torch.randn(s, generator=g, device=device).abs_().mul_(0.01) for s in shapes]


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def median_time(fn, device: str, repeats: int) -> float:
    fn()  # warm-up
    sync(device)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _trim() -> None:
    """Give freed heap memory back to the OS, so that reused pages do not hide new ones."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def peak_extra_bytes(fn, device: str) -> int:
    """Peak memory above the level before the call, while ``fn()`` runs and holds its result."""
    if device == "cuda":
        torch.cuda.synchronize()
        base = torch.cuda.memory_allocated()
        torch.cuda.reset_peak_memory_stats()
        out = fn()
        torch.cuda.synchronize()
        del out
        return torch.cuda.max_memory_allocated() - base
    fn()  # warm-up: first-call allocations and library pages are not the call's own
    _trim()
    base, peak, done = _rss(), [0], threading.Event()

    def poll():
        while not done.is_set():
            peak[0] = max(peak[0], _rss())
            time.sleep(0.0002)

    max_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    out = fn()
    peak[0] = max(peak[0], _rss())
    done.set()
    thread.join()
    del out
    max_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if max_after > max_before:  # the kernel saw a new all-time peak during the call: exact
        peak[0] = max(peak[0], max_after)
    return peak[0] - base


def engine(scores, shapes, k):
    return global_topk_masks(iter(scores), shapes, k)


def reference(scores, k):
    return torch.topk(torch.cat([s.flatten() for s in scores]), k)


def compare(scores, shapes, k) -> dict:
    masks = engine(scores, shapes, k)
    got = torch.cat([m.flatten() for m in masks])
    del masks
    ref = reference(scores, k)
    expected = torch.zeros_like(got)
    expected[ref.indices] = True
    t = ref.values.min()
    del ref
    same = torch.equal(got, expected)
    out = {"same_set": same, "count": int(got.sum())}
    if not same:
        flat = torch.cat([s.flatten() for s in scores])
        diff = torch.nonzero(got != expected).flatten()
        ties = torch.nonzero(flat == t).flatten()
        n_above = int((flat > t).sum())
        lowest = torch.zeros_like(got)
        lowest[ties[: k - n_above]] = True
        out.update(differing=diff.numel(), tied_at_threshold=ties.numel(),
                   diff_only_ties=bool((flat[diff] == t).all()),
                   engine_is_lowest_ties=bool(torch.equal(got, (flat > t) | lowest)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--k", nargs="+", default=["1e7"], help="one or more K (10000, 1e7, ...)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    shapes = bert_base_shapes()
    n = sum(math.prod(s) for s in shapes)
    scores = make_scores(shapes, args.device, args.seed)
    param_bytes = sum(s.numel() * s.element_size() for s in scores)
    where = torch.cuda.get_device_name() if args.device == "cuda" else f"{torch.get_num_threads()} threads"
    print(f"device={args.device} ({where}) torch={torch.__version__} tensors={len(shapes)} values={n:,} "
          f"param_bytes={param_bytes / 2**20:.0f}MiB", flush=True)
    for k in (int(float(x)) for x in args.k):
        engine_mem = peak_extra_bytes(lambda k=k: engine(scores, shapes, k), args.device)
        reference_mem = peak_extra_bytes(lambda k=k: reference(scores, k), args.device)
        engine_s = median_time(lambda k=k: engine(scores, shapes, k), args.device, args.repeats)
        topk_s = median_time(lambda k=k: reference(scores, k), args.device, args.repeats)
        check = compare(scores, shapes, k)
        fields = {"k": f"{k:.0e}", "engine_s": f"{engine_s:.4f}", "torch_topk_s": f"{topk_s:.4f}",
                  "ratio": f"{topk_s / engine_s:.1f}",
                  "engine_peak_extra": f"{engine_mem / param_bytes:.2f}x",
                  "torch_topk_peak_extra": f"{reference_mem / param_bytes:.2f}x", **check}
        print(" ".join(f"{key}={value}" for key, value in fields.items()), flush=True)


if __name__ == "__main__":
    main()
