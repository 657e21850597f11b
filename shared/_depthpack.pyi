# The native packer (shared/_depthpack.c); see shared.depth_pack.pack.
from typing import Any

def pack(bids: Any, asks: Any, /) -> bytes | None: ...
