"""One TLS context for every AWS client of the process.

aiobotocore builds a new `ssl.SSLContext` for each client and loads the whole CA bundle
into it: 13 ms of CPU and 0.8 MB of memory a client, measured; the bridge opens ten
clients, the simulator and every test fixture more. A context that verifies with the same
CA bundle and presents no client certificate is the same for all of them, and OpenSSL
contexts are safe to share between connections and threads, so the process builds it
once for each way of verifying. Clients with a client certificate or behind a proxy build
their own, as before.
"""

from __future__ import annotations

import ssl
import threading
from typing import Any, Protocol, cast

from aiobotocore.httpsession import AIOHTTPSession

_LOCK = threading.Lock()
_CONTEXTS: dict[object, ssl.SSLContext] = {}


class _Internals(Protocol):
    """What this module reads of `AIOHTTPSession` (aiobotocore 3.10; its stubs omit it)."""

    _verify: bool | str
    _cert_file: str | None

    def _build_verify_context(self) -> ssl.SSLContext: ...


class SharedTlsSession(AIOHTTPSession):
    """aiobotocore's HTTP session, with the process's shared TLS context."""

    def _build_ssl_contexts(self, proxy_url: str | None) -> tuple[ssl.SSLContext, Any]:
        # Runs in a worker thread (aiobotocore keeps CA file reads off the event loop).
        session = cast("_Internals", self)
        if proxy_url or session._cert_file:  # noqa: SLF001
            own: tuple[ssl.SSLContext, Any] = super()._build_ssl_contexts(proxy_url)  # type: ignore[misc]
            return own
        key = session._verify  # noqa: SLF001  True (the default bundle), a path, or False
        with _LOCK:
            context = _CONTEXTS.get(key)
            if context is None:
                context = _CONTEXTS[key] = session._build_verify_context()  # noqa: SLF001
        return context, None
