"""A quiet static file server on 127.0.0.1 for download tests (never the internet)."""

from __future__ import annotations

import functools
import http.server
import threading
import time
from pathlib import Path


class LocalServer:
    """Serves ``directory`` on a free loopback port, counting requests; ``delay`` slows each GET."""

    def __init__(self, directory: Path, delay: float = 0.0):
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                time.sleep(delay)
                super().do_GET()

            def do_HEAD(self):  # noqa: N802
                server.requests.append(self.path)
                super().do_HEAD()

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(directory)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()
