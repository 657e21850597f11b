"""Secrets in exceptions never reach a log: a real 401 from a local WebSocket server whose error text carries a
Dhan-length token, and URLs carrying the Redis and MySQL passwords (URL-encoded, and decoded in a message), go
through the real logging chain (JSON and console), the ``dhan:logs`` stream and the heartbeat of a service
on a password-protected redis-server; ``dhan feed``'s ``connect_failed`` (an error cut to 200 characters)
and the one-line CLI error are checked the same way. "Leaked" means any 12 consecutive characters of a
secret, so a cut secret counts too."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import pytest
import redis.asyncio as aioredis
import structlog
from aiohttp import web

from shared.errors import ConfigError
from shared.keys import Keys
from shared.logs import LOG_SINK, configure_logging
from shared.service import Service
from shared.settings import Settings
from tests.conftest import DATA, eventually, free_port, make_settings, track_prefix

ROOT = Path(__file__).resolve().parents[2]
# shaped like Dhan's access token (a JWT of about 300 characters)
TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzUxMiJ9." + secrets.token_urlsafe(180) + "." + secrets.token_urlsafe(40)
REDIS_PW = "rp@ss/" + secrets.token_hex(12)      # characters that a URL must encode
MYSQL_PW = "my:pw#" + secrets.token_hex(12)


def leaked(text: str, secret: str, window: int = 12) -> bool:
    return any(secret[i:i + window] in text for i in range(len(secret) - window + 1))


def assert_clean(text: str, where: str) -> None:
    for name, secret in (("token", TOKEN), ("redis password", REDIS_PW), ("mysql password", MYSQL_PW)):
        assert not leaked(text, secret), f"{name} in {where}: {text[:3000]}"
        assert not leaked(text, quote(secret, safe="")), f"{name} (URL-encoded) in {where}"


@pytest.fixture
def restore_logging() -> Iterator[None]:
    config = structlog.get_config()
    handlers = logging.getLogger().handlers[:]
    yield
    configure_logging("tests", secrets=[])  # forget the secrets, then put the previous configuration back
    structlog.configure(**config)
    logging.getLogger().handlers[:] = handlers


@pytest.fixture
async def reject_401() -> AsyncIterator[str]:
    """A WebSocket endpoint answering 401 and echoing the token it was sent; the scrip master at /csv."""

    async def ws(request: web.Request) -> web.Response:
        return web.Response(status=401, text=f"invalid token {request.query.get('token', '')}")

    async def csv(request: web.Request) -> web.FileResponse:
        return web.FileResponse(DATA / "dhan-scrip-master-compact-nse-eq-idx-2026-07.csv")

    app = web.Application()
    app.router.add_get("/", ws)
    app.router.add_get("/csv", csv)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
def redis_with_password(tmp_path: Path) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server binary not on PATH")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--requirepass", REDIS_PW,
                             "--save", "", "--appendonly", "no", "--dir", str(tmp_path)], stdout=subprocess.DEVNULL)
    try:
        _wait_ready(port)
        yield f"redis://:{quote(REDIS_PW, safe='')}@127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_ready(port: int) -> None:
    import redis

    deadline = time.monotonic() + 10
    while True:
        try:
            redis.Redis(port=port, password=REDIS_PW, socket_connect_timeout=0.2).ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)  # polling the server's start, not waiting on a result


class Dialer(Service):
    """A service whose main loop dials the 401 endpoint with the token and fails with what it raised."""

    name = "dialer"

    def __init__(self, settings: Settings, ws_url: str) -> None:
        super().__init__(settings)
        self.ws_url = ws_url

    async def run(self) -> None:
        url = f"{self.ws_url}?version=2&token={TOKEN}&clientId=1100000001&authType=2"
        async with aiohttp.ClientSession() as http:
            try:
                await http.ws_connect(url)
            except aiohttp.WSServerHandshakeError as exc:
                assert exc.status == 401 and TOKEN in str(exc)  # the real error text carries the token
                self.log.warning("dial_failed", error=exc, exc_info=exc)
                raise RuntimeError(f"gave up on {self.settings.redis.url.get_secret_value()} "
                                   f"and {self.settings.mysql.url.get_secret_value()} ({MYSQL_PW})") from exc


@pytest.mark.parametrize("fmt", ["json", "console"])
async def test_a_crash_carrying_secrets_logs_none(fmt: str, reject_401: str, redis_with_password: str,
                                                  capsys: pytest.CaptureFixture[str], restore_logging: None) -> None:
    settings = make_settings(redis_url=redis_with_password, client_id="1100000001", access_token=TOKEN,
                             mysql_url=f"mysql://app:{quote(MYSQL_PW, safe='')}@127.0.0.1:3306/dhan_test")
    configure_logging("dialer", fmt=fmt, secrets=settings.secret_values())
    LOG_SINK.clear()
    assert await Dialer(settings, f"ws://{reject_401}/").serve() == 1

    out = capsys.readouterr().out
    assert "WSServerHandshakeError" in out and "Traceback" in out and "***" in out  # the traceback was logged
    assert_clean(out, f"stdout ({fmt})")
    client = aioredis.Redis.from_url(redis_with_password)
    try:
        keys = Keys(settings.redis.key_prefix)
        beat = {k.decode(): v.decode() for k, v in (await client.hgetall(keys.svc("dialer"))).items()}
        assert beat["state"] == "crashed" and beat["error"].startswith("RuntimeError: gave up on redis://:***@")
        assert_clean(orjson.dumps(beat).decode(), "the heartbeat")
        logs = [orjson.loads(f[b"d"]) for _, f in await client.xrange(keys.logs)]
    finally:
        await client.aclose()
    events = {e["event"] for e in logs}
    assert {"dial_failed", "run_failed"} <= events, events
    assert_clean(orjson.dumps(logs).decode(), "the logs stream")


async def test_feed_connect_failed_on_a_real_401_logs_no_part_of_the_token(reject_401: str, tmp_path: Path) -> None:
    """``dhan feed`` with a Dhan-length token against an endpoint answering 401: aiohttp's error names the URL
    with the token; the event's error is cut to 200 characters, which must happen after redaction."""
    prefix = track_prefix(f"tsec{os.getpid()}:")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DHAN_")}
    env.update({"DHAN_CLIENT_ID": "1100000001", "DHAN_ACCESS_TOKEN": TOKEN, "DHAN_FEED_URL": f"ws://{reject_401}/",
                "DHAN_INSTRUMENTS_URL": f"http://{reject_401}/csv", "DHAN_KEY_PREFIX": prefix,
                "DHAN_LOG_FORMAT": "json", "DHAN_RECONNECT_BASE_S": "0.1", "DHAN_RECONNECT_CAP_S": "0.2",
                "DHAN_SPOOL_DIR": str(tmp_path / "spool"), "DHAN_JOURNAL_DIR": str(tmp_path / "journal"),
                "DHAN_HEARTBEAT_INTERVAL_S": "0.2", "PYTHONPATH": str(ROOT)})
    feed = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.cli", "feed", "--duration", "60", env=env, cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    client = aioredis.Redis.from_url("redis://127.0.0.1:6379/0")
    logs_key = Keys(prefix).logs

    async def three_failures_streamed() -> bool:
        entries = await client.xrange(logs_key)
        return sum(b'"connect_failed"' in f[b"d"] for _, f in entries) >= 3

    try:
        await eventually(three_failures_streamed, timeout_s=60, message="connect_failed in the logs stream")
    finally:
        feed.terminate()
        out, err = await asyncio.wait_for(feed.communicate(), 30)
        logs = [orjson.loads(f[b"d"]) for _, f in await client.xrange(logs_key)]
        await client.aclose()
    failures = [orjson.loads(line) for line in out.decode().splitlines()
                if line.startswith("{") and '"connect_failed"' in line]
    assert failures and all("401" in e["error"] and "***" in e["error"] for e in failures), failures[:1]
    assert_clean(out.decode() + err.decode(), "dhan feed's output")
    assert_clean(orjson.dumps(logs).decode(), "the logs stream")


def test_one_line_cli_error_is_redacted(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                        restore_logging: None) -> None:
    from shared.cli import run_command

    monkeypatch.chdir(ROOT / "tests")  # no .env here
    monkeypatch.setenv("DHAN_CLIENT_ID", "1100000001")
    monkeypatch.setenv("DHAN_ACCESS_TOKEN", TOKEN)
    monkeypatch.setenv("DHAN_MYSQL_URL", f"mysql://app:{quote(MYSQL_PW, safe='')}@127.0.0.1:3306/x")

    def run(_args: argparse.Namespace, _settings: Settings) -> int:
        raise ConfigError(f"the server said: invalid token {TOKEN} for password {MYSQL_PW}")

    def crash(_args: argparse.Namespace, _settings: Settings) -> int:
        raise KeyError(f"token={TOKEN}")

    args = argparse.Namespace(log_level=None, log_format="json")
    command: Any = SimpleNamespace(run=run)
    assert run_command("probe", command, args) == 2
    command.run = crash
    assert run_command("probe", command, args) == 1
    captured = capsys.readouterr()
    assert captured.err.count("\n") == 2 and "invalid token ***" in captured.err
    assert_clean(captured.err + captured.out, "the CLI's output")


def test_secret_values_hold_every_form() -> None:
    s = make_settings(client_id="1", access_token=TOKEN, sim_token="sim-" + "ab" * 10,
                      redis_url=f"redis://:{quote(REDIS_PW, safe='')}@h:6379/0",
                      mysql_url=f"mysql://app:{quote(MYSQL_PW, safe='')}@h:3306/db")
    values = set(s.secret_values())
    assert {TOKEN, "sim-" + "ab" * 10, REDIS_PW, quote(REDIS_PW, safe=""), MYSQL_PW} <= values
    assert not any("://" in v for v in values)  # passwords, not whole URLs (the host stays readable)


@pytest.mark.parametrize("fmt", ["json", "console"])
async def test_stdlib_records_with_a_secret_traceback_are_redacted(fmt: str, reject_401: str,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   restore_logging: None) -> None:
    """aiohttp, redis and aiomysql log through the stdlib ``logging``: their records go through the same
    renderer, tracebacks included."""
    configure_logging("probe", fmt=fmt, secrets=[TOKEN])
    async with aiohttp.ClientSession() as http:
        try:
            await http.ws_connect(f"ws://{reject_401}/?token={TOKEN}")
        except aiohttp.WSServerHandshakeError as exc:
            logging.getLogger("aiohttp.client").error("handshake failed: %s", exc, exc_info=exc)
    out = capsys.readouterr().out
    assert "handshake failed" in out and "WSServerHandshakeError" in out and "***" in out
    assert_clean(out, f"stdlib records ({fmt})")
