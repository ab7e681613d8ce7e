"""Settings: config/default.toml, then $TALLYSTICK_CONFIG, then TALLYSTICK_* variables.

Read by pydantic-settings (a TOML source for the two files, an environment source with
`__` for nesting; earlier sources win: keyword overrides, then the environment, then the
files, then the defaults in models/settings.py). Checked once at start-up (errors name the
key and the bad value), then frozen.
"""

from __future__ import annotations

import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_settings import SettingsError as SourceError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from models.settings import AccountSettings, DatabaseSettings, FederationSettings, JobSettings, Limits, MailSettings

__all__ = [
    "AccountSettings",
    "DatabaseSettings",
    "FederationSettings",
    "JobSettings",
    "Limits",
    "MailSettings",
    "Settings",
    "SettingsError",
    "load_settings",
]

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "default.toml"
ENV_PREFIX = "TALLYSTICK_"
CONFIG_VARIABLE = ENV_PREFIX + "CONFIG"  # names the operator's settings file, not a setting


class SettingsError(Exception):
    """A setting is missing or has a value we cannot use."""


class Settings(BaseSettings):
    """Every setting; built by load_settings() (the sources and their order are there)."""

    model_config = SettingsConfigDict(
        frozen=True, extra="forbid", env_prefix=ENV_PREFIX, env_nested_delimiter="__", case_sensitive=False
    )

    database_url: str = ""
    data_dir: Path = Path("data")
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    base_url: str = "http://127.0.0.1:8080"
    secret_key: str = ""
    embedded_workers: bool = True
    trust_forwarded_for: bool = False  # behind a proxy: the client address is the last X-Forwarded-For entry
    limits: Limits = Limits()
    federation: FederationSettings = FederationSettings()
    database: DatabaseSettings = DatabaseSettings()
    jobs: JobSettings = JobSettings()
    mail: MailSettings = MailSettings()
    accounts: AccountSettings = AccountSettings()

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an absolute http(s) URL such as https://tokens.example")
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must not have a path, query or fragment")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme not in ("sqlite", "postgres", "postgresql", "asyncpg"):
            raise ValueError("must start with sqlite://, postgres:// or postgresql://")
        return value

    @property
    def domain(self) -> str:
        """Host (and port if not default) of the public URL: the domain in actor ids."""
        return urlsplit(self.base_url).netloc

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite://{(self.data_dir / 'tallystick.sqlite3').resolve()}"

    @property
    def is_sqlite(self) -> bool:
        return self.resolved_database_url.startswith("sqlite")


class _Environment(EnvSettingsSource):
    """TALLYSTICK_* variables of the given mapping (os.environ unless a caller passes its own)."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {name.lower(): value for name, value in self._environ.items()}  # names match in any case

    def __call__(self) -> dict[str, Any]:
        values = super().__call__()
        # A variable naming no setting is refused (a typo must not be ignored quietly): it is
        # passed on as written, so that validation reports it by name. The source itself drops
        # unknown top-level names and paths that go on past a setting (TALLYSTICK_PORT__X).
        for name, value in self._environ.items():
            if name.startswith(ENV_PREFIX) and name != CONFIG_VARIABLE and len(name) > len(ENV_PREFIX):
                path = name[len(ENV_PREFIX) :].lower().split("__")
                if not _names_a_setting(self.settings_cls, path):
                    target = values
                    for part in path[:-1]:
                        inner = target.get(part)
                        if not isinstance(inner, dict):
                            inner = target[part] = {}
                        target = inner
                    target[path[-1]] = value
        return values


def _names_a_setting(model: type[BaseModel], path: list[str]) -> bool:
    """Whether a variable's path (lower case, split at `__`) names a setting or a section, or a
    key inside a section that validation then judges (pydantic-settings passes those on)."""
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    section = field.annotation
    if len(path) == 1:
        return True
    if isinstance(section, type) and issubclass(section, BaseModel):
        return path[1] not in section.model_fields or _names_a_setting(section, path[1:])
    return False


def _check_file(path: Path) -> None:
    """pydantic-settings skips a missing file and lets a parse error escape: say which file."""
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"settings file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"settings file {path} is not valid TOML: {error}") from None


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        env = ENV_PREFIX + "__".join(str(part) for part in item["loc"]).upper()
        given = item.get("input")
        shown = "" if isinstance(given, dict) else f" (got {given!r})"
        lines.append(f"setting {key} / {env}: {item['msg']}{shown}")
    return "invalid settings:\n  " + "\n  ".join(lines)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read and check all settings; raise SettingsError with a readable message.

    Keyword overrides (tests, tools) win over the environment, which wins over the file named
    by TALLYSTICK_CONFIG, which wins over config/default.toml, which wins over the defaults.
    """
    environ = dict(os.environ if environ is None else environ)
    files = [DEFAULT_FILE]
    if environ.get(CONFIG_VARIABLE):
        files.append(Path(environ[CONFIG_VARIABLE]))
    for path in files:
        _check_file(path)
    sources: tuple[PydanticBaseSettingsSource, ...] = (
        InitSettingsSource(Settings, overrides),
        _Environment(Settings, environ),
        TomlConfigSettingsSource(Settings, toml_file=files, deep_merge=True),  # later files win
    )
    try:
        settings = Settings(_build_sources=(sources, overrides))
    except ValidationError as error:
        raise SettingsError(_describe(error)) from None
    except SourceError as error:  # a section given as one variable that is not a JSON object
        named = re.search(r'field "(\w+)"', str(error))
        key = named.group(1) if named else "?"
        raise SettingsError(
            f"invalid settings:\n  setting {key} / {ENV_PREFIX}{key.upper()}: must be a JSON object, or set "
            f"its keys one by one ({ENV_PREFIX}{key.upper()}__<KEY>) (got {environ.get(ENV_PREFIX + key.upper())!r})"
        ) from None
    if not settings.secret_key:
        settings = settings.model_copy(update={"secret_key": _stored_secret(settings.data_dir)})
    return settings


def _stored_secret(data_dir: Path) -> str:
    """A per-instance secret kept in the data dir, so restarts keep sessions valid."""
    path = data_dir / "secret_key"
    try:
        if path.exists():
            return path.read_text().strip()
        data_dir.mkdir(parents=True, exist_ok=True)
        secret = secrets.token_urlsafe(48)
        path.write_text(secret)
        path.chmod(0o600)
    except OSError as error:
        raise SettingsError(f"data dir {data_dir} / TALLYSTICK_DATA_DIR cannot be used: {error.strerror}") from None
    return secret
