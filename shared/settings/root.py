"""The one settings class. Built once by the entry point (``load_settings``) and passed down.

``Settings`` holds one frozen section per concern (``settings.redis.url``, ``settings.writer.batch_max``, ...;
the sections are declared in :mod:`shared.settings.common`, :mod:`~shared.settings.feed` and
:mod:`~shared.settings.services`). Every field's alias is its environment variable, ``DHAN_`` + the flat name
in upper case (``settings.sim.port`` is ``DHAN_SIM_PORT``, flat name ``sim_port``); ``.env.example`` lists them
all with their defaults. Keyword arguments (``Settings(sim_port=...)``, ``load_settings(...)``,
:meth:`Settings.replaced`) use the flat names, so a test or a tool says a setting the way the environment does.

Secrets are ``SecretStr`` and never printed: use :meth:`Settings.masked` for anything shown to a person.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pydantic import SecretStr, ValidationError, create_model, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from shared.errors import ConfigError
from shared.settings.common import (
    DhanSettings,
    InstrumentsSettings,
    LogSettings,
    MySQLSettings,
    RedisSettings,
    Section,
    ServiceSettings,
    StreamsSettings,
    mask_url,
)
from shared.settings.feed import (
    FeedSettings,
    GreeksSettings,
    JournalSettings,
    PublishSettings,
    SimSettings,
    UniverseSettings,
)
from shared.settings.services import MonitorSettings, SchedulerSettings, VizSettings, WriterSettings

__all__ = ["ENV_FIELDS", "EnvField", "Settings", "load_settings"]

DHAN_FEED_URL = "wss://api-feed.dhan.co"
DHAN_DEPTH20_URL = "wss://depth-api-feed.dhan.co/twentydepth"  # dhanhq 2.3.0 fulldepth.py
DHAN_DEPTH200_URL = "wss://full-depth-api.dhan.co/"
DHAN_SCRIP_MASTER_URL = "https://images.dhan.co/api-data/api-scrip-master.csv"
_ENV_CONFIG = SettingsConfigDict(env_prefix="DHAN_", env_file=".env", env_file_encoding="utf-8", extra="ignore")


@dataclass(frozen=True)
class EnvField:
    """One setting: its flat name (``sim_port``), where it lives (``sim``, ``port``), its declaration."""

    name: str
    section: str
    attr: str
    info: FieldInfo

    @property
    def env(self) -> str:
        return f"DHAN_{self.name.upper()}"


class Settings(BaseSettings):
    """All configuration of every service, one section per concern. ``Settings(key_prefix="t1:", ...)`` reads
    the environment and ``.env`` under the keywords given; :meth:`replaced` copies with changes."""

    model_config = SettingsConfigDict(**_ENV_CONFIG, frozen=True)

    dhan: DhanSettings = DhanSettings()
    redis: RedisSettings = RedisSettings()
    mysql: MySQLSettings = MySQLSettings()
    streams: StreamsSettings = StreamsSettings()
    service: ServiceSettings = ServiceSettings()
    log: LogSettings = LogSettings()
    instruments: InstrumentsSettings = InstrumentsSettings()
    universe: UniverseSettings = UniverseSettings()
    feed: FeedSettings = FeedSettings()
    publish: PublishSettings = PublishSettings()
    journal: JournalSettings = JournalSettings()
    sim: SimSettings = SimSettings()
    greeks: GreeksSettings = GreeksSettings()
    writer: WriterSettings = WriterSettings()
    monitor: MonitorSettings = MonitorSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    viz: VizSettings = VizSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _FlatEnvSource(settings_cls, getattr(dotenv_settings, "env_file", None))

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        """Flat names (``sim_port``) go to their section (``sim.port``); an unknown name is an error."""
        if not isinstance(data, dict):
            return data
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key in cls.model_fields:
                section = value.model_dump() if isinstance(value, Section) else dict(value)
                out[key] = {**section, **out.get(key, {})}
            elif key in ENV_FIELDS:
                field = ENV_FIELDS[key]
                out.setdefault(field.section, {})[field.attr] = value
            else:
                raise ValueError(f"unknown setting {key!r} (DHAN_{key.upper()})")
        return out

    @model_validator(mode="after")
    def _credentials_pair(self) -> Settings:
        if (self.dhan.access_token is None) != (self.dhan.client_id is None):
            raise ValueError("DHAN_CLIENT_ID and DHAN_ACCESS_TOKEN go together: set both or neither")
        return self

    @model_validator(mode="after")
    def _memory_above_buffer(self) -> Settings:
        if self.publish.memory_max < self.publish.buffer_max:
            raise ValueError("DHAN_PUBLISH_MEMORY_MAX must be at least DHAN_PUBLISH_BUFFER_MAX (the spill bound)")
        return self

    # --- derived values ---
    @property
    def use_simulator(self) -> bool:
        return self.dhan.access_token is None

    @property
    def effective_feed_url(self) -> str:
        if self.feed.url:
            return self.feed.url
        return self.sim.url if self.use_simulator else DHAN_FEED_URL

    def effective_depth_url(self, levels: int) -> str:
        """The 20- or 200-level depth feed's URL: the setting, else the simulator's or Dhan's."""
        given = self.feed.depth20_url if levels == 20 else self.feed.depth200_url
        if given:
            return given
        if self.use_simulator:
            return f"ws://{self.sim.host}:{self.sim.port}/{'twentydepth' if levels == 20 else 'twohundreddepth'}"
        return DHAN_DEPTH20_URL if levels == 20 else DHAN_DEPTH200_URL

    @property
    def effective_instruments_url(self) -> str:
        if self.instruments.url:
            return self.instruments.url
        if self.use_simulator:
            return f"http://{self.sim.host}:{self.sim.port}/api-scrip-master.csv"
        return DHAN_SCRIP_MASTER_URL

    # --- flat views ---
    def flat(self) -> dict[str, Any]:
        """Every setting by its flat name (``{"sim_port": 8765, ...}``), secrets still ``SecretStr``."""
        return {name: getattr(getattr(self, f.section), f.attr) for name, f in ENV_FIELDS.items()}

    def replaced(self, *, check: bool = True, **changes: Any) -> Settings:
        """A copy with some settings changed, by flat name (``settings.replaced(sim_rate=200.0)``), validated.

        ``check=False``: taken as given, unvalidated, for an override its caller checked itself (``dhan sim
        --port 0``: any free port, which no environment may ask for)."""
        if check:
            return type(self).model_validate({**self.flat(), **changes})
        by_section: dict[str, dict[str, Any]] = {}
        for name, value in changes.items():
            field = ENV_FIELDS[name]
            by_section.setdefault(field.section, {})[field.attr] = value
        update = {s: getattr(self, s).model_copy(update=attrs) for s, attrs in by_section.items()}
        return super().model_copy(update=update)

    def model_copy(self, *, update: Any = None, deep: bool = False) -> Settings:
        if update:
            raise TypeError("Settings.model_copy(update=...) skips validation: use settings.replaced(name=value)")
        return super().model_copy(deep=deep)

    def secret_values(self) -> list[str]:
        """Every secret held, for log redaction: each token, and each URL's password as written and decoded."""
        out: list[str] = []
        for value in self.flat().values():
            if not isinstance(value, SecretStr) or not value.get_secret_value():
                continue
            raw = value.get_secret_value()
            if "://" not in raw:
                out.append(raw)
                continue
            password = urlsplit(raw).password
            if password:
                out += [password, unquote(password)]
        return out

    def masked(self) -> dict[str, Any]:
        """Effective settings by flat name, for display: secrets as ``***``, URLs with their passwords masked."""
        out: dict[str, Any] = {}
        for name, value in self.flat().items():
            if isinstance(value, SecretStr):
                raw = value.get_secret_value()
                value = mask_url(raw) if "://" in raw else "***"
            elif isinstance(value, Path):
                value = str(value)
            out[name] = value
        return out


def _env_fields() -> dict[str, EnvField]:
    out: dict[str, EnvField] = {}
    for section, holder in Settings.model_fields.items():
        model = holder.annotation
        assert isinstance(model, type) and issubclass(model, Section)
        for attr, info in model.model_fields.items():
            assert info.alias and info.alias.startswith("DHAN_"), f"{model.__name__}.{attr} names no DHAN_ variable"
            name = info.alias.removeprefix("DHAN_").lower()
            out[name] = EnvField(name, section, attr, info)
    return out


ENV_FIELDS: dict[str, EnvField] = _env_fields()  # every setting by flat name, in declaration order


class _FlatEnvBase(BaseSettings):
    model_config = _ENV_CONFIG


# The environment and .env, read by flat name as raw text (None: not set); Settings validates the values.
_FlatEnv: type[BaseSettings] = create_model(  # type: ignore[call-overload]
    "_FlatEnv", __base__=_FlatEnvBase, **{name: (str | None, None) for name in ENV_FIELDS}
)


class _FlatEnvSource(PydanticBaseSettingsSource):
    """Settings' environment source: every ``DHAN_*`` variable by its flat name (environment over .env)."""

    def __init__(self, settings_cls: type[BaseSettings], env_file: Any) -> None:
        super().__init__(settings_cls)
        self.env_file = env_file

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads every variable at once

    def __call__(self) -> dict[str, Any]:
        found = _FlatEnv(_env_file=self.env_file)
        return {k: v for k, v in found.model_dump().items() if v is not None}


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment and ``.env``; a bad value is a one-line :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except UnicodeDecodeError as exc:  # python-dotenv reading .env
        raise ConfigError(f"bad configuration: the .env file is not UTF-8 text (byte {exc.start})") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(str(p) for p in first.get("loc", ()))
        env = next((f.env for f in ENV_FIELDS.values() if (f.section, f.attr) == loc[:2]), "settings")
        raise ConfigError(f"bad configuration: {env}: {first.get('msg', 'invalid')}") from None
