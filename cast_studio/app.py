"""`cast-studio`: start the studio's main window.

torch and transformers are not imported here: they load in the training
process (started once the window shows) and when devices are detected in the
background, so the window shows at once.
"""

from __future__ import annotations

import argparse
import logging
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cast-studio", description="CAST Studio: the point-and-click experiment studio.")
    parser.add_argument("--db", default=None, help="Run store file (default: $CAST_DB, else the user's data folder).")
    parser.add_argument("--smoke-run", action="store_true",
                        help="Check an installation: once the data has loaded, set max epochs to 1 and press Run "
                             "(the page's other settings as they are), wait for the runs, print each run's id, "
                             "status and test accuracy, and quit. Exit status 0 only if every run completed. "
                             "Settings are not saved.")
    args, qt_args = parser.parse_known_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    from PySide6.QtWidgets import QApplication

    from .garbage import collect_on_the_gui_thread
    from .main_window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0], *qt_args])
    app.setApplicationName("CAST Studio")
    app.setOrganizationName("CAST Studio")
    collector = collect_on_the_gui_thread()  # noqa: F841  (kept alive until exec returns)
    window = MainWindow(args.db)
    window.show()
    window.queue.warm_up()  # the training process imports the engine while the user sets up the first run
    smoke = SmokeRun(window, app) if args.smoke_run else None  # noqa: F841  (kept alive until exec returns)
    return app.exec()


class SmokeRun:
    """``--smoke-run``: press Run once the data is loaded, report the runs, quit with their verdict.

    It goes through the window's Run action, the same path as the toolbar
    button and Ctrl+R: the Experiment page builds the configs, the run queue
    trains them in the training process and the engine records them in the
    store. Only max epochs is changed (to 1), by typing into its field.
    """

    def __init__(self, window, app):
        from PySide6.QtCore import QTimer

        self.window, self.app = window, app
        self.results: list[tuple[int, str, str, dict | None]] = []
        self.started = False
        self.queued = 0
        window.experiment_page.run_requested.connect(self._queued)
        window.queue.run_finished.connect(self._run_finished)
        window.queue.idle.connect(self._idle)
        window.data_page.load_failed.connect(self._load_failed)
        if window.data_page.dataset is not None:  # from the event loop, so that exit() ends exec()
            QTimer.singleShot(0, self._start)
        else:  # the data page loads in the background: start when it has
            window.data_page.dataset_changed.connect(lambda _dataset: self._start())

    def _say(self, text: str) -> None:
        print(f"smoke-run: {text}", flush=True)

    def _start(self, *_args) -> None:
        if self.started:
            return
        self.started = True
        data = self.window.data_page.data_config()
        self._say(f"data loaded ({data.data or 'demo'}, {data.task}); model {self.window.experiment_page.model_spec()}")
        if not self.window.experiment_page.train_form.set_text("max_epochs", "1"):
            return self._quit(1, "max epochs 1 was refused")
        self.window.run_action.trigger()
        if not self.window.queue.is_running():  # the page refused to build the runs and said why in place
            return self._quit(1, f"Run did not start: {self.window.experiment_page.summary.text()}")
        self._say(f"Run pressed; {self.queued} run(s) queued")

    def _queued(self, configs: list) -> None:
        self.queued += len(configs)

    def _load_failed(self, message: str) -> None:
        if not self.started:
            self._quit(1, f"data did not load: {message}")

    def _run_finished(self, run_id: int, status: str, reason: str, test) -> None:
        self.results.append((run_id, status, reason, test))
        accuracy = ""
        if test:
            accuracy = "; test accuracy " + ", ".join(
                f"{k} {100 * test[k]:.1f}" for k in ("factual", "counterfactual", "combined", "pair")
                if test.get(k) is not None)
        self._say(f"run {run_id} {status}" + (f" ({reason})" if reason else "") + accuracy)

    def _idle(self) -> None:
        if self.window.queue.is_running():  # a later submit restarted the thread
            return
        completed = [r for r in self.results if r[1] == "completed"]
        ok = bool(self.results) and len(completed) == len(self.results)
        self._quit(0 if ok else 1, f"{len(completed)} of {len(self.results)} run(s) completed")

    def _quit(self, code: int, text: str) -> None:
        self._say(("PASS: " if code == 0 else "FAIL: ") + text)
        self.app.exit(code)


if __name__ == "__main__":
    sys.exit(main())
