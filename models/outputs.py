"""Output models shared by several operations: what an operation answers, for OpenAPI.

An operation declares its output (`REGISTRY.operation(..., output=TokenOut)`); the server
builds the response schemas from these models. The views still build plain dicts; a model
documents the dict's shape, and the schemathesis run (tests/test_openapi_fuzz.py) checks
every answer against it. Timestamps are ISO 8601 strings, amounts decimal strings.
"""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ActorOut", "CallbackOut", "CopyOut", "Document", "FollowOut", "ImportOut", "ImportedSetOut", "JobOut", "Output",
    "Paged", "Timestamp", "UserOut",
]

ItemT = TypeVar("ItemT")

# An ISO 8601 date and time, or null where the moment has not happened.
Timestamp = str | None


class Output(BaseModel):
    """Base for output models: a view may carry more fields than the model names."""

    model_config = ConfigDict(extra="allow")


class Document(Output):
    """A JSON(-LD) document whose shape a standard defines (ActivityPub, WebFinger, NodeInfo)."""


class Paged(Output, Generic[ItemT]):
    """A page of a list: page/page_size with next and previous links, or a keyset cursor."""

    items: list[ItemT]
    page_size: int
    sort: str
    page: int | None = Field(None, description="absent when paging by cursor")
    next: str | None = Field(description="the link to the next page, null on the last")
    previous: str | None = Field(description="the link to the previous page (page paging only)")
    next_cursor: str | None = Field(description="pass as cursor= for the next page")

    @classmethod
    def model_parametrized_name(cls, params: tuple[Any, ...]) -> str:
        """`Paged[TokenOut]` is the OpenAPI component TokenOutPage (names allow no brackets)."""
        return f"{getattr(params[0], '__name__', 'Item')}Page"


class ActorOut(Output):
    """An actor, local or remote (models/views.py actor_view)."""

    id: str
    username: str
    handle: str
    display_name: str | None
    local: bool


class UserOut(Output):
    """A user account (models/views.py user_view); email only in the user's own view."""

    id: str
    username: str
    actor_id: str
    roles: list[str]
    status: str
    created_at: Timestamp
    updated_at: Timestamp
    email: str | None = None
    email_verified: bool | None = Field(None, description="whether a link mailed to the address was opened (own view only)")


class CallbackOut(Output):
    """Where a job's record is POSTed when it finishes, and how that went."""

    url: str
    state: str
    attempts: int
    last_status: int | None
    last_error: str | None
    next_attempt_at: Timestamp
    delivered_at: Timestamp


class JobOut(Output):
    """A job record (models/jobs.py job_view): what a 202 answers and /api/v1/jobs/{id} shows."""

    id: str
    url: str
    state: str
    operation: str
    input: Any
    result: Any
    error: Any
    caller: str | None
    on_behalf_of: str | None
    attempts: int
    max_attempts: int
    idempotency_key: str | None
    steps: Any
    callback: CallbackOut | None
    created_at: Timestamp
    updated_at: Timestamp
    started_at: Timestamp
    finished_at: Timestamp


class FollowOut(Output):
    """models/operations/follows.py follow_view: a follow, either way."""

    id: str
    follower: str = Field(description="handle")
    follower_uri: str
    target: str = Field(description="handle")
    target_uri: str
    object: str | None = Field(description="the followed object's URL, when an object is followed")
    state: str
    created_at: Timestamp
    updated_at: Timestamp


class CopyOut(Output):
    """models/operations/imports.py copy_views: an imported copy, as imported and as held now."""

    id: str
    import_: str = Field(alias="import")
    token: str
    origin: str
    origin_token_id: str | None
    imported_version: int
    imported_content_hash: str
    hash_checked_on_import: bool
    version: Any
    content_hash: Any
    name: Any
    attributes: Any
    withdrawn: bool
    created_at: Timestamp
    updated_at: Timestamp


class ImportedSetOut(Output):
    id: str | None
    name: str | None


class ImportOut(Output):
    """models/operations/imports.py record_view; copies only in the one-import view."""

    id: str
    export: str
    source_url: str | None
    origin: str
    set: ImportedSetOut
    exporter: str
    document_hash: str
    token_count: int
    created_at: Timestamp
    updated_at: Timestamp
    copies: list[CopyOut] | None = None
