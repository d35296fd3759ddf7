"""`cast`: the headless front door (run, runs, show, export, data).

Every run option comes from a config dataclass field (name, default, help,
choices), so the CLI and the studio's forms cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Sequence

from .config import DataConfig, RunConfig, TrainConfig, coerce
from .errors import CastError, ConfigError

RUN_LEVEL_FIELDS = ("model", "regime", "name")


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _add_field(group, f: dataclasses.Field, dest: str, help_text: str | None = None) -> None:
    meta = f.metadata
    text = help_text or meta.get("help", "")
    if help_text is None and not isinstance(f.default, bool) and f.default is not dataclasses.MISSING:
        text += f" (default: {f.default})"
    kwargs = {"dest": dest, "default": argparse.SUPPRESS, "help": text.replace("%", "%%")}  # argparse %-formats help
    if f.type in ("bool", bool):
        group.add_argument(_flag(f.name), action=argparse.BooleanOptionalAction, **kwargs)
        return
    if meta.get("choices"):
        kwargs["choices"] = meta["choices"]
    group.add_argument(_flag(f.name), metavar=f.name.upper(), **kwargs)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Options for every field of the data, training, run and method configs."""
    from .methods.registry import get_method, method_names

    parser.add_argument("--method", default="full", choices=method_names(), help="Training method (default: full).")
    for cls, prefix, title in ((DataConfig, "data", "data"), (TrainConfig, "train", "training")):
        group = parser.add_argument_group(title)
        for f in dataclasses.fields(cls):
            _add_field(group, f, f"{prefix}.{f.name}")
    group = parser.add_argument_group("run")
    for f in dataclasses.fields(RunConfig):
        if f.name in RUN_LEVEL_FIELDS:
            _add_field(group, f, f"run.{f.name}")
    # Method options: one flag per field name; a name several methods share lists each one's help.
    by_name: dict[str, list[tuple[str, dataclasses.Field]]] = {}
    for method in method_names():
        for f in dataclasses.fields(get_method(method).config_cls):
            by_name.setdefault(f.name, []).append((method, f))
    group = parser.add_argument_group("method options (each applies to the methods named in its help)")
    for name, owners in by_name.items():
        help_text = " | ".join(f"{m}: {f.metadata.get('help', '')} (default: {f.default})" for m, f in owners)
        _add_field(group, owners[0][1], f"method.{name}", help_text)


def config_from_args(args: argparse.Namespace) -> RunConfig:
    """Build and validate a RunConfig from parsed options (given options only)."""
    from .methods.registry import get_method

    method_cls = get_method(args.method).config_cls
    sections = {"data": (DataConfig, {}), "train": (TrainConfig, {}), "run": (RunConfig, {}), "method": (method_cls, {})}
    for dest, value in vars(args).items():
        if "." not in dest:
            continue
        section, name = dest.split(".", 1)
        cls, values = sections[section]
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if name not in fields:
            raise ConfigError(f"{_flag(name)} does not apply to method {args.method}")
        values[name] = coerce(fields[name], value) if isinstance(value, str) else value
    config = RunConfig(
        data=DataConfig(**sections["data"][1]),
        train=TrainConfig(**sections["train"][1]),
        method=method_cls(**sections["method"][1]),
        **sections["run"][1],
    )
    config.validate()
    return config


# --------------------------------------------------------------------- commands

def cmd_run(args) -> int:
    from .train.runner import result_summary, run
    from .train.progress import TerminalProgress

    config = config_from_args(args)
    with TerminalProgress() as progress:
        result = run(config, store=args.db, sinks=[progress])
    print(result_summary(result))
    if result.status == "cancelled":
        return 130
    return 0 if result.status == "completed" else 1


def cmd_runs(args) -> int:
    from .store import RunStore

    with RunStore(args.db) as store:
        runs = store.list_runs(method=args.method, task=args.task, variant=args.variant, status=args.status, limit=args.limit)
    if not runs:
        print(f"no runs in {store.path}")
        return 0
    header = f"{'id':>4}  {'status':<11} {'method':<9} {'task':<9} {'variant':<7} {'regime':<6} {'seed':>4}  {'combined':>8}  started"
    print(header)
    for r in runs:
        combined = (r.get("results") or {}).get("combined")
        score = f"{100 * combined:8.1f}" if isinstance(combined, (int, float)) else f"{'-':>8}"
        print(f"{r['id']:>4}  {r['status']:<11} {r['method']:<9} {r['task']:<9} {r['variant'] or '':<7} "
              f"{r['regime'] or '':<6} {r['seed'] if r['seed'] is not None else '':>4}  {score}  {r['started_at'][:19]}")
    return 0


def cmd_show(args) -> int:
    from .store import RunStore

    with RunStore(args.db) as store:
        run = store.get_run(args.run)
        epochs = store.epochs(args.run)
        masks = store.masks(args.run)
    print(f"run {run['id']}  {run['name']}  status: {run['status']}" + (f" ({run['reason']})" if run.get("reason") else ""))
    print(f"started {run['started_at']}  finished {run.get('finished_at') or '-'}  wall time {_fmt_s(run.get('wall_time_s'))}")
    print(f"trainable parameters: {run.get('trainable_params') or 0:,} of {run.get('total_params') or 0:,}")
    info = (run.get("results") or {}).get("method_info")
    if info:
        print("method resolved: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items()))
    print("config:")
    print(json.dumps(run["config"], indent=2))
    if epochs:
        print("epochs:")
        print(f"  {'epoch':>5}  {'stage':<18} {'loss':>7} {'factual':>8} {'counter':>8} {'combined':>8} {'pair':>6}")
        for e in epochs:
            print(f"  {e['epoch']:>5}  {e['stage']:<18} {_num(e.get('train_loss'), 4):>7} {_pct(e.get('val_factual')):>8} "
                  f"{_pct(e.get('val_counterfactual')):>8} {_pct(e.get('val_combined')):>8} {_pct(e.get('val_pair')):>6}")
    if masks:
        print("masks:")
        for m in masks:
            overlap = f", Jaccard with previous {m['jaccard']:.3f}" if m.get("jaccard") is not None else ""
            print(f"  epoch {m['epoch']}: {m['kept']:,} of {m['eligible']:,} kept{overlap}")
    results = run.get("results") or {}
    if "combined" in results:
        print(f"test (best epoch {run.get('best_epoch')}): " + ", ".join(
            f"{k} {_pct(results.get(k))}" for k in ("factual", "counterfactual", "combined", "pair")))
        print(f"confusion (rows gold, columns predicted): {results.get('confusion')}")
    return 0


def cmd_export(args) -> int:
    from .export import export_run
    from .store import RunStore

    with RunStore(args.db) as store:
        out = export_run(store, args.run, args.format, args.out)
    print(f"exported run {args.run} as {args.format} to {out}")
    return 0


def cmd_data(args) -> int:
    from .data import dataset_stats, format_stats
    from .train.prepare import load_data

    config = config_from_args(args)
    dataset = load_data(config.data)
    print(f"{dataset.source}: task {dataset.task}, variant {dataset.variant}, labels {', '.join(dataset.labels)}")
    print(format_stats(dataset_stats(dataset)))
    return 0


def _pct(value) -> str:
    return f"{100 * value:.1f}" if isinstance(value, (int, float)) else "-"


def _num(value, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "-"


def _fmt_s(value) -> str:
    return f"{value:.1f} s" if isinstance(value, (int, float)) else "-"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cast", description="CAST Studio engine: train, evaluate, compare and export CAST and its baselines.")
    parser.add_argument("--db", default=None, help="Run store file (default: $CAST_DB, else the user's data folder).")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="Train and evaluate one configuration.")
    add_run_options(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("runs", help="List the run history.")
    for name in ("method", "task", "variant", "status"):
        p.add_argument(f"--{name}", default=None, help=f"Only runs with this {name}.")
    p.add_argument("--limit", type=int, default=None, help="Show at most N runs.")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("show", help="One run: config, per-epoch metrics, masks, results.")
    p.add_argument("run", type=int, help="Run id (see `cast runs`).")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("export", help="Export a run's model.")
    p.add_argument("run", type=int, help="Run id.")
    p.add_argument("--format", choices=("hf", "delta"), default="hf", help="hf: a Hugging Face folder; delta: a sparse delta against the base model.")
    p.add_argument("--out", required=True, help="Output folder (must not exist or be empty).")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("data", help="Load a dataset variant and print its statistics.")
    add_run_options(p)
    p.set_defaults(func=cmd_data)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except CastError as exc:
        print(f"cast: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cast: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
