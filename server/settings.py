"""Settings: config/default.toml, then $TALLYSTICK_CONFIG, then TALLYSTICK_* variables.

Checked once at start-up by pydantic (errors name the key and the bad value), then frozen.
"""

from __future__ import annotations

import os
import secrets
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["Settings", "SettingsError", "load_settings"]

DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "default.toml"
ENV_PREFIX = "TALLYSTICK_"


class SettingsError(Exception):
    """A setting is missing or has a value we cannot use."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Limits(_Frozen):
    # Slow clients: seconds to send a complete request head (from connecting, or from the
    # previous answer on a kept-alive connection; also how long an idle connection is kept),
    # and to send the body once the head is in (408 and the connection closes).
    header_timeout: float = Field(10, gt=0, le=3600)
    body_timeout: float = Field(30, gt=0, le=3600)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    max_media_bytes: int = Field(5_242_880, ge=1024)
    max_string_length: int = Field(10_000, ge=64)
    max_attributes: int = Field(64, ge=1, le=1000)
    default_page_size: int = Field(20, ge=1, le=1000)  # lists without page_size (models/paging.py)
    max_page_size: int = Field(50, ge=1, le=1000)  # larger page_size values are refused (400)
    max_set_search_tokens: int = Field(10_000, ge=1)
    anonymous_requests_per_minute: int = Field(60, ge=1)  # per client address, on verification routes
    signed_requests_per_minute: int = Field(600, ge=1)  # per server (domain) that signs its verification requests
    # Failed sign-ins (API login, sign-in page, account deletion): after this many for one account
    # or from one address within the window, a lock-out that doubles with each further failure.
    login_failures_per_account: int = Field(5, ge=1, le=1000)
    login_failures_per_address: int = Field(20, ge=1, le=100_000)
    login_failure_window_seconds: float = Field(900, gt=0)
    login_lockout_seconds: float = Field(30, gt=0)
    login_lockout_max_seconds: float = Field(3600, gt=0)

    @model_validator(mode="after")
    def _default_page_fits(self) -> Limits:
        if self.default_page_size > self.max_page_size:
            raise ValueError(f"default_page_size ({self.default_page_size}) is larger than max_page_size ({self.max_page_size})")
        return self


class FederationSettings(_Frozen):
    allow_private_addresses: bool = False
    fetch_timeout_seconds: float = Field(10, gt=0, le=300)
    fetch_max_bytes: int = Field(1_048_576, ge=1024)
    inbox_max_bytes: int = Field(262_144, ge=1024)  # larger inbox POSTs are refused with 413
    actor_cache_seconds: float = Field(86_400, ge=0)  # how long a fetched remote actor is trusted
    delivery_max_attempts: int = Field(16, ge=1, le=100)  # about 2-3 days with the backoff
    delivery_per_host: int = Field(4, ge=1, le=100)  # concurrent POSTs to one host
    unavailable_after_days: int = Field(7, ge=1, le=365)  # distinct failing days before a domain is skipped
    # Finished inbox activities and deliveries are pruned after these many days (system.federation.prune).
    # At least one day: longer than the signature date window, so a pruned activity cannot be replayed.
    inbox_retention_days: int = Field(30, ge=1, le=3650)
    delivery_retention_days: int = Field(14, ge=1, le=3650)


class DatabaseSettings(_Frozen):
    max_connections: int = Field(10, ge=1, le=500)
    # SQLite's PRAGMA synchronous (https://www.sqlite.org/pragma.html#pragma_synchronous). "full"
    # fsyncs every commit: an acknowledged give survives a power cut. With WAL, "normal" syncs
    # only at checkpoints: nothing is lost when the process dies, but an OS crash or power cut
    # may roll back the last commits. See README "Configuration".
    sqlite_synchronous: Literal["normal", "full", "extra"] = "full"


class JobSettings(_Frozen):
    """Workers and leases. A lease is renewed every third of its length while a job runs."""

    workers: int = Field(2, ge=0, le=64)  # worker tasks per process (serve or worker)
    lease_seconds: float = Field(30, gt=0, le=3600)
    poll_interval_seconds: float = Field(1, gt=0, le=300)
    max_attempts: int = Field(3, ge=1, le=100)
    max_wait_seconds: float = Field(30, ge=0, le=300)  # cap on a tester's Prefer: wait=N
    stuck_after_seconds: float = Field(3600, gt=0)  # admins see jobs running longer than this as stuck
    retention_days: float = Field(30, gt=0)  # finished jobs are purged after this
    scheduler: bool = True  # enqueue periodic work (server/scheduler.py) in processes that run workers
    sweep_seconds: float = Field(15, gt=0)  # stuck-job sweep (expired leases)
    purge_seconds: float = Field(3600, gt=0)


class Settings(_Frozen):
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


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise SettingsError(f"settings file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise SettingsError(f"settings file {path} is not valid TOML: {error}") from None


def _from_environment(environ: dict[str, str]) -> dict[str, Any]:
    """TALLYSTICK_PORT=1 -> {"port": "1"}; TALLYSTICK_LIMITS__MAX_BODY_BYTES -> nested."""
    values: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_PREFIX + "CONFIG":
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        target = values
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return values


def _describe(error: ValidationError, source: dict[str, Any]) -> str:
    lines = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        env = ENV_PREFIX + "__".join(str(part) for part in item["loc"]).upper()
        given = item.get("input")
        shown = "" if isinstance(given, dict) else f" (got {given!r})"
        lines.append(f"setting {key} / {env}: {item['msg']}{shown}")
    return "invalid settings:\n  " + "\n  ".join(lines)


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Read and check all settings; raise SettingsError with a readable message."""
    environ = dict(os.environ if environ is None else environ)
    data = _read_toml(DEFAULT_FILE)
    if environ.get(ENV_PREFIX + "CONFIG"):
        data = _merge(data, _read_toml(Path(environ[ENV_PREFIX + "CONFIG"])))
    data = _merge(data, _from_environment(environ))
    data = _merge(data, overrides)
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        raise SettingsError(_describe(error, data)) from None
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
