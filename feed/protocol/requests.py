"""JSON subscription requests: build them within Dhan's limits (feed side), parse them safely (simulator side).

The live feed takes ``{"RequestCode", "InstrumentCount", "InstrumentList": [{"ExchangeSegment", "SecurityId"}]}``.
The depth feeds take the same shape with request code 23 (unsubscribe 24, or 25: see
:class:`~feed.protocol.constants.DepthRequestCode`); the official client also subscribes the 200-level feed
with the instrument inline, ``{"RequestCode": 23, "ExchangeSegment": ..., "SecurityId": ...}``, and
:func:`parse_depth_request` takes both.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from feed.protocol.constants import (
    DEPTH_LEVELS,
    DEPTH_MAX_INSTRUMENTS,
    MAX_INSTRUMENTS_PER_MESSAGE,
    MODE_REQUEST_CODES,
    SEGMENT_BY_NAME,
    DepthRequestCode,
    RequestCode,
)

__all__ = [
    "Instrument", "Request", "RequestError", "build_depth200_request", "build_depth_requests", "build_disconnect",
    "build_requests",
    "parse_depth_request", "parse_request",
]

Instrument = tuple[str, int]
"""``(exchange segment name, security id)``: the identity of an instrument on the wire."""

MAX_REQUEST_BYTES = 64 * 1024
_VALID_CODES = frozenset(int(c) for c in RequestCode)
_DEPTH_CODES = frozenset({int(c) for c in DepthRequestCode} | {int(RequestCode.DISCONNECT)})


class RequestError(ValueError):
    """A request frame the simulator (or Dhan) would reject; the message is one line."""


@dataclass(frozen=True, slots=True)
class Request:
    code: int
    instruments: tuple[Instrument, ...]

    @property
    def mode(self) -> str | None:
        for mode, codes in MODE_REQUEST_CODES.items():
            if self.code in codes:
                return mode
        return None

    @property
    def is_subscribe(self) -> bool:
        return self.code in (RequestCode.SUBSCRIBE_TICKER, RequestCode.SUBSCRIBE_QUOTE, RequestCode.SUBSCRIBE_FULL)


def build_requests(
    instruments: Iterable[Instrument], mode: str = "full", *, subscribe: bool = True,
    per_message: int = MAX_INSTRUMENTS_PER_MESSAGE,
) -> list[str]:
    """Text frames that (un)subscribe ``instruments`` in ``mode``, at most ``per_message`` per frame."""
    if mode not in MODE_REQUEST_CODES:
        raise ValueError(f"unknown mode {mode!r}; use ticker, quote or full")
    if not 1 <= per_message <= MAX_INSTRUMENTS_PER_MESSAGE:
        raise ValueError(f"per_message must be 1..{MAX_INSTRUMENTS_PER_MESSAGE}")
    code = MODE_REQUEST_CODES[mode][0 if subscribe else 1]
    items = list(instruments)
    frames = []
    for start in range(0, len(items), per_message):
        chunk = items[start : start + per_message]
        frames.append(
            orjson.dumps(
                {
                    "RequestCode": int(code),
                    "InstrumentCount": len(chunk),
                    "InstrumentList": [{"ExchangeSegment": seg, "SecurityId": str(sid)} for seg, sid in chunk],
                }
            ).decode()
        )
    return frames


def build_disconnect() -> str:
    return orjson.dumps({"RequestCode": int(RequestCode.DISCONNECT)}).decode()


def _load(text: str | bytes) -> dict[str, object]:
    if len(text) > MAX_REQUEST_BYTES:
        raise RequestError(f"request frame of {len(text)} bytes exceeds {MAX_REQUEST_BYTES}")
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RequestError(f"request is not JSON: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise RequestError("request must be a JSON object")
    return obj


def _code(obj: dict[str, object], valid: frozenset[int]) -> int:
    code = obj.get("RequestCode")
    if not isinstance(code, int) or isinstance(code, bool) or code not in valid:
        raise RequestError(f"unknown RequestCode {code!r}")
    return code


def _instrument(item: object) -> Instrument:
    if not isinstance(item, dict):
        raise RequestError("each instrument must be an object with ExchangeSegment and SecurityId")
    seg = item.get("ExchangeSegment")
    sid = item.get("SecurityId")
    if not isinstance(seg, str) or seg not in SEGMENT_BY_NAME:
        raise RequestError(f"unknown ExchangeSegment {seg!r}")
    if isinstance(sid, bool) or not isinstance(sid, (str, int)):
        raise RequestError(f"SecurityId must be a string of digits, got {sid!r}")
    sid_s = str(sid)
    # isascii: str.isdigit() also admits digits like "\u00b2" that int() refuses (found by the fuzzer)
    if not (sid_s.isascii() and sid_s.isdigit()) or len(sid_s) > 10 or int(sid_s) > 0xFFFFFFFF:
        raise RequestError(f"SecurityId {sid_s[:20]!r} is not a valid id")
    return (seg, int(sid_s))


def _instrument_list(obj: dict[str, object], max_instruments: int) -> tuple[Instrument, ...]:
    raw = obj.get("InstrumentList")
    if not isinstance(raw, list):
        raise RequestError("InstrumentList must be a list")
    if len(raw) > max_instruments:
        raise RequestError(f"{len(raw)} instruments in one request; the limit is {max_instruments}")
    count = obj.get("InstrumentCount")
    if count is not None and count != len(raw):
        raise RequestError(f"InstrumentCount {count!r} does not match {len(raw)} instruments listed")
    return tuple(_instrument(item) for item in raw)


def parse_request(text: str | bytes, *, max_instruments: int = MAX_INSTRUMENTS_PER_MESSAGE) -> Request:
    """Validate one request frame as Dhan would; raises :class:`RequestError` with a one-line reason."""
    obj = _load(text)
    code = _code(obj, _VALID_CODES)
    if code in (RequestCode.DISCONNECT, RequestCode.CONNECT):
        return Request(code, ())
    return Request(code, _instrument_list(obj, max_instruments))


def parse_depth_request(text: str | bytes, levels: int = 20) -> Request:
    """Validate one request frame of a depth feed (codes 23, 24, 25 and 12). Both shapes are taken: the
    instrument list (at most 50 on the 20-level feed, 1 on the 200-level one) and the 200-level form with the
    instrument inline. :class:`RequestError` with a one-line reason otherwise."""
    if levels not in DEPTH_LEVELS:
        raise ValueError(f"depth levels must be one of {DEPTH_LEVELS}")
    obj = _load(text)
    code = _code(obj, _DEPTH_CODES)
    if code == RequestCode.DISCONNECT:
        return Request(code, ())
    if "InstrumentList" not in obj and "SecurityId" in obj:
        return Request(code, (_instrument(obj),))
    return Request(code, _instrument_list(obj, DEPTH_MAX_INSTRUMENTS[levels]))


def build_depth_requests(instruments: Iterable[Instrument], levels: int = 20, *, subscribe: bool = True) -> list[str]:
    """Text frames that (un)subscribe ``instruments`` on a depth feed: 50 per frame on the 20-level feed, one
    on the 200-level feed (which serves one instrument per connection)."""
    if levels not in DEPTH_LEVELS:
        raise ValueError(f"depth levels must be one of {DEPTH_LEVELS}")
    code = DepthRequestCode.SUBSCRIBE if subscribe else DepthRequestCode.UNSUBSCRIBE
    items = list(instruments)
    per = DEPTH_MAX_INSTRUMENTS[levels]
    return [
        orjson.dumps({
            "RequestCode": int(code), "InstrumentCount": len(chunk),
            "InstrumentList": [{"ExchangeSegment": seg, "SecurityId": str(sid)} for seg, sid in chunk],
        }).decode()
        for chunk in chunked(items, per)
    ]


def build_depth200_request(instrument: Instrument, *, subscribe: bool = True) -> str:
    """The 200-level feed's (un)subscribe frame with the instrument inline, as Dhan's documents and its official
    client send it (``{"RequestCode": 23, "ExchangeSegment": ..., "SecurityId": ...}``)."""
    code = DepthRequestCode.SUBSCRIBE if subscribe else DepthRequestCode.UNSUBSCRIBE
    seg, sid = instrument
    return orjson.dumps({"RequestCode": int(code), "ExchangeSegment": seg, "SecurityId": str(sid)}).decode()


def chunked(items: Sequence[Instrument], size: int) -> list[Sequence[Instrument]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
