"""Mutation score of the engine's core: how many small planted bugs the tests catch.

Runs mutmut 3 (installed into the running interpreter's environment if missing;
it is not a project dependency) over the core: ``sparse/``, ``evaluate/``, the
CAST merge and mask code, the Kaushik pairing, the store's status rules and
its migrations. Each mutant runs only the tests of ``TEST_FILES`` that call the
mutated function (mutmut records which tests reach which function first).

The engine and its tests are copied into a scratch folder with a pyproject that
holds only the pytest and mutmut settings, so the project's own files are not
touched; the real CAD data is not reachable from there, so the score measures
the tests that run without it (as in CI). ``--rev`` takes the engine and the
tests from a commit instead of the working tree (the score before a change).

    nice -n 10 python bench/mutation.py                    # the working tree
    nice -n 10 python bench/mutation.py --rev 2bc61fc      # an earlier commit
    nice -n 10 python bench/mutation.py --sample 37        # a fifth of the mutants, spread evenly
    nice -n 10 python bench/mutation.py --only cast_engine.sparse cast_engine.store   # some modules only
    python bench/mutation.py --report-only                 # summarise the last run again

Prints the score (killed / all mutants) and each survivor with its diff; the
figures go in bench/RESULTS.md. Slow: about half an hour on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = "mutmut>=3.8,<4"

# What is mutated: the files, and within them the functions (mutmut's mutant names,
# module.x_function or module.xǁClassǁmethod, matched with fnmatch).
FILES = [
    "cast_engine/sparse/*.py",
    "cast_engine/evaluate/*.py",
    "cast_engine/methods/cast/method.py",
    "cast_engine/data/kaushik.py",
    "cast_engine/store/status.py",
    "cast_engine/store/processes.py",
    "cast_engine/store/runs.py",
    "cast_engine/store/migrations.py",
]
MUTANTS = [
    "cast_engine.sparse.*",
    "cast_engine.evaluate.*",
    # the mask and merge step (the rest of the file is training)
    "cast_engine.methods.cast.method.xǁCastǁmerge__mutmut_*",
    "cast_engine.methods.cast.method.xǁCastǁselect_mask__mutmut_*",
    "cast_engine.methods.cast.method.xǁCastǁmerge_masked__mutmut_*",
    "cast_engine.methods.cast.method.xǁCastǁreport__mutmut_*",  # the mask's report, kept for checkpoints
    "cast_engine.data.kaushik.*",
    # the status rules: allowed statuses, finishing, resuming, marking dead runs interrupted
    "cast_engine.store.status.*",
    "cast_engine.store.processes.x_pid_is_alive__mutmut_*",
    "cast_engine.store.runs.xǁRunTablesǁfinish_run__mutmut_*",
    "cast_engine.store.runs.xǁRunTablesǁreopen_run__mutmut_*",
    "cast_engine.store.runs.xǁRunTablesǁmark_interrupted__mutmut_*",
    "cast_engine.store.migrations.*",
]
# The test files that check the core (a mutant runs those of their tests that reach it).
TEST_FILES = [
    "tests/test_topk.py",
    "tests/test_cast_merge.py",
    "tests/test_significance.py",
    "tests/test_metrics.py",
    "tests/test_bootstrap_pairing.py",
    "tests/test_mask_criteria.py",
    "tests/test_data_kaushik.py",
    "tests/test_data_kaushik_fixture.py",
    "tests/test_core_values.py",
    "tests/test_data_errors.py",
    "tests/test_store.py",
    "tests/test_store_status.py",
    "tests/test_store_upgrade.py",
    "tests/test_store_processes.py",
]


def ensure_mutmut() -> Path:
    """The mutmut command of this interpreter's environment, installed if absent."""
    command = Path(sys.executable).with_name("mutmut")
    if not command.exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", MUTMUT], check=True)
    return command


def copy_sources(work: Path, rev: str | None) -> list[str]:
    """Put cast_engine/ and tests/ (of the working tree or of ``rev``) in ``work``; return the test files present."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    if rev:
        archive = work / "src.tar"
        with archive.open("wb") as handle:
            subprocess.run(["git", "-C", str(ROOT), "archive", rev, "cast_engine", "tests"], stdout=handle, check=True)
        with tarfile.open(archive) as tar:
            tar.extractall(work, filter="data")
        archive.unlink()
    else:
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
        for folder in ("cast_engine", "tests"):
            shutil.copytree(ROOT / folder, work / folder, ignore=ignore)
    present = [name for name in TEST_FILES if (work / name).is_file()]
    lines = [
        "[tool.pytest.ini_options]",
        'pythonpath = ["."]',
        "timeout = 600",
        'filterwarnings = ["ignore::DeprecationWarning", "ignore::FutureWarning"]',
        "",
        "[tool.mutmut]",
        f"source_paths = {json.dumps(['cast_engine'])}",
        f"only_mutate = {json.dumps(FILES)}",
        f"pytest_add_cli_args_test_selection = {json.dumps(present)}",
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-m", "not soak", "-x"]',
        "timeout_multiplier = 5.0",
        "timeout_constant = 20.0",
        "",
    ]
    (work / "pyproject.toml").write_text("\n".join(lines), encoding="utf-8")
    return present


def sampled(patterns: list[str], digits: str) -> list[str]:
    """The patterns narrowed to mutants whose number ends in one of ``digits`` ('' keeps all).

    mutmut numbers each function's mutants 1, 2, 3...; the last digit spreads a sample
    evenly over every function instead of taking whole files.
    """
    if not digits:
        return patterns
    ending = f"*[{digits}]"
    return [p[:-1] + ending if p.endswith("__mutmut_*") else p + "__mutmut_" + ending for p in patterns]


def narrowed(patterns: list[str], modules: list[str]) -> list[str]:
    """The patterns of ``modules`` (all if none): a pattern inside a module is kept, a pattern
    that covers a named module (``cast_engine.sparse.*`` for ``cast_engine.sparse.stats``) is narrowed to it."""
    if not modules:
        return patterns
    from fnmatch import fnmatch

    chosen = []
    for pattern in patterns:
        for module in modules:
            if pattern.startswith(module + "."):
                chosen.append(pattern)
            elif pattern.endswith(".*") and fnmatch(module, pattern):
                chosen.append(module + ".*")
    return chosen


def run_mutmut(work: Path, jobs: int, patterns: list[str]) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "QT_QPA_PLATFORM": "offscreen",
           "PYTHONHASHSEED": "0"}
    env.pop("CAST_DB", None)
    command = [str(ensure_mutmut()), "run", "--max-children", str(jobs), *patterns]
    if subprocess.run(command, cwd=work, env=env).returncode != 0:
        # The store tests start python subprocesses with a 60 s limit; compiling the mutated
        # modules (every mutant is a copy of its function) can take longer on a loaded machine,
        # so the clean run fails once. Compile them ahead (mutmut keeps unchanged files) and retry.
        subprocess.run([sys.executable, "-m", "compileall", "-q", "mutants/cast_engine"], cwd=work, check=True)
        subprocess.run(command, cwd=work, env=env, check=True)


def results(work: Path, patterns: list[str]) -> dict[str, str]:
    """{mutant name: status} of the mutants the patterns select, read from mutmut's records."""
    from fnmatch import fnmatch

    names = {0: "survived", 1: "killed", 3: "killed", 33: "no tests", 5: "no tests", 34: "skipped",
             36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout", None: "not checked"}
    statuses = {}
    for meta in (work / "mutants").rglob("*.py.meta"):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            if any(fnmatch(name, pattern) for pattern in patterns):
                statuses[name] = names.get(code, f"suspicious ({code})")
    return statuses


def diff_of(work: Path, name: str) -> str:
    shown = subprocess.run([str(ensure_mutmut()), "show", name], cwd=work, capture_output=True, text=True)
    return "\n".join(line for line in shown.stdout.splitlines()
                     if line.startswith(("+", "-")) and not line.startswith(("+++", "---")))


def report(work: Path, patterns: list[str], show_diffs: bool = True) -> None:
    statuses = results(work, patterns)
    if not statuses:
        raise SystemExit(f"no mutation results under {work}/mutants: run without --report-only first")
    counts: dict[str, int] = {}
    for status in statuses.values():
        counts[status] = counts.get(status, 0) + 1
    # a timeout means the mutant made the tests hang or crawl: a user would notice, so it counts as caught
    killed = counts.get("killed", 0) + counts.get("timeout", 0)
    total = len(statuses)
    print(f"mutants: {total}; " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"score: {killed}/{total} = {killed / total:.1%} killed (timeouts count as killed)")
    by_file: dict[str, list[int]] = {}
    for name, status in statuses.items():
        module = name.split(".x")[0]
        entry = by_file.setdefault(module, [0, 0])
        entry[0] += status in ("killed", "timeout")
        entry[1] += 1
    for module, (k, n) in sorted(by_file.items()):
        print(f"  {module}: {k}/{n} = {k / n:.1%}")
    survivors = sorted(name for name, status in statuses.items() if status not in ("killed", "timeout"))
    print(f"\nnot killed ({len(survivors)}):")
    for name in survivors:
        print(f"- {name} [{statuses[name]}]")
        if show_diffs:
            print("    " + diff_of(work, name).replace("\n", "\n    "))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", help="take cast_engine/ and tests/ from this commit instead of the working tree")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a folder under the system's temp folder)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants tested at once (default 2)")
    parser.add_argument("--report-only", action="store_true", help="summarise the results already in --work")
    parser.add_argument("--no-diffs", action="store_true", help="list survivors without their diffs")
    parser.add_argument("--sample", default="", metavar="DIGITS",
                        help="test only the mutants whose number ends in one of these digits, e.g. 37 (a fifth); default: all")
    parser.add_argument("--only", nargs="+", default=[], metavar="PREFIX",
                        help="test only the mutants of these modules, e.g. cast_engine.sparse cast_engine.store")
    args = parser.parse_args()
    work = args.work or Path(tempfile.gettempdir()) / f"cast-mutation-{args.rev or 'worktree'}"
    chosen = narrowed(MUTANTS, args.only)
    if not chosen:
        raise SystemExit(f"--only {' '.join(args.only)} selects none of the mutated modules")
    patterns = sampled(chosen, args.sample)
    if not args.report_only:
        present = copy_sources(work, args.rev)
        print(f"mutating {', '.join(FILES)}\ntests: {' '.join(present)}\nin {work}", flush=True)
        run_mutmut(work, args.jobs, patterns)
    report(work, patterns, show_diffs=not args.no_diffs)


if __name__ == "__main__":
    main()
