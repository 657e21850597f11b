"""Settings: one frozen :class:`Settings` of sections, read from ``DHAN_*`` variables (see :mod:`.root`)."""

from shared.settings.common import MySQLTarget, mask_url
from shared.settings.feed import JOURNAL_BLOCK_KB_MAX
from shared.settings.root import ENV_FIELDS, EnvField, Settings, load_settings

__all__ = ["ENV_FIELDS", "JOURNAL_BLOCK_KB_MAX", "EnvField", "MySQLTarget", "Settings", "load_settings", "mask_url"]
