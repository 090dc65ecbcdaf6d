"""`service/aws.py`: the production clients' configuration, seen on the wire."""

from __future__ import annotations

import ssl
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import botocore
import botocore.exceptions
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from service.aws import AwsClientOptions, open_clients


async def test_a_fixed_user_agent_is_sent_as_given(aws: str):
    agents: list[str] = []

    def before_send(request: Any, **_: Any) -> None:
        agents.append(request.headers["User-Agent"].decode())

    async with AsyncExitStack() as stack:
        fixed = await open_clients(stack, AwsClientOptions(user_agent="bridge/1.2.3"))
        standard = await open_clients(stack, AwsClientOptions())
        for clients in (fixed, standard):
            clients.sqs.meta.events.register("before-send", before_send)
            await clients.sqs.list_queues()
            await clients.sqs.list_queues()

    # The session's extra (botocore's version) still follows the fixed part.
    assert agents[:2] == [f"bridge/1.2.3 botocore/{botocore.__version__}"] * 2
    assert all(agent.startswith("aiobotocore/") for agent in agents[2:]), agents[2:]


def _self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 that no public CA signed, and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "embedded-aws")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_clients_share_one_tls_context_that_still_verifies_the_server(
    aws: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cert_path, key_path = _self_signed(tmp_path)
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert_path, key_path)

    async def answer(_: web.Request) -> web.Response:
        return web.Response(body=b"{}", content_type="application/x-amz-json-1.0")

    app = web.Application()
    app.router.add_post("/", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", f"https://127.0.0.1:{port}")

    loaded: list[object] = []
    load = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, cafile: Any = None, *args: Any) -> None:
        loaded.append(cafile)
        load(self, cafile, *args)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    options = AwsClientOptions(max_attempts=1)
    try:
        async with AsyncExitStack() as stack:
            # Two processes' worth of clients: the server's certificate is refused by each
            # (the shared context verifies), and the CA bundle is read at most once.
            for _ in range(2):
                clients = await open_clients(stack, options)
                with pytest.raises(botocore.exceptions.SSLError):
                    await clients.sqs.list_queues()
            assert len(loaded) <= 1
            # A client told to trust another bundle gets a context of its own, which trusts
            # this server.
            monkeypatch.setenv("AWS_CA_BUNDLE", str(cert_path))
            trusting = await open_clients(stack, options)
            assert await trusting.sqs.list_queues() == {"ResponseMetadata": ANY}
            assert loaded[-1] == str(cert_path)
    finally:
        await runner.cleanup()
