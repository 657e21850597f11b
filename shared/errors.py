"""Exception tree of dhan-trading. The CLI catches ``DhanError`` and prints its one-line ``str``.

::

    DhanError                      one line for the operator, never a secret
    ├── ConfigError                bad or contradictory settings, unreadable files
    ├── AuthError                  the feed refused our token or client id (a clean stop, never a retry loop)
    ├── ProtocolError              a peer broke Dhan's wire protocol in a way we cannot skip
    ├── RedisUnavailable           Redis cannot be reached (with the URL, password masked, and the fix)
    ├── MySQLUnavailable           MySQL/MariaDB cannot be reached
    └── SchemaMismatch             the database schema version is not the one this code was built for
"""

from __future__ import annotations

__all__ = [
    "AuthError",
    "ConfigError",
    "DhanError",
    "MySQLUnavailable",
    "ProtocolError",
    "RedisUnavailable",
    "SchemaMismatch",
]


class DhanError(Exception):
    """Base of every error meant for an operator: ``str(err)`` is one line saying what to do."""

    exit_code = 1


class ConfigError(DhanError):
    exit_code = 2


class AuthError(DhanError):
    exit_code = 3


class ProtocolError(DhanError):
    pass


class RedisUnavailable(DhanError):
    exit_code = 4


class MySQLUnavailable(DhanError):
    exit_code = 5


class SchemaMismatch(DhanError):
    exit_code = 6
