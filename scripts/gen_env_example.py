"""Regenerate .env.example from the Settings class (run by hand after adding a setting; a test checks sync).

After the settings comes the docker compose block: variables that docker-compose.yml reads (passwords, profiles,
X11) and that are not settings; tests/deploy checks both parts against the compose file.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from shared.settings import ENV_FIELDS

HEADER = """\
# dhan-trading settings. Copy to .env and edit; every variable is optional (defaults shown).
# Without DHAN_CLIENT_ID/DHAN_ACCESS_TOKEN the feed uses the local simulator (dhan sim).
# Secrets (token, passwords in URLs) are never logged or shown unmasked.
"""

COMPOSE_HEADER = """\
# ----------------------------------------------------------------------------------------------------------
# docker compose only: read by docker-compose.yml, never by dhan (not settings; the DHAN_*_IMAGE and
# DHAN_IMAGE_TAG names too, though they carry the prefix).
# docker compose reads this file for the ${...} in docker-compose.yml and passes it to every dhan container,
# where docker-compose.yml points DHAN_REDIS_URL, DHAN_MYSQL_URL, DHAN_SIM_HOST, DHAN_SPOOL_DIR,
# DHAN_JOURNAL_DIR and the health endpoints at the compose services and volumes: the loopback values above
# are for dhan run on this host (e.g. dhan viz against the stack: set DHAN_REDIS_URL to
# redis://:<REDIS_PASSWORD>@127.0.0.1:6379/0 and DHAN_MYSQL_URL to mysql://dhan:<MYSQL_PASSWORD>@127.0.0.1:3306/dhan_trading).
# ----------------------------------------------------------------------------------------------------------
"""

# (name, value, meaning, commented out)
COMPOSE_VARIABLES: tuple[tuple[str, str, str, bool], ...] = (
    ("COMPOSE_PROFILES", "sim",
     "services a plain `docker compose up` adds: sim while there is no Dhan token; empty once DHAN_ACCESS_TOKEN is set",
     False),
    ("REDIS_PASSWORD", "",
     "required: Redis password (URL-safe characters, e.g. the output of: openssl rand -hex 24)", False),
    ("REDIS_MAXMEMORY", "4gb",
     "Redis memory cap (noeviction: writes fail past it); fit it to the DHAN_STREAM_MAXLEN_* caps (docs/scaling.md)",
     False),
    ("MYSQL_ROOT_PASSWORD", "", "required: MySQL root password (backups and administration only)", False),
    ("MYSQL_PASSWORD", "",
     "required: password of the MySQL user 'dhan' the services use (URL-safe characters, as above)", False),
    ("MYSQL_INNODB_BUFFER_POOL_SIZE", "1G", "InnoDB buffer pool of the mysql service", False),
    ("REDIS_HOST_PORT", "6379", "host port of Redis (bound to 127.0.0.1 only)", False),
    ("MYSQL_HOST_PORT", "3306", "host port of MySQL (bound to 127.0.0.1 only)", False),
    ("SIM_HOST_PORT", "9300", "host port of the simulator's /health and /metrics (127.0.0.1 only)", False),
    ("FEED_HOST_PORT", "9301", "host port of the feed's /health and /metrics (127.0.0.1 only)", False),
    ("MONITOR_HOST_PORT", "9304", "host port of the monitor's /health and /metrics (127.0.0.1 only)", False),
    ("SCHEDULER_HOST_PORT", "9305", "host port of the scheduler's /health and /metrics (127.0.0.1 only)", False),
    ("DHAN_PYTHON_IMAGE", "python:3.11.13-slim-bookworm",
     "base of both images (build argument PYTHON_IMAGE): a private registry's copy, or a digest-pinned name",
     False),
    ("DHAN_REDIS_IMAGE", "redis:7.4-bookworm", "image of the redis service", False),
    ("DHAN_MYSQL_IMAGE", "mysql:8.4", "image of the mysql service", False),
    ("DHAN_IMAGE_TAG", "local",
     "tag of the images built here (dhan-trading/feed, dhan-trading/viz); a new tag per upgrade keeps the "
     "previous images for a rollback", False),
    ("X11_SOCKET_DIR", "/tmp/.X11-unix",
     "X11 socket directory mounted into control and viz (Docker Desktop + WSLg: /run/desktop/mnt/host/wslg/.X11-unix)",
     False),
    ("DISPLAY", "host.docker.internal:0",
     "X display of control and viz; default: your shell's $DISPLAY (set it here for XQuartz or VcXsrv over TCP)",
     True),
)


def render() -> str:
    """The text of .env.example: every setting with its default, then the docker compose block."""
    lines = [HEADER]
    section = ""
    for field in ENV_FIELDS.values():
        if field.section != section:
            section = field.section
            lines.append(f"# ---- settings.{section} ----\n")
        default = field.info.default
        if isinstance(default, SecretStr):
            default = default.get_secret_value()
        shown = "" if default is None else (str(default).lower() if isinstance(default, bool) else str(default))
        lines.append(f"# {field.info.description}")
        prefix = "# " if default is None else ""
        lines.append(f"{prefix}{field.env}={shown}\n")
    lines.append(COMPOSE_HEADER)
    for var, value, meaning, commented in COMPOSE_VARIABLES:
        lines.append(f"# {meaning}")
        lines.append(f"{'# ' if commented else ''}{var}={value}\n")
    return "\n".join(lines)


def main() -> None:
    Path(".env.example").write_text(render())


if __name__ == "__main__":
    main()
