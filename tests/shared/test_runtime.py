"""The services' event loop: uvloop when installed unless DHAN_EVENT_LOOP=asyncio; asking for it without it
installed is a one-line configuration error. The writer and greeks processes raise the GC's thresholds."""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import structlog

from shared.cli import run_command
from shared.errors import ConfigError
from shared.logs import configure_logging
from shared.runtime import BURST_GC_THRESHOLD0, loop_factory, settle_heap
from shared.settings import Settings

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    config = structlog.get_config()
    handlers = logging.getLogger().handlers[:]
    yield
    configure_logging("tests", secrets=[])
    structlog.configure(**config)
    logging.getLogger().handlers[:] = handlers


def _loop_type_name(choice: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Runs a command through ``dhan``'s runner with DHAN_EVENT_LOOP=choice; the type of loop it ran on."""
    monkeypatch.chdir(TESTS)  # no .env here
    monkeypatch.setenv("DHAN_EVENT_LOOP", choice)
    seen: list[str] = []

    async def probe() -> int:
        seen.append(type(asyncio.get_running_loop()).__module__)
        return 0

    def run(_args: argparse.Namespace, _settings: Settings) -> Any:
        return probe()

    command: Any = SimpleNamespace(run=run)
    assert run_command("probe", command, argparse.Namespace(log_level="error", log_format="json")) == 0
    return seen[0]


def test_auto_runs_the_command_on_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch,
                                                         restore_logging: None) -> None:
    pytest.importorskip("uvloop")
    assert _loop_type_name("auto", monkeypatch).startswith("uvloop")


def test_asyncio_keeps_the_standard_loop(monkeypatch: pytest.MonkeyPatch, restore_logging: None) -> None:
    assert _loop_type_name("asyncio", monkeypatch).startswith("asyncio")


def test_without_uvloop_auto_falls_back_and_uvloop_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop -> ImportError, as when not installed
    assert loop_factory("auto") is None
    with pytest.raises(ConfigError, match=r"uvloop is not installed: pip install 'dhan-trading\[fast\]'"):
        loop_factory("uvloop")


@pytest.fixture
def gc_thresholds() -> Iterator[None]:
    before = gc.get_threshold()
    yield
    gc.set_threshold(*before)


@pytest.mark.parametrize("module", ["writer.cli", "feed.greeks.cli"])
def test_burst_services_run_with_the_raised_gc_threshold(module: str, monkeypatch: pytest.MonkeyPatch,
                                                         gc_thresholds: None) -> None:
    cli = importlib.import_module(module)
    service_cls = "writer.service.WriterService" if module == "writer.cli" else "feed.greeks.service.GreeksService"
    seen: list[tuple[int, int, int]] = []

    async def serve(_self: Any) -> int:
        seen.append(gc.get_threshold())
        return 0

    monkeypatch.setattr(f"{service_cls}.serve", serve)
    gc.set_threshold(700, 10, 10)
    args = argparse.Namespace(duration=None, drain=False, consumer=None, instance=None, price_source="mid",
                              batch=10, from_beginning=False)
    assert asyncio.run(cli.run(args, Settings(_env_file=None))) == 0  # type: ignore[call-arg]
    assert seen == [(BURST_GC_THRESHOLD0, 20, 20)]


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_settle_heap_freezes_the_living_and_collects_the_garbage(unfrozen: None) -> None:
    import weakref

    class Node:
        pass

    garbage = Node()
    garbage.me = garbage  # type: ignore[attr-defined]  # a cycle: only the collector frees it
    dead = weakref.ref(garbage)
    del garbage
    kept = [Node() for _ in range(50)]
    settle_heap()
    assert dead() is None  # collected, not frozen
    frozen = gc.get_freeze_count()
    assert frozen >= len(kept)
    # a cycle made frozen, then dropped, is collected by the next settle (it unfreezes first)
    later = Node()
    later.me = later  # type: ignore[attr-defined]
    gone = weakref.ref(later)
    settle_heap()
    del later
    gc.collect()
    assert gone() is not None  # frozen: a plain collection does not see it
    settle_heap()
    assert gone() is None
