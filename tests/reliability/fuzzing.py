"""Mutation fuzzing of subscription request frames: seeds, mutators and an outcome classifier.

An outcome is ``accepted`` (a valid :class:`Request`), ``rejected`` (:class:`RequestError`, what the simulator
expects of bad frames) or ``escaped:<Exception>`` (anything else: a bug, since the simulator catches only
``RequestError``). The one class found so far (``known_bug``): a non-ASCII digit in ``SecurityId`` (``"²"``)
passed ``str.isdigit`` and then failed ``int()`` with a ValueError, which ended the simulator's connection
abnormally (1006); parse_request now also checks ``isascii`` and rejects it, and every test counts any escape
as a failure.
"""

from __future__ import annotations

import contextlib
import random
from collections import Counter
from typing import Any

import orjson

from feed.protocol.constants import SEGMENT_BY_NAME, RequestCode
from feed.protocol.requests import RequestError, build_disconnect, build_requests, parse_request

_SEGMENTS = list(SEGMENT_BY_NAME)
_TOKENS = [
    b'"', b"{", b"}", b"[", b"]", b",", b":", b"null", b"true", b"false", b"-1", b"0", b"1e999", b"-0.0",
    b"18446744073709551616", b"4294967296", b'"\\u0000"', b'"\\ud800"', b"\\", b"NaN", b"[]", b"{}",
    b'"RequestCode"', b'"InstrumentList"', b'"InstrumentCount"', b'"SecurityId"', b'"ExchangeSegment"',
    b'"NSE_FNO"', b'"nse_eq"', b'" 13"', b'"13 "', b'"0x1F"', b'"1_000"', b'"+5"', b'"-5"', b"1.5",
    "\"\u00b2\"".encode(), "\"\u0661\u0662\u0663\"".encode(), "\"\uff11\"".encode(), b"\xff", b"\xc0\x80",
]
_VALUES: list[Any] = [
    None, True, False, 0, -1, 1.5, 2**64, 2**32, "", "13", " 13", "x", [], {}, [None], {"a": 1},
    "\u00b2", "\u0661\u0662", "NSE_EQ", 21, 12, 11, "21", 1e308,
]


def seeds(rng: random.Random | None = None) -> list[bytes]:
    """Valid frames of every kind (subscribe/unsubscribe in each mode, 1-100 instruments) and edge cases."""
    rng = rng or random.Random(1)
    out: list[bytes] = [build_disconnect().encode(), orjson.dumps({"RequestCode": int(RequestCode.CONNECT)})]
    for mode in ("ticker", "quote", "full"):
        for subscribe in (True, False):
            for n in (1, 2, 7, 100):
                items = [(rng.choice(_SEGMENTS), rng.randrange(0, 2**32)) for _ in range(n)]
                out += [f.encode() for f in build_requests(items, mode, subscribe=subscribe)]
    out.append(orjson.dumps({"RequestCode": 21, "InstrumentList": [{"ExchangeSegment": "IDX_I", "SecurityId": 13}]}))
    return out


def classify(frame: str | bytes) -> str:
    try:
        req = parse_request(frame)
    except RequestError:
        return "rejected"
    except Exception as exc:  # the point: anything but RequestError escapes the simulator's handler
        return f"escaped:{type(exc).__name__}"
    assert req.code in {int(c) for c in RequestCode}
    assert len(req.instruments) <= 100
    for seg, sid in req.instruments:
        assert seg in SEGMENT_BY_NAME and 0 <= sid <= 0xFFFFFFFF
    return "accepted"


def known_bug(frame: str | bytes) -> bool:
    """A SecurityId string with a non-ASCII character (see the module docstring)."""
    try:
        obj = orjson.loads(frame)
    except orjson.JSONDecodeError:
        return False
    items = obj.get("InstrumentList") if isinstance(obj, dict) else None
    return isinstance(items, list) and any(
        isinstance(i, dict) and isinstance(i.get("SecurityId"), str) and not i["SecurityId"].isascii()
        for i in items)


def _mutate_bytes(rng: random.Random, data: bytearray, pool: list[bytes]) -> None:
    op = rng.randrange(9)
    n = len(data)
    if op == 0 and n:
        data[rng.randrange(n)] ^= 1 << rng.randrange(8)
    elif op == 1 and n:
        data[rng.randrange(n)] = rng.randrange(256)
    elif op == 2:
        pos = rng.randrange(n + 1)
        data[pos:pos] = rng.randbytes(rng.randint(1, 8))
    elif op == 3 and n:
        a = rng.randrange(n)
        del data[a : a + rng.randint(1, 16)]
    elif op == 4 and n:
        a = rng.randrange(n)
        chunk = data[a : a + rng.randint(1, 32)]
        pos = rng.randrange(n + 1)
        data[pos:pos] = chunk * rng.randint(1, 4)
    elif op == 5:
        other = rng.choice(pool)
        cut, cut2 = rng.randrange(n + 1), rng.randrange(len(other) + 1)
        data[cut:] = other[cut2:]
    elif op == 6 and n:
        del data[rng.randrange(n) :]
    else:
        pos = rng.randrange(n + 1)
        data[pos:pos] = rng.choice(_TOKENS)


def _mutate_json(rng: random.Random, obj: Any) -> Any:
    if not isinstance(obj, dict):
        return rng.choice(_VALUES)
    obj = dict(obj)
    key = rng.choice([*obj.keys(), "RequestCode", "InstrumentCount", "InstrumentList", "Extra"])
    op = rng.randrange(4)
    if op == 0:
        obj.pop(key, None)
    elif op == 1:
        obj[key] = rng.choice(_VALUES)
    elif isinstance(obj.get("InstrumentList"), list) and obj["InstrumentList"]:
        items = list(obj["InstrumentList"])
        i = rng.randrange(len(items))
        item = dict(items[i]) if isinstance(items[i], dict) else {}
        field = rng.choice(["ExchangeSegment", "SecurityId", "Other"])
        item[field] = rng.choice(_VALUES + _SEGMENTS)
        items[i] = item if rng.random() < 0.9 else rng.choice(_VALUES)
        if op == 3 and len(items) <= 100:
            items = items * rng.randint(2, 3)  # past the 100-per-message limit, never unbounded
        obj["InstrumentList"] = items
    else:
        obj["InstrumentCount"] = rng.choice([*_VALUES, rng.randrange(-5, 200)])
    return obj


def mutant(rng: random.Random, pool: list[bytes]) -> bytes:
    """One mutated frame: JSON-level edits of a seed, then byte-level ones, 1-4 each (or none)."""
    seed = rng.choice(pool)
    if rng.random() < 0.5:
        obj = orjson.loads(seed)
        for _ in range(rng.randint(1, 4)):
            obj = _mutate_json(rng, obj)
        with contextlib.suppress(TypeError, orjson.JSONEncodeError):
            seed = orjson.dumps(obj)
    data = bytearray(seed)
    for _ in range(rng.randint(0 if data != seed else 1, 4)):
        _mutate_bytes(rng, data, pool)
    return bytes(data)


def run_cases(n: int, seed: int = 20261125) -> tuple[Counter[str], list[bytes]]:
    """``n`` mutants through the parser; outcome counts and the first few escaping frames."""
    rng = random.Random(seed)
    pool = seeds(rng)
    outcomes: Counter[str] = Counter()
    escaped: list[bytes] = []
    for _ in range(n):
        frame = mutant(rng, pool)
        kind = classify(frame)
        if kind.startswith("escaped") and len(escaped) < 10:
            escaped.append(frame)
        outcomes[kind] += 1
    return outcomes, escaped
