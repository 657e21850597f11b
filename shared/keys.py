"""Every Redis key, stream, channel and consumer-group name, built from the configurable prefix."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["STREAM_KINDS", "Keys"]

STREAM_KINDS = ("quotes", "ticks", "depth", "greeks", "depth20")


@dataclass(frozen=True, slots=True)
class Keys:
    prefix: str = "dhan:"

    # streams (and the channel of the same name: live fan-out)
    @property
    def quotes(self) -> str:
        return f"{self.prefix}quotes"

    @property
    def ticks(self) -> str:
        return f"{self.prefix}ticks"

    @property
    def depth(self) -> str:
        return f"{self.prefix}depth"

    @property
    def depth20(self) -> str:
        return f"{self.prefix}depth20"

    @property
    def greeks(self) -> str:
        return f"{self.prefix}greeks"

    def stream(self, kind: str) -> str:
        if kind not in STREAM_KINDS:
            raise ValueError(f"unknown stream kind {kind!r}")
        return f"{self.prefix}{kind}"

    # channels and capped streams for operations
    @property
    def alerts(self) -> str:
        """Channel of alert events (any service, shared/alerts.py) and the capped stream of their history."""
        return f"{self.prefix}alerts"

    @property
    def control(self) -> str:
        return f"{self.prefix}control"

    @property
    def logs(self) -> str:
        return f"{self.prefix}logs"

    @property
    def events(self) -> str:
        """Feed lifecycle events (connected, disconnected with reason, universe changes, gaps)."""
        return f"{self.prefix}events"

    @property
    def alerts_active(self) -> str:
        """Hash ``alert key`` -> orjson alert the monitor has firing now (survives a monitor restart)."""
        return f"{self.prefix}alerts:active"

    @property
    def alerts_ack(self) -> str:
        """Hash ``alert id`` -> orjson ``{by, ts}``: acknowledged in a Control Center."""
        return f"{self.prefix}alerts:ack"

    @property
    def market(self) -> str:
        """Channel of market-status changes (scheduler) and the hash ``exchange`` -> orjson current status."""
        return f"{self.prefix}market"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}deadletter"

    # state hashes
    def svc(self, name: str) -> str:
        """Heartbeat hash of one service instance (``name`` may carry an instance suffix)."""
        return f"{self.prefix}svc:{name}"

    @property
    def svc_pattern(self) -> str:
        return f"{self.prefix}svc:*"

    @property
    def universe(self) -> str:
        """Hash ``SEGMENT:ID`` -> orjson instrument of what the feed is subscribed to now."""
        return f"{self.prefix}universe"

    @property
    def last_quote(self) -> str:
        """Hash ``SEGMENT:ID`` -> latest encoded quote (for late joiners; written by the feed)."""
        return f"{self.prefix}last:quote"

    @property
    def up_lock(self) -> str:
        """String (orjson ``{pid, host, started_at}``, with a TTL refreshed while it runs): the ``dhan up``
        running on this prefix; a second one refuses to start."""
        return f"{self.prefix}up:lock"

    # consumer groups
    WRITER_GROUP = "writer"
    GREEKS_GROUP = "greeks"
