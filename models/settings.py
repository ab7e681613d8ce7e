"""The settings sections the domain reads (limits, federation, database, jobs), with their defaults.

The one place each default and bound is written: server/settings.py loads these from
config/default.toml, $TALLYSTICK_CONFIG and TALLYSTICK_* variables, and the domain's Site
(models/context.py) carries the loaded sections as they are. Frozen once built.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["AccountSettings", "DatabaseSettings", "FederationSettings", "JobSettings", "Limits", "MailSettings"]


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
    max_watchers_per_user: int = Field(20, ge=0, le=10_000)  # models/operations/watchers.py
    board_markdown_max_chars: int = Field(5000, ge=100, le=100_000)  # one board entry's text (boards_entries.py)
    board_media_per_entry: int = Field(4, ge=0, le=50)  # files attached to one board entry
    # A chat room's Server-Sent Events (/app/boards/{id}/events) look for new entries this often,
    # and one stream lasts this long; then the browser reconnects with Last-Event-ID.
    board_events_poll_seconds: float = Field(2, gt=0, le=60)
    board_events_max_seconds: float = Field(300, gt=0, le=86_400)
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
    # Backfill on follow: objects per page of an actor's /objects collection (a follower also takes
    # at most this many from one page of another server), and the most past objects one follow copies.
    backfill_page_size: int = Field(50, ge=1, le=500)
    backfill_max_objects: int = Field(10_000, ge=0, le=1_000_000)
    # A board of another server joined here: the most threads (with their replies) its history brings.
    board_backfill_max_threads: int = Field(50, ge=0, le=10_000)
    # Network discovery: the most collection pages and entries one discovery reads, and the
    # polite pace (seconds between two requests to one host).
    discovery_max_pages: int = Field(200, ge=1, le=100_000)
    discovery_max_entries: int = Field(5000, ge=1, le=1_000_000)
    discovery_host_interval_seconds: float = Field(0.5, ge=0, le=60)


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


class MailSettings(_Frozen):
    """The SMTP server mail leaves through (federation/mail.py). No host: nothing is sent, and
    admins are told so (the mail stays listed as not sent)."""

    host: str = ""
    port: int = Field(587, ge=1, le=65535)
    # "starttls": plain connection upgraded with STARTTLS (port 587); "ssl": TLS from the start
    # (port 465); "none": no encryption (a local relay only).
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str = ""
    password: str = Field("", repr=False)  # never shown in a repr or a log line
    from_address: str = ""  # the From: of every message; needed when host is set
    timeout_seconds: float = Field(30, gt=0, le=300)
    max_attempts: int = Field(10, ge=1, le=100)  # tries per message (backoff n**4 + 15 s: about 4 hours in all)

    @field_validator("from_address")
    @classmethod
    def _address(cls, value: str) -> str:
        if value and ("@" not in value or any(c in value for c in "\r\n")):
            raise ValueError("must be an email address such as tokens@example.org")
        return value

    @model_validator(mode="after")
    def _sender_named(self) -> MailSettings:
        if self.host and not self.from_address:
            raise ValueError("from_address is needed when host is set")
        return self

    @property
    def configured(self) -> bool:
        return bool(self.host)


class AccountSettings(_Frozen):
    """Emailed links (verification, password reset) and how often a reset may be asked for."""

    verify_link_seconds: int = Field(172_800, ge=60, le=30 * 86_400)  # an email verification link lives this long
    reset_link_seconds: int = Field(3600, ge=60, le=7 * 86_400)  # a password reset link lives this long
    # Reset requests per address asked for, and per client address, within the window; then 429.
    # Counted in the database, so they hold across server processes.
    reset_requests_per_address: int = Field(3, ge=1, le=1000)
    reset_requests_per_client: int = Field(10, ge=1, le=100_000)
    reset_request_window_seconds: int = Field(3600, ge=60, le=7 * 86_400)
    # Fediverse sign-ins started from one client address within the window; then 429. Each start
    # makes us ask the server typed in (WebFinger, OAuth metadata, app registration).
    fediverse_signins_per_client: int = Field(10, ge=1, le=100_000)
    fediverse_signin_window_seconds: int = Field(600, ge=60, le=7 * 86_400)
