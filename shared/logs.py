"""Logging, configured once per process: structlog events, JSON to stdout (console renderer on a TTY).

Warnings and errors are also kept in :data:`LOG_SINK` so the service can append them to the capped
``dhan:logs`` stream (see ``shared.service``). Known secret values (``configure_logging(secrets=...)``,
:func:`add_secrets`) are redacted from every rendered line, the formatted traceback included, and from what
goes to the sink, so a token or password that slips into an exception text never reaches a log. Text that is
cut short must be redacted before it is cut (:func:`clip`): a cut secret is no longer recognised.
"""

from __future__ import annotations

import collections
import logging
import re
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import quote, quote_plus

import orjson
import structlog
from structlog.typing import Processor

from shared.lifeline import detach_output, output_lost

__all__ = ["LOG_SINK", "add_secrets", "clip", "configure_logging", "get_logger", "redact"]

LOG_SINK: collections.deque[dict[str, Any]] = collections.deque(maxlen=10_000)
MIN_SECRET_CHARS = 4  # shorter values would mask ordinary words
_SECRETS: set[str] = set()
_pattern: re.Pattern[str] | None = None
_SINK_LEVELS = frozenset({"warning", "error", "critical", "exception"})


def _forms(secret: str) -> set[str]:
    """The ways a secret is written in a line: as is, URL-encoded (a password inside a URL), and escaped by
    JSON (the JSON renderer) or ``repr`` (exception texts)."""
    json_form = orjson.dumps(secret).decode()[1:-1]
    return {secret, quote(secret, safe=""), quote(secret), quote_plus(secret), json_form, repr(secret)[1:-1]}


def add_secrets(secrets: Iterable[str | None]) -> None:
    """Redact these values from now on (as well as those already known)."""
    global _pattern
    for secret in secrets:
        if secret and len(secret) >= MIN_SECRET_CHARS:
            _SECRETS.update(f for f in _forms(secret) if len(f) >= MIN_SECRET_CHARS)
    if _SECRETS:  # longest first: a secret that contains another is replaced whole
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_SECRETS, key=len, reverse=True)))


def redact(text: str) -> str:
    """``text`` with every known secret replaced by ``***`` (unchanged, and cheap, when none is known)."""
    pattern = _pattern
    return text if pattern is None else pattern.sub("***", text)


def clip(text: object, limit: int = 200) -> str:
    """First line of ``text``, redacted, then cut to ``limit`` characters (for error fields and messages)."""
    lines = redact(str(text)).splitlines()
    return lines[0][:limit] if lines else ""


def _sink_processor(_: Any, method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    if event_dict.get("level", method) in _SINK_LEVELS:
        LOG_SINK.append({k: (v if isinstance(v, (int, float, bool)) or v is None else redact(str(v)))
                         for k, v in event_dict.items()})
    return event_dict


class _Redacted:
    """Wraps the renderer: the finished line is redacted, after the traceback was formatted into it."""

    def __init__(self, renderer: Any) -> None:
        self.renderer = renderer

    def __call__(self, logger: Any, method: str, event_dict: MutableMapping[str, Any]) -> Any:
        line = self.renderer(logger, method, event_dict)
        return redact(line) if _pattern is not None and isinstance(line, str) else line


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
    global _pattern
    _SECRETS.clear()
    _pattern = None
    add_secrets(secrets or [])
    use_console = fmt == "console" or (fmt == "auto" and sys.stdout.isatty())
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = _Redacted(
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
    formatter = structlog.stdlib.ProcessorFormatter
    tail: list[Processor] = [formatter.remove_processors_meta]
    if not use_console:
        tail.append(structlog.processors.format_exc_info)
    handler.setFormatter(formatter(foreign_pre_chain=shared, processors=[*tail, renderer]))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)


class _CurrentStdoutHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Stdlib records (aiohttp, redis, aiomysql) to the current ``sys.stdout``, like :class:`_StdoutLogger`."""

    @property
    def stream(self) -> Any:
        return sys.stdout

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name) if name else structlog.get_logger()
