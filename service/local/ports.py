"""Free loopback ports for sandbox processes started by tests and benchmarks."""

from __future__ import annotations

import socket


def free_loopback_ports(count: int) -> list[int]:
    """`count` distinct ports that were free on 127.0.0.1 a moment ago.

    All sockets stay open until every port is chosen, so the kernel cannot hand the same
    port out twice; another process may still take one before the caller binds it.
    """
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()
