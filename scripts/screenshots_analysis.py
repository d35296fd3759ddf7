"""Screenshots of the analysis views (for the README): History with an evaluation chosen for
its accuracy columns, "Evaluate on…", the Pairs view, the flip ledger, seed groups and the
mask atlas, on a store that already has runs and an evaluation (see README, "Analysis").

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshots_analysis.py --db STORE \\
        --eval dev --a 1 3 --b 2 4
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", required=True)
    parser.add_argument("--eval", default=None, help="The evaluation the views show.")
    parser.add_argument("--a", type=int, nargs="+", required=True, help="Runs of method A (one per seed).")
    parser.add_argument("--b", type=int, nargs="+", required=True, help="Runs of method B, CAST or LT-SFT (one per seed).")
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--pairs-of-a", action="store_true", help="Also the Pairs view of A's first run (pairs-a.png).")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.environ["CAST_STUDIO_SETTINGS"] = str(Path(tempfile.mkdtemp()) / "settings.ini")

    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from screenshots import save

    app = QApplication([])  # noqa: F841 (kept alive for the widgets)
    from cast_studio.pages.history_analysis import EvaluateDialog
    from cast_studio.pages.history_page import HistoryPage

    def settle(ms: int = 300) -> None:
        loop = QEventLoop()
        QTimer.singleShot(ms, loop.quit)
        loop.exec()

    def wait(signal, ms: int = 300) -> None:
        loop = QEventLoop()
        signal.connect(loop.quit)
        loop.exec()
        settle(ms)

    page = HistoryPage(Path(args.db))
    page.resize(1400, 700)
    page.show()
    if args.eval:
        page.analysis.eval_combo.setCurrentText(args.eval)
    page.select_runs(args.a + args.b)
    settle()
    save(page, "history-evaluation", out)

    dialog = EvaluateDialog(args.a + args.b, page)
    dialog.form.set_text("data", "../shared/data/cad")
    dialog.form.set_text("split", "dev")
    dialog.resize(1000, 560)
    dialog.show()
    settle()
    save(dialog, "evaluate-on", out)
    dialog.close()

    if args.pairs_of_a:
        pairs_a = page.analysis.open_pairs([args.a[0]])
        pairs_a.resize(1400, 860)
        wait(pairs_a.ready)
        pairs_a.view.selectRow(0)
        settle()
        save(pairs_a, "pairs-a", out)

    pairs = page.analysis.open_pairs([args.b[0]])
    pairs.resize(1400, 860)
    wait(pairs.ready)
    pairs.view.selectRow(0)
    settle()
    save(pairs, "pairs", out)

    ledger = page.analysis.open_pairs([args.a[0]], [args.b[0]])
    ledger.resize(1400, 860)
    wait(ledger.ready)
    ledger.ledger_combo.setCurrentText("B fixes")
    if ledger.model.rowCount() == 0:  # B fixes nothing: show what it breaks
        ledger.ledger_combo.setCurrentText("B breaks")
    ledger.view.selectRow(0)
    settle()
    save(ledger, "flip-ledger", out)

    groups = page.analysis.open_seed_groups(args.a + args.b)
    groups.resize(1200, 800)
    wait(groups.compared)
    group_of = {run_id: label for row, label in zip(groups.groups, groups.labels) for run_id in row.run_ids}
    groups.a_combo.setCurrentText(group_of[args.a[0]])
    groups.b_combo.setCurrentText(group_of[args.b[0]])
    wait(groups.compared)
    save(groups, "seed-groups", out)

    atlas = page.analysis.open_atlas(args.b)
    atlas.resize(1200, 860)
    wait(atlas.ready)
    save(atlas, "mask-atlas", out)
    for window in list(page.analysis.windows):
        window.close()
    page.analysis.shutdown()


if __name__ == "__main__":
    main()
