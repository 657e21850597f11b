"""TLS is verified for Dhan endpoints: the feed's WebSocket and the scrip-master download refuse a server whose
certificate is self-signed (not in the system trust store). A client that trusts the certificate does connect
to the same server, so the refusals are about verification, not a broken server."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from structlog.testing import capture_logs

from feed.connection import DhanConnection
from feed.instruments.parse import fetch_scrip_master
from feed.subscriptions import ShardPlan
from shared.errors import DhanError
from tests.conftest import eventually, free_port, make_settings


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class TlsServer:
    port: int
    cert: Path
    upgrades: list[str] = field(default_factory=list)
    downloads: list[str] = field(default_factory=list)

    def trusting_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))


@pytest.fixture
async def tls_server(tmp_path: Path) -> AsyncIterator[TlsServer]:
    cert, key = _self_signed(tmp_path)
    server = TlsServer(port=free_port(), cert=cert)

    async def ws_handler(request: web.Request) -> web.WebSocketResponse:
        server.upgrades.append(request.path)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close()
        return ws

    async def csv_handler(request: web.Request) -> web.Response:
        server.downloads.append(request.path)
        return web.Response(text="SEM_EXM_EXCH_ID,SEM_SEGMENT\n")

    app = web.Application()
    app.router.add_get("/", ws_handler)
    app.router.add_get("/api-scrip-master.csv", csv_handler)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(str(cert), str(key))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", server.port, ssl_context=ctx)
    await site.start()
    try:
        yield server
    finally:
        await runner.cleanup()


async def test_scrip_master_download_refuses_self_signed(tls_server: TlsServer) -> None:
    url = f"https://127.0.0.1:{tls_server.port}/api-scrip-master.csv"
    with pytest.raises(DhanError, match="certificate") as err:
        await fetch_scrip_master(url, timeout_s=30)
    assert "\n" not in str(err.value)
    assert tls_server.downloads == []
    # control: trusting the certificate, the same URL downloads
    async with aiohttp.ClientSession() as session, session.get(url, ssl=tls_server.trusting_context()) as resp:
        assert resp.status == 200
    assert tls_server.downloads == ["/api-scrip-master.csv"]


async def test_feed_websocket_refuses_self_signed(tls_server: TlsServer) -> None:
    url = f"wss://127.0.0.1:{tls_server.port}/"
    settings = make_settings(feed_url=url, reconnect_base_s=0.05, reconnect_cap_s=0.2)
    conn = DhanConnection(0, settings, ShardPlan(), lambda data, ts: None)
    stopping = asyncio.Event()
    with capture_logs() as logs:
        task = asyncio.create_task(conn.run(stopping))
        try:
            await eventually(
                lambda: sum(1 for e in logs if e["event"] == "connect_failed") >= 2, timeout_s=60,
                message="two refused connects",
            )
        finally:
            stopping.set()
            await asyncio.wait_for(task, 30)
    failures = [e for e in logs if e["event"] == "connect_failed"]
    assert all("certificate" in e["error"].lower() for e in failures), failures
    assert not conn.connected.is_set() and conn.frames == 0
    assert tls_server.upgrades == []
    # control: trusting the certificate, the same URL upgrades
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(url, ssl=tls_server.trusting_context())
        await ws.close()
    assert tls_server.upgrades == ["/"]
