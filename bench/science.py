"""The paper's claim at a long budget: does CAST reach full fine-tuning at equal compute?

Two steps, both resumable:

    # train (NLI RH1, packaged MiniLM, early stopping with patience 10, length 64)
    .venv/bin/python bench/science.py run --store /tmp/science/runs.sqlite --data ../shared/data/cad \
        --max-epochs 40 --seeds 1,2 [--bf16] [--lora-lr 5e-4]

    # write learning curves, the test table with bootstrap CIs and `cast compare` against full
    .venv/bin/python bench/science.py report --store /tmp/science/runs.sqlite --out bench/results/science

``run`` trains, one after another, every (method, seed) of the study: full
fine-tuning, CAST with the paper's mask criterion (disagreement), CAST with
``mask_criterion=factual_magnitude``, and LoRA at ``--lora-lr`` (its tuned
rate). Full fine-tuning and CAST train at their recommended learning rate
(train.lr 0: the method's own). The baselines train on originals and
revisions (the CAD regime), the data CAST sees. Every run writes an epoch
checkpoint, so a stopped study continues where it stopped: a completed run
with the same config is skipped, an interrupted or cancelled one is resumed
from its last epoch (``cast resume``), anything else starts.

``report`` reads the store and writes into ``--out``:

* ``curves.csv`` / ``curves.png``: validation accuracy after every epoch against
  the training examples processed so far (forward and backward passes; CAST's
  two passes count twice), one line per run;
* ``table.md`` / ``table.csv``: per method, test accuracy (mean ± std over seeds,
  and a bootstrap 95 % CI over the pooled test examples of its seeds),
  epochs, examples processed, training time, and the best validation accuracy
  reached within full fine-tuning's compute (equal compute, not equal epochs);
* ``compare-<method>-vs-full.txt``: ``cast compare`` of each method against full
  fine-tuning (paired bootstrap CI and McNemar over seed-paired runs).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: The study's arms: label → (method, method options, learning rate: 0 is the method's recommended one).
ARMS = {
    "full": ("full", {}, None),
    "cast": ("cast", {"mask_criterion": "disagreement"}, None),
    "cast-factual-magnitude": ("cast", {"mask_criterion": "factual_magnitude"}, None),
    "lora": ("lora", {}, "lora"),
}
TITLES = {"full": "Full fine-tuning", "cast": "CAST (disagreement, the paper's)",
          "cast-factual-magnitude": "CAST (factual_magnitude)", "lora": "LoRA"}


@dataclass
class Study:
    """The study's settings (recorded in the report's README)."""

    data: str
    model: str = "minilm"
    task: str = "nli"
    variant: str = "RH1"
    seeds: tuple[int, ...] = (1, 2)
    max_epochs: int = 40
    patience: int = 10
    max_length: int = 64
    batch_size: int = 32
    bf16: bool = False
    lora_lr: float = 5e-4
    train_limit: int = 0
    eval_limit: int = 0
    device: str = "auto"
    arms: tuple[str, ...] = tuple(ARMS)

    def configs(self) -> list[tuple[str, object]]:
        """(arm label, RunConfig) of every run of the study, in the order they train (seed-major)."""
        from cast_engine.config import DataConfig, RunConfig, TrainConfig
        from cast_engine.settings import absolute_data
        from cast_engine.methods.registry import get_method

        planned = []
        for seed in self.seeds:
            for label in self.arms:
                method, options, lr_of = ARMS[label]
                lr = self.lora_lr if lr_of == "lora" else 0.0
                config = RunConfig(
                    data=DataConfig(data=absolute_data(self.data), task=self.task, variant=self.variant,
                                    train_limit=self.train_limit, eval_limit=self.eval_limit),
                    train=TrainConfig(lr=lr, max_epochs=self.max_epochs, patience=self.patience,
                                      max_length=self.max_length, batch_size=self.batch_size, bf16=self.bf16,
                                      seed=seed, device=self.device),
                    method=get_method(method).config_cls(**options), model=self.model, regime="cad",
                    name=f"science: {label}, seed {seed}")
                config.validate()
                planned.append((label, config))
        return planned


def arm_of(config: dict) -> str | None:
    """The study arm a stored run's config belongs to (None: not one of the study's)."""
    method = config.get("method") or {}
    for label, (name, options, _) in ARMS.items():
        if method.get("name") == name and all(method.get(k) == v for k, v in options.items()):
            return label
    return None


# ------------------------------------------------------------------- run

def run_study(study: Study, store_path: Path, log=print) -> list[int]:
    """Train every run of the study the store lacks; resume stopped ones. Returns the run ids in plan order."""
    from cast_engine.config import config_fingerprint
    from cast_engine.store import RunStore
    from cast_engine.runs.runner import resume, resume_problem, run

    store_path.parent.mkdir(parents=True, exist_ok=True)
    ids = []
    planned = study.configs()
    for index, (label, config) in enumerate(planned, start=1):
        key = config_fingerprint(config.to_dict())
        with RunStore(store_path) as store:
            done = store.runs_by_fingerprint([key]).get(key)
            stopped = [r for r in store.list_runs() if r.get("fingerprint") == key and resume_problem(r) is None]
        head = f"[{index}/{len(planned)}] {label}, seed {config.train.seed}"
        started = time.perf_counter()
        if done is not None:
            log(f"{head}: run {done} already completed")
            ids.append(done)
            continue
        if stopped:
            log(f"{head}: resuming run {stopped[0]['id']}")
            result = resume(stopped[0]["id"], store=store_path, save_model=False)
        else:
            log(f"{head}: training")
            result = run(config, store=store_path, save_model=False, checkpoint=True)
        test = (result.test or {}).get("combined")
        log(f"{head}: run {result.run_id} {result.status}" + (f", test combined {100 * test:.1f}" if test else "")
            + f", best epoch {result.best_epoch}, {time.perf_counter() - started:.0f} s")
        if result.status != "completed":
            raise SystemExit(f"run {result.run_id} {result.status}: {result.reason}; run this command again to resume it")
        ids.append(result.run_id)
    return ids


# ----------------------------------------------------------------- report

@dataclass
class ArmResult:
    """The completed runs of one arm and what they measured."""

    label: str
    runs: list[dict]
    epochs: dict[int, list[dict]]


def load_arms(store) -> dict[str, ArmResult]:
    """Completed study runs grouped by arm (the newest run per arm and seed)."""
    arms: dict[str, ArmResult] = {}
    for run in sorted(store.list_runs(status="completed"), key=lambda r: r["id"]):
        label = arm_of(run.get("config") or {})
        if label is None:
            continue
        arm = arms.setdefault(label, ArmResult(label, [], {}))
        arm.runs = [r for r in arm.runs if r["seed"] != run["seed"]] + [run]
        arm.epochs[run["id"]] = store.epochs(run["id"])
    return {label: arms[label] for label in ARMS if label in arms}


def curves_csv(arms: dict[str, ArmResult]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["arm", "seed", "run_id", "epoch", "stage", "train_examples", "train_time_s", "val_combined",
                     "val_factual", "val_counterfactual", "train_loss"])
    for arm in arms.values():
        for run in arm.runs:
            for row in arm.epochs[run["id"]]:
                writer.writerow([arm.label, run["seed"], run["id"], row["epoch"], row["stage"],
                                 row.get("train_examples"), _fmt(row.get("train_time_s"), ".2f"),
                                 _fmt(row.get("val_combined"), ".4f"), _fmt(row.get("val_factual"), ".4f"),
                                 _fmt(row.get("val_counterfactual"), ".4f"), _fmt(row.get("train_loss"), ".4f")])
    return out.getvalue()


def curves_figure(arms: dict[str, ArmResult], title: str):
    """Validation accuracy against training examples processed: a colour per arm, a line per seed."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7.0, 4.5), dpi=150, layout="constrained")
    axes = figure.add_subplot()
    colours = {"full": "#1f77b4", "cast": "#d62728", "cast-factual-magnitude": "#ff7f0e", "lora": "#2ca02c"}
    styles = ["-", "--", ":", "-."]
    for arm in arms.values():
        for index, run in enumerate(sorted(arm.runs, key=lambda r: r["seed"])):
            points = [(row["train_examples"], 100 * row["val_combined"]) for row in arm.epochs[run["id"]]
                      if isinstance(row.get("train_examples"), int) and isinstance(row.get("val_combined"), float)]
            if points:
                xs, ys = zip(*points)
                axes.plot(xs, ys, styles[index % len(styles)], marker="o", markersize=2.5, linewidth=1.2,
                          color=colours.get(arm.label), label=f"{TITLES[arm.label]}, seed {run['seed']}")
    axes.set_xlabel("training examples processed (forward + backward passes; CAST: both passes)")
    axes.set_ylabel("validation combined accuracy (%)")
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    axes.legend(frameon=False, fontsize=7)
    return figure


def accuracy_ci(store, runs: list[dict]) -> tuple[float, float]:
    """Bootstrap 95 % CI of the combined test accuracy over the test examples, seeds' correctness averaged
    per example (the engine's paired bootstrap against an all-wrong classifier is exactly this interval)."""
    import numpy as np

    from cast_engine.evaluate.significance import combined_predictions, paired_bootstrap

    rows = []
    for run in runs:
        predicted, gold = combined_predictions(store.predictions(run["id"]))
        rows.append(np.asarray(predicted) == np.asarray(gold))
    correct = np.mean(rows, axis=0)
    return paired_bootstrap(correct, np.zeros_like(correct))


@dataclass
class TableRow:
    label: str
    n: int
    mean: float
    std: float | None
    ci: tuple[float, float]
    epochs: float
    best_epoch: float
    examples: float
    train_time_s: float
    val_at_full_compute: float | None


def table_rows(store, arms: dict[str, ArmResult]) -> list[TableRow]:
    full_budget = None
    if "full" in arms:
        full_budget = statistics.fmean(r["results"]["train_examples"] for r in arms["full"].runs)
    rows = []
    for arm in arms.values():
        tests = [100 * r["results"]["combined"] for r in arm.runs]
        low, high = accuracy_ci(store, arm.runs)
        within = None
        if full_budget is not None:  # the best validation each seed reached within full fine-tuning's compute
            best = [max((100 * e["val_combined"] for e in arm.epochs[r["id"]]
                         if (e.get("train_examples") or 0) <= full_budget and e.get("val_combined") is not None),
                        default=float("nan")) for r in arm.runs]
            within = statistics.fmean(best)
        rows.append(TableRow(
            arm.label, len(tests), statistics.fmean(tests), statistics.stdev(tests) if len(tests) > 1 else None,
            (100 * low, 100 * high), statistics.fmean(r["results"]["epochs_completed"] for r in arm.runs),
            statistics.fmean(r["best_epoch"] for r in arm.runs),
            statistics.fmean(r["results"]["train_examples"] for r in arm.runs),
            statistics.fmean(r["results"]["train_time_s"] for r in arm.runs), within))
    return rows


def table_markdown(rows: list[TableRow], caption: str) -> str:
    lines = [caption, "",
             "| method | n | test combined (%) | bootstrap 95 % CI | epochs run | best epoch | examples processed "
             "| training time | best val. within full's compute (%) |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        std = f" ± {r.std:.1f}" if r.std is not None else ""
        within = "–" if r.val_at_full_compute is None else f"{r.val_at_full_compute:.1f}"
        lines.append(f"| {TITLES[r.label]} | {r.n} | {r.mean:.1f}{std} | [{r.ci[0]:.1f}, {r.ci[1]:.1f}] "
                     f"| {r.epochs:.1f} | {r.best_epoch:.1f} | {r.examples:,.0f} | {_duration(r.train_time_s)} | {within} |")
    return "\n".join(lines) + "\n"


def table_csv(rows: list[TableRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["arm", "n", "test_mean", "test_std", "ci_low", "ci_high", "epochs_run", "best_epoch",
                     "train_examples", "train_time_s", "best_val_within_full_compute"])
    for r in rows:
        writer.writerow([r.label, r.n, f"{r.mean:.4f}", _fmt(r.std, ".4f"), f"{r.ci[0]:.4f}", f"{r.ci[1]:.4f}",
                         f"{r.epochs:.2f}", f"{r.best_epoch:.2f}", f"{r.examples:.0f}", f"{r.train_time_s:.1f}",
                         _fmt(r.val_at_full_compute, ".4f")])
    return out.getvalue()


def compare_against_full(store_path: Path, arms: dict[str, ArmResult], out: Path) -> list[Path]:
    """`cast compare --a METHOD's runs --b full's runs` for every other arm, its output saved as text."""
    if "full" not in arms:
        return []
    written = []
    full_ids = [str(r["id"]) for r in sorted(arms["full"].runs, key=lambda r: r["seed"])]
    for arm in arms.values():
        if arm.label == "full":
            continue
        ids = [str(r["id"]) for r in sorted(arm.runs, key=lambda r: r["seed"])]
        command = [sys.executable, "-m", "cast_engine.cli", "--db", str(store_path), "compare", "--a", *ids,
                   "--b", *full_ids]
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                              env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
        shown = " ".join(["cast", "compare", "--a", *ids, "--b", *full_ids])
        path = out / f"compare-{arm.label}-vs-full.txt"
        path.write_text(f"$ {shown}   # A = {TITLES[arm.label]}, B = {TITLES['full']}\n{done.stdout}{done.stderr}")
        written.append(path)
    return written


def write_report(store_path: Path, out: Path, title: str = "NLI RH1, packaged MiniLM") -> list[Path]:
    """Curves, table and comparisons of the study's completed runs in ``store_path``, into ``out``."""
    from cast_engine.store import RunStore

    out.mkdir(parents=True, exist_ok=True)
    with RunStore(store_path) as store:
        arms = load_arms(store)
        if not arms:
            raise SystemExit(f"no completed study runs in {store_path}: run `bench/science.py run` first")
        rows = table_rows(store, arms)
    files = []
    (out / "curves.csv").write_text(curves_csv(arms))
    curves_figure(arms, f"Validation accuracy against compute: {title}").savefig(out / "curves.png")
    caption = (f"Test accuracy on {title} (combined: original and revised test examples pooled), %: mean ± "
               "sample std over seeds, and a bootstrap 95 % CI over test examples (seeds averaged per example). "
               "Examples processed: forward and backward passes in training (CAST's two passes count twice). "
               "Last column: the best validation accuracy each run reached while it had processed no more "
               "examples than full fine-tuning's runs did in total (mean over seeds).")
    (out / "table.md").write_text(table_markdown(rows, caption))
    (out / "table.csv").write_text(table_csv(rows))
    files += [out / "curves.csv", out / "curves.png", out / "table.md", out / "table.csv"]
    files += compare_against_full(store_path, arms, out)
    return files


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _fmt(value, spec: str) -> str:
    return "" if value is None else format(value, spec)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="Train the study's runs the store lacks (resumes stopped ones).")
    p.add_argument("--store", required=True, type=Path, help="Run store file (its folder keeps the checkpoints).")
    p.add_argument("--data", default="upstream", help="The CAD data: a Kaushik-layout folder (or 'upstream').")
    p.add_argument("--model", default="minilm", help="Model (default: the packaged MiniLM).")
    p.add_argument("--task", default="nli", choices=("nli", "sentiment"), help="Task (default: nli).")
    p.add_argument("--variant", default="RH1", help="Dataset variant (default: RH1).")
    p.add_argument("--seeds", default="1,2", help="Seeds (default: 1,2).")
    p.add_argument("--max-epochs", type=int, default=40, help="Most epochs (CAST: iterations) per run (default: 40).")
    p.add_argument("--patience", type=int, default=10, help="Early-stopping patience (default: 10).")
    p.add_argument("--max-length", type=int, default=64, help="Longest input in tokens (NLI pairs average 27; default: 64).")
    p.add_argument("--batch-size", type=int, default=32, help="Training batch size (default: 32).")
    p.add_argument("--bf16", action="store_true", help="bfloat16 autocast (CUDA, or a CPU with native bf16).")
    p.add_argument("--lora-lr", type=float, default=5e-4, help="LoRA's learning rate: its tuned one (default: 5e-4, its recommended).")
    p.add_argument("--arms", default=",".join(ARMS), help=f"Which arms (default: {','.join(ARMS)}).")
    p.add_argument("--train-limit", type=int, default=0, help="First N training originals only (0: all; for a smoke test).")
    p.add_argument("--eval-limit", type=int, default=0, help="First N dev and test originals only (0: all).")
    p.add_argument("--device", default="auto", help="Device (default: auto).")
    p = sub.add_parser("report", help="Write curves, table and comparisons from the store.")
    p.add_argument("--store", required=True, type=Path)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "science")
    p.add_argument("--title", default="NLI RH1, packaged MiniLM")
    args = parser.parse_args(argv)
    from cast_engine.errors import CastError

    try:
        return _main(parser, args)
    except CastError as exc:
        print(f"science.py: error: {exc}", file=sys.stderr)
        return 2


def _main(parser, args) -> int:
    if args.command == "run":
        arms = tuple(a.strip() for a in args.arms.split(",") if a.strip())
        unknown = [a for a in arms if a not in ARMS]
        if unknown:
            parser.error(f"--arms: {unknown[0]!r} is not one of {', '.join(ARMS)}")
        study = Study(args.data, args.model, args.task, args.variant, seeds=tuple(int(s) for s in args.seeds.split(",")),
                      max_epochs=args.max_epochs, patience=args.patience, max_length=args.max_length,
                      batch_size=args.batch_size, bf16=args.bf16, lora_lr=args.lora_lr, arms=arms,
                      train_limit=args.train_limit, eval_limit=args.eval_limit, device=args.device)
        print(f"study: {study}", flush=True)
        run_study(study, args.store, log=lambda line: print(line, flush=True))
    else:
        for path in write_report(args.store, args.out, args.title):
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
