"""The feed's last guard: a frame the normaliser raises on (a bug, not bad data) is journaled, counted and
logged once per exception type, and the frames after it are handled as usual."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from structlog.testing import capture_logs

from feed.normalise import Normaliser
from feed.protocol.decode import Decoder
from feed.protocol.encode import pack_ticker
from feed.publisher import Publisher
from feed.service import FeedService
from shared.keys import Keys
from shared.settings import Settings

BOOM = b"\x02boom"


class FailingNormaliser(Normaliser):
    """The real normaliser, made to fail on one marker frame as a bug would."""

    def feed_frame(self, decoder: Decoder, frame: bytes, recv_ts: float, quotes: list[bytes], ticks: list[bytes],
                   depth: list[bytes]) -> None:
        if frame == BOOM:
            raise RuntimeError("a bug in the normaliser")
        super().feed_frame(decoder, frame, recv_ts, quotes, ticks, depth)


async def test_a_frame_the_normaliser_raises_on_is_counted_and_the_next_one_flows(
    settings: Settings, redis_client: aioredis.Redis
) -> None:
    svc = FeedService(settings, instruments=[])
    svc.publisher = Publisher(settings, redis_client, Keys(settings.redis.key_prefix))
    svc.normaliser = FailingNormaliser(on_bad=svc._on_bad_value)
    good = pack_ticker(0, 13, 26046.95, 1_795_598_100)
    with capture_logs() as logs:
        for frame in (BOOM, BOOM, good):
            svc._on_frame(frame, 1_795_578_300.0)
    failed: list[dict[str, Any]] = [e for e in logs if e["event"] == "frame_failed"]
    assert svc.frame_errors == 2 and len(failed) == 1 and "a bug" in failed[0]["error"]
    assert failed[0]["head_hex"] == BOOM.hex() and failed[0]["log_level"] == "error"
    assert svc.publisher.buffered == 1  # the good frame's quote
    assert svc.metrics()["frame_errors"] == 2
    assert len(svc.journal.writer.queue) == 3  # every frame journaled, the failing ones too
