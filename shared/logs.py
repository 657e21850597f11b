"""Logging, configured once per process: structlog events, JSON to stdout (console renderer on a TTY).

Warnings and errors are also kept in :data:`LOG_SINK` so the service can append them to the capped
``dhan:logs`` stream (see ``shared.service``). Known secret values are redacted from every event before it is
rendered, so a token or password that slips into an exception text still never reaches a log.
"""

from __future__ import annotations

import collections
import logging
import sys
from typing import Any

import orjson
import structlog

from shared.lifeline import detach_output, output_lost

__all__ = ["LOG_SINK", "configure_logging", "get_logger", "redact"]

LOG_SINK: collections.deque[dict[str, Any]] = collections.deque(maxlen=10_000)
_SECRETS: list[str] = []
_SINK_LEVELS = frozenset({"warning", "error", "critical", "exception"})


def redact(text: str) -> str:
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, "***")
    return text


def _redact_processor(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    if not _SECRETS:
        return event_dict
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


def _sink_processor(_: Any, method: str, event_dict: dict[str, Any]) -> dict[str, Any]:
    if event_dict.get("level", method) in _SINK_LEVELS:
        LOG_SINK.append({k: (v if isinstance(v, (int, float, bool)) or v is None else str(v))
                         for k, v in event_dict.items()})
    return event_dict


class _StdoutLogger:
    """Writes each rendered line to whatever ``sys.stdout`` is *now* (structlog's PrintLogger binds the
    stream once, which breaks when stdout is swapped, e.g. by test capture or a daemonising wrapper)."""

    def msg(self, message: str) -> None:
        out = sys.stdout
        try:
            out.write(message + "\n")
            out.flush()
        except OSError as exc:
            # stdout went away (terminal closed, reader exited): the line is lost, the process must go on
            # (e.g. stopping its children cleanly); later lines go to /dev/null instead of failing again
            if not output_lost(exc) or _fileno(out) != 1:
                raise
            detach_output((1,), terminals_only=False)

    log = debug = info = warn = warning = error = err = critical = exception = fatal = failure = msg


def _fileno(stream: Any) -> int | None:
    try:
        return int(stream.fileno())
    except (AttributeError, ValueError, OSError):
        return None


def _logger_factory(*_: Any) -> _StdoutLogger:
    return _STDOUT_LOGGER


_STDOUT_LOGGER = _StdoutLogger()


def _orjson_dumps(obj: Any, **_: Any) -> str:
    return orjson.dumps(obj, default=str).decode()


def configure_logging(
    service: str, *, level: str = "info", fmt: str = "auto", secrets: list[str] | None = None
) -> None:
    """Set up structlog and route stdlib loggers (aiohttp, redis, aiomysql) through the same chain."""
    _SECRETS[:] = [s for s in (secrets or []) if s and len(s) >= 4]
    use_console = fmt == "console" or (fmt == "auto" and sys.stdout.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_processor,
    ]
    renderer: Any = (
        # plain tracebacks: rich's default shows local variables, which could hold a token or password
        structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
        if use_console
        else structlog.processors.JSONRenderer(serializer=_orjson_dumps)
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info if not use_console else structlog.processors.StackInfoRenderer(),
            _sink_processor,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=_logger_factory,
        cache_logger_on_first_use=False,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    handler = _CurrentStdoutHandler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(foreign_pre_chain=shared, processor=renderer))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


class _CurrentStdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Stdlib records (aiohttp, redis, aiomysql) to the current ``sys.stdout``, like :class:`_StdoutLogger`."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name) if name else structlog.get_logger()
