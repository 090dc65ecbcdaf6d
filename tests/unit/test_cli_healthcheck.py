import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from service.__main__ import main


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def admin_port(monkeypatch) -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    monkeypatch.setenv("BRIDGE_ADMIN_PORT", str(port))
    yield port
    server.shutdown()
    server.server_close()
    thread.join()


def _exit_code(*args: str) -> object:
    with pytest.raises(SystemExit) as exited:
        main(["healthcheck", *args])
    return exited.value.code


def test_healthy_bridge_exits_zero(admin_port, monkeypatch):
    monkeypatch.setattr(_Health, "status", 200)
    assert _exit_code() == 0


def test_unhealthy_bridge_exits_one(admin_port, monkeypatch, capsys):
    monkeypatch.setattr(_Health, "status", 503)
    assert _exit_code() == 1
    assert "unhealthy" in capsys.readouterr().err


def test_no_bridge_listening_exits_one(admin_port, monkeypatch):
    monkeypatch.setenv("BRIDGE_ADMIN_PORT", "1")  # nothing listens on port 1
    assert _exit_code() == 1


def test_explicit_url_is_checked_instead_of_the_admin_port(admin_port, monkeypatch):
    monkeypatch.setattr(_Health, "status", 200)
    monkeypatch.setenv("BRIDGE_ADMIN_PORT", "1")
    assert _exit_code("--url", f"http://127.0.0.1:{admin_port}/healthz") == 0
    assert _exit_code("--url", f"http://127.0.0.1:{admin_port}/missing") == 1
