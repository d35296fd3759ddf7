"""CAST's peak memory on CPU over a full fine-tune's, in units of the model's parameter bytes.

Each contestant trains in a fresh process (the packaged MiniLM, the real NLI
data, a small subset) and reports its peak resident memory (``ru_maxrss``).
Both processes load the same model and data, so the difference of the peaks
is what CAST holds beyond a full fine-tune: its snapshots (goal ≤ 2.2× the
parameter bytes).

    .venv/bin/python bench/memory.py --data ../shared/data/cad [--train-limit 64]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def child(method: str, data: str, train_limit: int, epochs: int) -> None:
    """Train one run and print its peak RSS and parameter bytes as JSON."""
    import cast_engine as ce

    config = ce.RunConfig(
        data=ce.DataConfig(data=data, task="nli", variant="RH1", train_limit=train_limit, eval_limit=train_limit),
        train=ce.TrainConfig(max_length=128, batch_size=16, max_epochs=epochs, device="cpu", seed=1),
        method=ce.CastConfig(alpha=0.05, k="1%") if method == "cast" else ce.FullConfig(),
    )
    result = ce.run(config)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"method": method, "status": result.status, "peak_bytes": peak_kib * 1024,
                      "param_bytes": result.total_params * 4}))


def measure(method: str, args) -> dict:
    env = dict(os.environ, CAST_DB=str(Path(args.tmp) / "runs.sqlite"), CAST_CACHE_DIR=str(Path(args.tmp) / "cache"))
    out = subprocess.run([sys.executable, __file__, "--child", method, "--data", args.data,
                          "--train-limit", str(args.train_limit), "--epochs", str(args.epochs)],
                         env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="the Kaushik CAD folder (holding NLI/)")
    parser.add_argument("--train-limit", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--child", default="")
    args = parser.parse_args()
    if args.child:
        child(args.child, args.data, args.train_limit, args.epochs)
        return
    with tempfile.TemporaryDirectory() as tmp:
        args.tmp = tmp
        measure("full", args)  # warm the token cache so neither contestant pays for tokenising
        full, cast = measure("full", args), measure("cast", args)
    print(json.dumps(full))
    print(json.dumps(cast))
    extra = cast["peak_bytes"] - full["peak_bytes"]
    print(json.dumps({"cast_extra_peak_bytes": extra, "param_bytes": full["param_bytes"],
                      "cast_extra_over_param_bytes": round(extra / full["param_bytes"], 3), "goal": 2.2}))


if __name__ == "__main__":
    main()
