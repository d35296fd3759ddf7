"""Peak memory of reading a dataset file, over the file's size.

Writes a paired sentiment CSV of the requested size (reviews of a few hundred
words, as in the Kaushik et al. data) under a temporary folder, then in a fresh
process per measurement loads it the way `cast run --data FILE` does and
reports the peak resident memory added by the load, divided by the file size.
The reference in the same run is pandas.read_csv of the same file (the rows
only, no dataset built).

    .venv/bin/python bench/read_memory.py --mb 100 1000 [--folder /tmp] [--skip-pandas]
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = ("the film plot acting score story ending camera actor scene long short dull moving funny sad "
         "bright dark quiet loud script light music cut frame slow fast").split()

MEASURE = r"""
import json, resource, sys
sys.path.insert(0, {root!r})
kind, path = sys.argv[1], sys.argv[2]
if kind == "cast":
    from cast_engine.data import load_cad
else:
    import pandas
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if kind == "cast":
    dataset = load_cad(path, "sentiment")
    rows = len(dataset.train.factual) + len(dataset.train.counterfactual)
else:
    frame = pandas.read_csv(path, keep_default_na=False, dtype=str)
    rows = len(frame)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({{"added_bytes": (after - before) * 1024, "rows": rows}}))
"""


def write_csv(path: Path, size: int, seed: int = 0) -> Path:
    """A paired CSV (pair_id, split, role, label, text) of about ``size`` bytes."""
    rng = random.Random(seed)
    written, pair = 0, 0
    with open(path, "w", encoding="utf-8", newline="") as out:
        out.write("pair_id,split,role,label,text\n")
        while written < size:
            split = rng.choices(("train", "dev", "test"), (8, 1, 1))[0]
            label = rng.choice(("Positive", "Negative"))
            other = "Negative" if label == "Positive" else "Positive"
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(60, 180)))
            for role, value in (("original", label), ("revised", other)):
                line = f"p{pair},{split},{role},{value},{text}\n"
                out.write(line)
                written += len(line)
            pair += 1
    return path


def measure(kind: str, path: Path) -> dict:
    """Peak resident memory added by reading ``path`` in a fresh process ('cast' or 'pandas')."""
    done = subprocess.run([sys.executable, "-c", MEASURE.format(root=str(ROOT)), kind, str(path)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, nargs="+", default=[100.0])
    parser.add_argument("--folder", default=None, help="where the generated files go (default: the system's temporary folder)")
    parser.add_argument("--skip-pandas", action="store_true")
    args = parser.parse_args()
    print("| file | rows read | peak added by cast (× file) | peak added by pandas.read_csv (× file) |")
    print("| --- | --- | --- | --- |")
    for mb in args.mb:
        with tempfile.TemporaryDirectory(dir=args.folder) as folder:
            path = write_csv(Path(folder) / "pairs.csv", int(mb * 1e6))
            size = path.stat().st_size
            cast = measure("cast", path)
            reference = None if args.skip_pandas else measure("pandas", path)
            ratio = f"{reference['added_bytes'] / size:.2f}" if reference else "not measured"
            print(f"| {size / 1e6:.0f} MB | {cast['rows']:,} | {cast['added_bytes'] / size:.2f} | {ratio} |", flush=True)


if __name__ == "__main__":
    main()
