"""`cast`: the headless front door (run, resume, runs, show, export, evaluate, pairs, sweep, sweeps, paper, compare, data).

Every run option comes from a config dataclass field (name, default, help,
choices), so the CLI and the studio's forms cannot drift apart.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import re
import sys
from typing import Sequence

from .config import LR_METHOD_DEFAULT, DataConfig, RunConfig, TrainConfig, coerce
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
            _add_field(group, f, f"{prefix}.{f.name}", _lr_help(f) if f.name == "lr" and cls is TrainConfig else None)
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


def _lr_help(f: dataclasses.Field) -> str:
    """--lr's help: the field's, then each method's recommended rate, its grid and where they come from."""
    from .methods.registry import get_method, method_names

    lines = [f"{f.metadata['help']} (default: 0). Recommended rates and the tuned protocol's grids:"]
    for name in method_names():
        cls = get_method(name).config_cls
        lines.append(f"{name}: {cls.recommended_lr:g}, grid {', '.join(f'{lr:g}' for lr in cls.lr_grid)}. {cls.lr_source}")
    return " | ".join(lines)


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
        data=DataConfig(**sections["data"][1]).with_absolute_paths(),  # `cast resume` finds the data from any folder
        train=TrainConfig(**sections["train"][1]),
        method=method_cls(**sections["method"][1]),
        **sections["run"][1],
    )
    config.validate()
    return config


# --------------------------------------------------------------------- commands

def cmd_run(args) -> int:
    from .runs.runner import run

    config = config_from_args(args)
    return _run_in_terminal(lambda sinks, cancel: run(config, store=args.db, sinks=sinks, cancel=cancel))


def cmd_resume(args) -> int:
    from .runs.runner import resume

    return _run_in_terminal(lambda sinks, cancel: resume(args.run, store=args.db, sinks=sinks, cancel=cancel))


def _run_in_terminal(start) -> int:
    """Run with a progress bar; Ctrl-C stops within one step and the run is saved as cancelled."""
    from .train.events import CancelToken
    from .runs.interrupt import graceful_interrupt
    from .runs.progress import TerminalProgress
    from .runs.runner import result_summary

    with TerminalProgress() as progress, graceful_interrupt(CancelToken()) as cancel:
        result = start([progress], cancel)
        progress.close()
        print(result_summary(result))
    if result.status == "cancelled":
        return 130
    return 0 if result.status == "completed" else 1


def cmd_runs(args) -> int:
    from .store import RUN_STATUSES, RunStore
    from .store.run_table import RunFilter, count_runs, run_ids, run_rows

    if args.status is not None and args.status not in RUN_STATUSES:
        raise ConfigError(f"--status {args.status!r} is not a run status; expected one of {', '.join(RUN_STATUSES)}")
    if args.limit < 0 or args.offset < 0:
        raise ConfigError(f"--limit {args.limit} and --offset {args.offset} must not be negative")
    where = RunFilter({"method": args.method, "task": args.task, "variant": args.variant, "status": args.status})
    keys = ("status", "method", "task", "variant", "regime", "seed", "combined", "started_at")
    with RunStore(args.db, read_only=True) as store:
        conn = store.db.conn
        total = count_runs(conn, where)
        ids = run_ids(conn, where, limit=args.limit or None, offset=args.offset) if args.limit else \
            run_ids(conn, where)[args.offset:]
        rows = run_rows(conn, ids, keys)
    if not ids:
        print(f"no runs in {store.path}" if not total else f"no runs after the first {total} (--offset {args.offset})")
        return 0
    print(f"{'id':>4}  {'status':<11} {'method':<9} {'task':<9} {'variant':<7} {'regime':<6} {'seed':>4}  "
          f"{'combined':>8}  started")
    for run_id in ids:
        r = rows[run_id]
        combined = r["combined"]
        score = f"{100 * combined:8.1f}" if isinstance(combined, (int, float)) else f"{'-':>8}"
        print(f"{run_id:>4}  {r['status'] or '':<11} {r['method'] or '':<9} {r['task'] or '':<9} {r['variant'] or '':<7} "
              f"{r['regime'] or '':<6} {r['seed'] if r['seed'] is not None else '':>4}  {score}  "
              f"{(r['started_at'] or '')[:19]}")
    last = args.offset + len(ids)
    if last < total or args.offset:
        more = f"; next: --offset {last}" if last < total else ""
        print(f"runs {args.offset + 1}-{last} of {total}{more} (--limit 0 lists all)")
    return 0


def cmd_show(args) -> int:
    from .store import RunStore
    from .runs.runner import resume_problem

    with RunStore(args.db, read_only=True) as store:
        run = store.get_run(args.run)
        epochs = store.epochs(args.run)
        masks = store.masks(args.run)
        evaluations = store.list_evaluations(args.run)
    print(f"run {run['id']}  {run['name']}  status: {run['status']}" + (f" ({run['reason']})" if run.get("reason") else ""))
    print(f"started {run['started_at']}  finished {run.get('finished_at') or '-'}  wall time {_fmt_s(run.get('wall_time_s'))}")
    print(f"trainable parameters: {run.get('trainable_params') or 0:,} of {run.get('total_params') or 0:,}")
    results = run.get("results") or {}
    lr = (run.get("config") or {}).get("train", {}).get("lr")
    if results.get("lr_source"):
        why = "the method's recommended" if results["lr_source"] == LR_METHOD_DEFAULT else "set by the user"
        print(f"learning rate {lr:g} ({why})")
    if results.get("train_examples") is not None:
        print(f"compute: {results['train_examples']:,} training examples processed (forward and backward passes), "
              f"{_fmt_s(results.get('train_time_s'))} in training passes")
    info = (run.get("results") or {}).get("method_info")
    if info:
        print("method resolved: " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in info.items()))
    print("config:")
    print(json.dumps(run["config"], indent=2))
    if epochs:
        print("epochs:")
        print(f"  {'epoch':>5}  {'stage':<18} {'loss':>7} {'factual':>8} {'counter':>8} {'combined':>8} {'pair':>6} "
              f"{'examples':>10} {'train s':>8}")
        for e in epochs:
            examples = e.get("train_examples")
            print(f"  {e['epoch']:>5}  {e['stage']:<18} {_num(e.get('train_loss'), 4):>7} {_pct(e.get('val_factual')):>8} "
                  f"{_pct(e.get('val_counterfactual')):>8} {_pct(e.get('val_combined')):>8} {_pct(e.get('val_pair')):>6} "
                  f"{f'{examples:,}' if isinstance(examples, int) else '-':>10} {_num(e.get('train_time_s'), 1):>8}")
    if masks:
        print("masks:")
        for m in masks:
            overlap = f", Jaccard with previous {m['jaccard']:.3f}" if m.get("jaccard") is not None else ""
            print(f"  epoch {m['epoch']}: {m['kept']:,} of {m['eligible']:,} kept{overlap}")
    if "combined" in results:
        print(f"test (best epoch {run.get('best_epoch')}): " + ", ".join(
            f"{k} {_pct(results.get(k))}" for k in ("factual", "counterfactual", "combined", "pair")))
        print(f"confusion (rows gold, columns predicted): {results.get('confusion')}")
    for resumed in results.get("resumed", []):
        print(f"resumed after epoch {resumed['after_epoch']} at {resumed['at']}")
    if evaluations:
        print("evaluations:")
        for e in evaluations:
            r = e["results"]
            print(f"  {e['name']}: " + ", ".join(f"{k} {_pct(r.get(k))}" for k in ("factual", "counterfactual", "combined", "pair"))
                  + f" ({r.get('n_pairs')} pairs; {e['source']}; sha256 {e['data_sha256'][:12]}…)")
    if resume_problem(run) is None:
        print(f"a checkpoint is kept: `cast resume {run['id']}` continues this run")
    return 0


def cmd_export(args) -> int:
    from .export import export_run
    from .store import RunStore

    with RunStore(args.db, read_only=True) as store:
        out = export_run(store, args.run, args.format, args.out)
    print(f"exported run {args.run} as {args.format} to {out}")
    return 0


def cmd_data(args) -> int:
    from .data import dataset_stats, format_stats
    from .runs.dataset import load_data

    config = config_from_args(args)
    dataset = load_data(config.data)
    print(f"{dataset.source}: task {dataset.task}, variant {dataset.variant}, labels {', '.join(dataset.labels)}")
    print(format_stats(dataset_stats(dataset)))
    return 0


def _executor(args):
    from .experiments.executors import make_executor

    return make_executor(args.executor, workers=args.workers, address=args.address, threads_per_trial=args.threads_per_trial)


def _print_progress(progress) -> None:
    """One line per finished trial: where the sweep stands, what the trial measured, the ETA."""
    head = f"[{progress.done}/{progress.total} done" + (f", {progress.failed} failed" if progress.failed else "") + "]"
    eta = f"  ETA {_fmt_duration(progress.eta_s)}" if progress.eta_s is not None else ""
    last = progress.last
    if last is None:
        print(f"sweep {progress.sweep_id}: {progress.total} trials, {progress.done} already done", flush=True)
        return
    trial = ", ".join(f"{k.rsplit('.', 1)[-1]} {v}" for k, v in last["trial"].items())
    if last["status"] == "completed":
        what = f"run {last['run_id']}: combined {_pct(last['results'].get('combined'))} %, {_fmt_s(last.get('wall_time_s'))}"
    else:
        what = f"{last['status']}" + (f" (run {last['run_id']})" if last.get("run_id") else "") + f": {last.get('reason')}"
    print(f"{head} {trial}: {what}{eta}", flush=True)


def _fmt_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def _sweep_outcome(result) -> int:
    print(f"sweep {result.sweep_id}: {result.status}; {len(result.runs)} trials have a completed run"
          + (f" ({result.reused} reused from the store)" if result.reused else "")
          + f"; wall time {_fmt_duration(result.wall_time_s)}")
    for key, failure in result.failures.items():
        print(f"  trial {key}: {failure}")
    if result.status == "stopped":
        return 130
    return 0 if result.status == "completed" else 1


def cmd_sweep(args) -> int:
    from .experiments.grid import SweepSpec, parse_axis
    from .experiments.sweep import run_sweep
    from .store import RunStore

    spec, trials = None, None
    if args.resume is None or args.grid:  # a bad grid is refused before the store is opened (or created)
        config = config_from_args(args)
        grid = dict(parse_axis(text) for text in args.grid or [])
        spec = SweepSpec(config.to_dict(), [grid], args.sweep_name or "")
        trials = spec.trials()
    with RunStore(args.db) as store:
        if spec is None:
            spec = SweepSpec.from_dict(store.get_sweep(args.resume)["spec"])
            trials = spec.trials()
        print(f"{len(trials)} trials; executor {args.executor}" + (f" with {args.workers} workers" if args.workers > 1 else ""))
        with _sweep_interrupt() as cancel:
            result = run_sweep(spec, store=store, executor=_executor(args), resume=args.resume, new=args.new,
                               reuse=args.reuse, keep_models=args.keep_models, on_progress=_print_progress,
                               cancel=cancel)
    return _sweep_outcome(result)


def _sweep_interrupt():
    """Ctrl-C stops a sweep as it stops a run: within a step, keeping what finished."""
    from .train.events import CancelToken
    from .runs.interrupt import SWEEP_STOPPING, graceful_interrupt

    return graceful_interrupt(CancelToken(), stopping=SWEEP_STOPPING)


def cmd_sweeps(args) -> int:
    from .store import RunStore

    with RunStore(args.db, read_only=True) as store:
        sweeps = store.list_sweeps()
    if not sweeps:
        print(f"no sweeps in {store.path}")
        return 0
    print(f"{'id':>4}  {'state':<12} {'done':>9}  {'kind':<8} name")
    for s in sweeps:
        print(f"{s['id']:>4}  {s['state']:<12} {s['done']:>4}/{s['n_trials']:<4}  {s['kind']:<8} {s['name']}")
    return 0


def cmd_paper(args) -> int:
    import time

    from .experiments.paper import plan
    from .experiments.paper_run import run_paper
    from .store import RunStore

    overrides = {}
    for text in args.set or []:
        name, sep, value = text.partition("=")
        if not sep:
            raise ConfigError(f"--set {text!r}: expected FIELD=VALUE")
        overrides[name.strip()] = value.strip()
    seeds = [int(s) for s in args.seeds.split(",")] if args.seeds else None
    lr_grids = {}
    for text in args.lr_grid or []:
        name, sep, values = text.partition("=")
        try:
            lr_grids[name.strip()] = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            sep = ""
        if not sep or not lr_grids.get(name.strip()):
            raise ConfigError(f"--lr-grid {text!r}: expected METHOD=LR1,LR2,... e.g. lora=1e-4,5e-4")
    if lr_grids and args.protocol != "tuned":
        raise ConfigError("--lr-grid applies to --protocol tuned")
    the_plan = plan(args.experiment, args.preset, data=args.data, overrides=overrides, seeds=seeds,
                    protocol=args.protocol, lr_grids=lr_grids,
                    variants=[v.strip() for v in args.variants.split(",") if v.strip()] if args.variants else None,
                    alpha=float(args.alpha) if args.alpha else None, k=args.k, task=args.task, variant=args.variant,
                    alphas=[float(a) for a in args.alphas.split(",")] if args.alphas else None,
                    ks=args.ks.split(",") if args.ks else None)
    out = args.out or f"cast-paper-{args.preset}"
    started = time.perf_counter()
    if args.experiment == "figure3":
        output = run_paper(the_plan, out)
    else:
        n = len(the_plan.spec.trials())
        print(f"{args.experiment}, preset {args.preset}: {n} trials; executor {args.executor}"
              + (f" with {args.workers} workers" if args.workers > 1 else ""))
        with RunStore(args.db) as store, _sweep_interrupt() as cancel:
            output = run_paper(the_plan, out, store=store, executor=_executor(args), metric=args.metric,
                               reference=None if args.reference == "none" else args.reference,
                               run=not args.no_run, on_progress=_print_progress, cancel=cancel,
                               evaluation=args.eval)
    if output.sweep is not None:
        _sweep_outcome(output.sweep)
    if output.table is not None:
        from .experiments.outputs import table_markdown

        print(table_markdown(output.table))
    print(f"wrote {', '.join(str(p) for p in output.files)} in {_fmt_duration(time.perf_counter() - started)}")
    if output.sweep is not None and output.sweep.status == "stopped":
        return 130
    return 0 if output.sweep is None or output.sweep.status == "completed" else 1


def cmd_compare(args) -> int:
    from .evaluate.significance import compare_runs
    from .store import RunStore

    with RunStore(args.db, read_only=True) as store:
        runs_a = [store.get_run(i) for i in args.a]
        runs_b = [store.get_run(i) for i in args.b]
        result = compare_runs(store, runs_a, runs_b, args.eval, samples=args.samples)
    on = f"accuracy on evaluation {args.eval!r}" if args.eval else "test accuracy"
    print(f"A = runs {' '.join(map(str, args.a))}: combined {on} {100 * result.accuracy_a:.2f} %")
    print(f"B = runs {' '.join(map(str, args.b))}: combined {on} {100 * result.accuracy_b:.2f} %")
    print(f"A − B = {100 * result.difference:+.2f} points, paired bootstrap 95 % CI [{100 * result.ci_low:+.2f}, "
          f"{100 * result.ci_high:+.2f}] ({result.n_examples} examples, {result.n_pairs_of_runs} seed pair(s))")
    print(f"McNemar: A right and B wrong {result.b}, A wrong and B right {result.c}, p = {result.p_value:.4g}")
    print("significant at 0.05" if result.significant() else "not significant at 0.05")
    return 0


def cmd_evaluate(args) -> int:
    from .runs.evaluate import evaluate_run, evaluation_summary
    from .runs.evaluation_data import EvaluateConfig
    from .store import RunStore

    cfg = _config_of(EvaluateConfig, args, "eval")
    with RunStore(args.db) as store:
        for run_id in args.run:
            outcome = evaluate_run(store, run_id, cfg, progress=_evaluation_progress(run_id))
            print(evaluation_summary(outcome))
    return 0


def _evaluation_progress(run_id: int):
    """A line on stderr that counts the examples evaluated."""
    def show(done: int, total: int) -> None:
        print(f"\rrun {run_id}: {done}/{total} examples", end="\n" if done == total else "", file=sys.stderr, flush=True)

    return show


def _config_of(cls, args, prefix: str):
    """A config dataclass from the options given under ``prefix.``, each checked and coerced."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for dest, value in vars(args).items():
        if dest.startswith(prefix + "."):
            name = dest.split(".", 1)[1]
            values[name] = coerce(fields[name], value) if isinstance(value, str) else value
    return cls(**values)


def cmd_pairs(args) -> int:
    from .runs.pairs import OUTCOMES, count_outcomes, filter_rows, flip_ledger, grouped, pair_rows, write_csv
    from .runs.pair_data import run_pair_data
    from .store import RunStore

    with RunStore(args.db) as store:
        data_a = run_pair_data(store, args.run, args.eval)
        ledger = flip_ledger(data_a, run_pair_data(store, args.vs, args.eval)) if args.vs is not None else None
    rows = ledger.rows if ledger is not None else pair_rows(data_a)
    counts = count_outcomes(rows)
    on = f"evaluation {args.eval!r}" if args.eval else "its test split"
    print(f"run {args.run} on {on} ({data_a.source}): {counts.total} pairs")
    print("  " + ", ".join(f"{name} {counts.outcomes[name]}" for name in OUTCOMES)
          + f"; pair accuracy {_pct(counts.pair_accuracy)} %")
    if counts.flipped:
        print(f"  the gold label flips in {counts.flipped} pairs; the prediction followed in {counts.followed}")
    if ledger is not None:
        print(f"against run {args.vs}: " + ", ".join(f"{k} {v}" for k, v in ledger.categories.items()) + " (pairs)")
        print(f"  McNemar's counts over {ledger.n_examples} examples: A right and B wrong {ledger.a_right_b_wrong}, "
              f"A wrong and B right {ledger.a_wrong_b_right}")
    shown = filter_rows(rows, outcomes=args.outcome, ledger=args.ledger, min_changed=args.min_changed,
                        max_changed=args.max_changed)
    if args.csv:
        path = write_csv(shown, args.csv)
        print(f"wrote {len(shown)} pairs to {path}")
        return 0
    for group in grouped(shown)[: args.limit]:
        print(f"\n#{group[0].group} [{group[0].gold_original}] {_clip(group[0].original)}")
        for row in group:
            extra = f"  | B: {row.other['outcome']} ({row.other['ledger']})" if row.other else ""
            print(f"   -> [{row.gold_revision}] {_clip(row.revision)}")
            print(f"      predicted {row.predicted_original}{_conf(row.confidence_original)} / "
                  f"{row.predicted_revision}{_conf(row.confidence_revision)}: {row.outcome}, "
                  f"{row.changed_words} word(s) changed{extra}")
    return 0


def cmd_mask(args) -> int:
    from .sparse.mask_file import mask_atlas, mask_jaccard, run_mask
    from .store import RunStore

    with RunStore(args.db) as store:
        masks = {run_id: run_mask(store, run_id) for run_id in args.run}
    for run_id, mask in masks.items():
        atlas = mask_atlas(mask)
        kept = sum(v[0] for v in atlas["kinds"].values())
        total = sum(v[1] for v in atlas["kinds"].values())
        print(f"run {run_id}: final mask keeps {kept:,} of {total:,} entries ({100 * kept / total:.3f} %)")
        for title in ("layers", "kinds"):
            print(f"  per {title[:-1]}: " + ", ".join(f"{k} {100 * v[0] / v[1]:.3f} %" for k, v in atlas[title].items()))
    ids = list(masks)
    for i, a in enumerate(ids):
        for b in ids[i + 1:]:
            print(f"Jaccard overlap of runs {a} and {b}: {mask_jaccard(masks[a], masks[b]):.4f}")
    return 0


def _clip(text: str, width: int = 100) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _conf(value) -> str:
    return f" ({value:.2f})" if isinstance(value, (int, float)) else ""


def _add_executor_options(parser) -> None:
    group = parser.add_argument_group("execution")
    group.add_argument("--executor", choices=("local", "ray"), default="local",
                       help="local: trials on this machine; ray: trials as Ray tasks (default: local).")
    group.add_argument("--workers", type=int, default=1,
                       help="Trials at once: local worker processes (one per GPU where there are GPUs); "
                            "with ray and no --address, the CPUs of the local Ray instance (default: 1).")
    group.add_argument("--address", default=None, help="Ray cluster address (e.g. auto or ray://head:10001); without it, "
                            "a Ray instance of its own on 127.0.0.1.")
    group.add_argument("--threads-per-trial", type=int, default=None,
                       help="CPU threads per trial (default: the cores shared among the workers; 1 with ray).")


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

    p = sub.add_parser("resume", help="Continue an interrupted, cancelled or failed run from its last epoch checkpoint.",
                       description="Continue a run that stopped (its process was killed, Ctrl-C, a crash) from the "
                                   "checkpoint of its last completed epoch. It keeps its id, config and seed; on a "
                                   "CPU it ends with the same metrics as a run that never stopped.")
    p.add_argument("run", type=int, help="Run id (see `cast runs --status interrupted`).")
    p.set_defaults(func=cmd_resume)

    p = sub.add_parser("runs", help="List the run history.")
    for name in ("method", "task", "variant", "status"):
        p.add_argument(f"--{name}", default=None, help=f"Only runs with this {name}.")
    p.add_argument("--limit", type=int, default=50, help="Show at most N runs, newest first (0: all).")
    p.add_argument("--offset", type=int, default=0, help="Skip the N newest matching runs (the next page).")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("show", help="One run: config, per-epoch metrics, masks, results.")
    p.add_argument("run", type=int, help="Run id (see `cast runs`).")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("export", help="Export a run's model.")
    p.add_argument("run", type=int, help="Run id.")
    p.add_argument("--format", choices=("hf", "delta", "mask"), default="hf",
                   help="hf: a Hugging Face folder; delta: a sparse delta against the base model; mask: the final "
                        "mask of a CAST or LT-SFT run (safetensors, one bool tensor per parameter).")
    p.add_argument("--out", required=True, help="Output folder (must not exist or be empty).")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("sweep", help="Run a grid of trials (every trial is a run in the store); resumes where it stopped.",
                       description="Run every combination of the --grid values over the base config given by the "
                                   "usual run options. Running the same grid again resumes its sweep: completed "
                                   "trials are never rerun.")
    add_run_options(p)
    p.add_argument("--grid", action="append", metavar="FIELD=V1,V2",
                   help="An axis: a config field and its values, e.g. alpha=0.01,0.05 k=1e4,1e5 seed=1,2,3 "
                        "method=full,cast lr=1e-5:5e-5:2e-5 (START:STOP:STEP, inclusive). Repeat for more axes.")
    p.add_argument("--sweep-name", default="", help="A name for the sweep.")
    p.add_argument("--resume", type=int, default=None, help="Resume sweep N (its own grid unless --grid is given).")
    p.add_argument("--new", action="store_true", help="Start a new sweep even if one with the same trials exists.")
    p.add_argument("--reuse", action="store_true", help="Count a completed run anywhere in the store with a trial's exact config as that trial.")
    p.add_argument("--keep-models", action="store_true", help="Save every trial's weights (default: metrics and predictions only).")
    _add_executor_options(p)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("sweeps", help="List the sweeps in the store.")
    p.set_defaults(func=cmd_sweeps)

    from .experiments.paper import EXPERIMENTS, PRESETS

    p = sub.add_parser("paper", help="Run (or reuse from the store) one of the paper's experiments and write its table or figure.",
                       description="Presets: " + "; ".join(f"{name}: {preset.help}" for name, preset in PRESETS.items()) + ".")
    p.add_argument("experiment", choices=EXPERIMENTS)
    p.add_argument("--preset", choices=tuple(PRESETS), default="quick", help="Settings (default: quick).")
    p.add_argument("--data", default="upstream", help="The CAD data: 'upstream' (download) or a Kaushik-layout folder.")
    p.add_argument("--set", action="append", metavar="FIELD=VALUE", help="Override a config field, e.g. train.lr=2e-5 (repeatable).")
    p.add_argument("--protocol", choices=("paper", "tuned"), default="paper",
                   help="Tables: paper trains every method at the preset's one learning rate; tuned trains each "
                        "method over its own learning-rate grid (from its paper, see `cast run --help` for --lr), "
                        "picks each method's rate per column by mean validation accuracy over seeds (never test) "
                        "and reports the picked rate's test accuracy; the CSV holds the whole grid (default: paper).")
    p.add_argument("--lr-grid", action="append", metavar="METHOD=LR1,LR2",
                   help="With --protocol tuned: another grid for one method, e.g. lora=1e-4,5e-4 (repeatable).")
    p.add_argument("--variants", default=None,
                   help="Tables: only these CAD columns, e.g. RH1 or RP1,RH1 (the No CAD column stays; default: all).")
    p.add_argument("--seeds", default=None, help="Seeds, e.g. 1,2,3 (default: the preset's).")
    p.add_argument("--alpha", default=None, help="Tables: CAST's α (default: the preset's).")
    p.add_argument("--k", default=None, help="Tables: CAST's K (default: the preset's).")
    p.add_argument("--alphas", default=None, help="Figure 2: the α values, e.g. 0.01,0.05,0.15.")
    p.add_argument("--ks", default=None, help="Figure 2: the K values, e.g. 1e5,1e6.")
    p.add_argument("--task", choices=("sentiment", "nli"), default=None, help="Figure 2: the task (default: sentiment).")
    p.add_argument("--variant", default=None, help="Figure 2: the variant (default: CAD for sentiment, RH1 for NLI).")
    p.add_argument("--metric", choices=("combined", "factual", "counterfactual", "pair"), default="combined",
                   help="Which test accuracy the table or figure shows (default: combined).")
    p.add_argument("--reference", default="full", help="Tables: mark methods that differ significantly from this one (none: no marks).")
    p.add_argument("--out", default=None, help="Output folder (default: ./cast-paper-PRESET).")
    p.add_argument("--no-run", action="store_true", help="Write the outputs from the runs the store has; run nothing.")
    p.add_argument("--eval", default=None, metavar="NAME", help="Tables show each run's evaluation NAME (see `cast evaluate`) instead of its test split.")
    _add_executor_options(p)
    p.set_defaults(func=cmd_paper)

    p = sub.add_parser("compare", help="Paired bootstrap CI and McNemar test between two runs (or two groups of seeds).")
    p.add_argument("--a", type=int, nargs="+", required=True, help="Run ids of method A (one per seed).")
    p.add_argument("--b", type=int, nargs="+", required=True, help="Run ids of method B, paired with A's by seed.")
    p.add_argument("--samples", type=int, default=10000, help="Bootstrap resamples (default: 10000).")
    p.add_argument("--eval", default=None, metavar="NAME", help="Compare on each run's evaluation NAME (see `cast evaluate`) instead of its test split.")
    p.set_defaults(func=cmd_compare)

    from .runs.pairs import LEDGER, OUTCOMES
    from .runs.evaluation_data import EvaluateConfig

    p = sub.add_parser("evaluate", help="Evaluate runs' trained models on other paired data; store it as a named evaluation.",
                       description="Runs the saved model of each run (its restored best weights) on paired data read "
                                   "with the training readers, and stores the accuracies and every prediction with "
                                   "its probabilities as a named evaluation of the run (see `cast show`). The same "
                                   "run on the same data is evaluated once: a second call prints the stored result.")
    p.add_argument("run", type=int, nargs="+", help="Run id(s).")
    for f in dataclasses.fields(EvaluateConfig):
        _add_field(p, f, f"eval.{f.name}")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("pairs", help="Every test pair of a run: outcome, predictions, changed words; or the flip ledger against another run.")
    p.add_argument("run", type=int, help="Run id (A).")
    p.add_argument("--vs", type=int, default=None, metavar="RUN2", help="Flip ledger: the pairs RUN2 (B) gets right that RUN gets wrong, and the reverse.")
    p.add_argument("--eval", default=None, metavar="NAME", help="Use the runs' evaluation NAME (with probabilities) instead of their test split.")
    p.add_argument("--outcome", action="append", choices=OUTCOMES, help="Show only pairs with this outcome (repeatable).")
    p.add_argument("--ledger", action="append", choices=LEDGER, help="With --vs: show only pairs in this ledger category (repeatable).")
    p.add_argument("--min-changed", type=int, default=None, help="Only pairs whose revision changed at least N words.")
    p.add_argument("--max-changed", type=int, default=None, help="Only pairs whose revision changed at most N words.")
    p.add_argument("--limit", type=int, default=20, help="Print at most N originals with their revisions (default: 20).")
    p.add_argument("--csv", default=None, metavar="FILE", help="Write the shown pairs (all of them) as CSV instead of printing them.")
    p.set_defaults(func=cmd_pairs)

    p = sub.add_parser("mask", help="The final mask of CAST / LT-SFT runs: share kept per layer and per kind; Jaccard overlap between runs.")
    p.add_argument("run", type=int, nargs="+", help="Run id(s); with several, the Jaccard overlap of every two.")
    p.set_defaults(func=cmd_mask)

    p = sub.add_parser("data", help="Load a dataset variant and print its statistics.")
    add_run_options(p)
    p.set_defaults(func=cmd_data)
    return parser


class _PrintableOnly(io.TextIOBase):
    """A text stream that writes control characters (terminal escape codes in a run name, a
    data file's text or an error message) as visible escapes instead of passing them to the terminal."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text: str) -> int:
        self.stream.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self):
        return getattr(self.stream, "encoding", "utf-8")


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")  # not \t \n \r


def printable(text: str) -> str:
    """``text`` with control characters (but tab, newline and carriage return: progress bars) written as ``\\xNN``/``\\uNNNN`` escapes."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _PrintableOnly(sys.stdout), _PrintableOnly(sys.stderr)
    try:
        return args.func(args)
    except CastError as exc:
        print(f"cast: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cast: interrupted", file=sys.stderr)
        return 130
    finally:
        sys.stdout, sys.stderr = saved


if __name__ == "__main__":
    sys.exit(main())
