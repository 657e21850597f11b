#!/usr/bin/env python3
"""Container healthcheck: ``dhan-healthcheck URL`` exits 0 when ``URL`` (a service's ``/health``) answers 200.

Installed in the images as ``/usr/local/bin/dhan-healthcheck``; docker-compose.yml calls it with each
service's ``http://127.0.0.1:<health port>/health``. Standard library only (the slim image has no curl).
Prints one line (Docker keeps it in ``docker inspect``): the service's own reason when it is unhealthy.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request


def probe(url: str, timeout_s: float = 3.0) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as resp:
            body = resp.read(4096)
            status = resp.status
    except urllib.error.HTTPError as exc:  # 503: the body says why
        body, status = exc.read(4096), exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"unreachable: {reason}"
    try:
        report = json.loads(body)
    except ValueError:
        report = {}
    state = report.get("state", "?")
    why = report.get("reason") or ""
    return status == 200, f"{status} {state}" + (f": {why}" if why else "")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: dhan-healthcheck http://127.0.0.1:PORT/health", file=sys.stderr)
        return 2
    ok, line = probe(argv[0])
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
