# The native field renderer (writer/_rowfmt.c); see writer.values.native_fields.
from typing import Any

def fields(ev: dict[str, Any], spec: tuple[tuple[str, int], ...], /) -> str | None: ...
