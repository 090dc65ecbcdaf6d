"""The embedded AWS: moto in server mode on loopback.

Two ways to run it: a thread inside the test process (one server per test session, reset
between tests), or its own process for the sandbox (`python -m service.local.embedded_aws`),
so the bridge workers and the simulator reach it over real HTTP like any AWS endpoint.
Both start through `_make_server`, which first applies `service.local.moto_patches`.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import FrameType

    from werkzeug.serving import BaseWSGIServer

LOOPBACK = "127.0.0.1"


def _make_server(host: str, port: int) -> BaseWSGIServer:
    # Imported here: moto is a sandbox/test dependency, not needed by `python -m service run`.
    from moto.moto_server.werkzeug_app import (  # noqa: PLC0415
        DomainDispatcherApplication,
        create_backend_app,
    )
    from werkzeug.serving import make_server  # noqa: PLC0415

    from service.local import moto_patches  # noqa: PLC0415

    moto_patches.apply()
    # werkzeug logs one line per request at INFO: thousands of lines in a busy sandbox.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    return make_server(
        host,
        port,
        moto_patches.serialized(DomainDispatcherApplication(create_backend_app)),
        threaded=True,
        request_handler=moto_patches.KeepAliveRequestHandler,
    )


class EmbeddedAws:
    def __init__(self, server: BaseWSGIServer) -> None:
        self._server = server
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @classmethod
    @contextmanager
    def threaded(cls, host: str = LOOPBACK, port: int = 0) -> Iterator[Self]:
        embedded = cls(_make_server(host, port))
        embedded._thread = threading.Thread(
            target=embedded._server.serve_forever, name="embedded-aws", daemon=True
        )
        embedded._thread.start()
        try:
            yield embedded
        finally:
            embedded._server.shutdown()
            embedded._server.server_close()
            embedded._thread.join(timeout=5)

    @staticmethod
    def reset(url: str) -> None:
        """Forget every resource: each test starts from an empty account."""
        request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")  # noqa: S310  loopback URL we built
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310
            pass

    @staticmethod
    def wait_ready(url: str, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                with urllib.request.urlopen(f"{url}/moto-api/", timeout=2):  # noqa: S310
                    return
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the embedded AWS (moto server).")
    parser.add_argument("--host", default=LOOPBACK)
    parser.add_argument("--port", type=int, default=4566)
    args = parser.parse_args(argv)
    server = _make_server(args.host, args.port)

    def _stop(_signum: int, _frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever returns, so it must run off the main thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sys.stderr.write(f"embedded AWS listening on http://{args.host}:{args.port}\n")
    server.serve_forever()
    server.server_close()


if __name__ == "__main__":
    main()
