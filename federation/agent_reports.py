"""Remote agents: a signed Update of one of our tokens from an actor holding a grant is its report.

The inbox normally refuses an Update of an object on another server than the actor's. When the
actor holds an agent grant from the token's owner, the Update is accepted, queued like any
activity, and processed as that agent's report (models.operations.agents.report_change), so the
checks of an API report apply: grant coverage, schema, version, approval. The object carries
only the changed `attributes`, optionally the `version` it was made against and a `content` note.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tortoise.transactions import in_transaction

from models.agents import AgentGrant
from models.context import Context, Site
from models.errors import DomainError
from models.federation import RemoteActor
from models.operations.agents import report_change

from .documents import object_url
from .remote import as_id

__all__ = ["agent_update_token", "on_agent_update"]


def _local_token_id(site: Site, activity: Mapping[str, Any]) -> str | None:
    if activity.get("type") != "Update":
        return None
    prefix = object_url(site.base_url, "token", "")
    object_id = str(as_id(activity.get("object")) or "")
    token_id = object_id.removeprefix(prefix)
    return token_id if object_id.startswith(prefix) and token_id and "/" not in token_id else None


async def agent_update_token(site: Site, activity: Mapping[str, Any], actor_uri: str) -> str | None:
    """The id of our token this Update reports on, when its (verified) actor holds any agent grant."""
    token_id = _local_token_id(site, activity)
    if token_id is None:
        return None
    return token_id if await AgentGrant.filter(agent__uri=actor_uri).exists() else None


async def on_agent_update(site: Site, activity: Mapping[str, Any], sender: RemoteActor) -> str | None:
    """Process an agent's Update as a report; None when the activity is not about our token."""
    token_id = _local_token_id(site, activity)
    if token_id is None:
        return None
    obj = activity.get("object")
    attributes = obj.get("attributes") if isinstance(obj, Mapping) else None
    if not isinstance(attributes, Mapping) or not attributes:
        return "ignored: an agent's Update must carry the changed attributes"
    version = obj.get("version") if isinstance(obj, Mapping) else None
    note = obj.get("content") if isinstance(obj, Mapping) else None
    agent = await sender.actor
    try:
        async with in_transaction():
            report = await report_change(
                Context(site=site, actor=agent),
                agent,
                token_id,
                dict(attributes),
                version if isinstance(version, int) and not isinstance(version, bool) else None,
                note[:2000] if isinstance(note, str) else "",
            )
    except DomainError as error:
        return f"ignored: agent report refused: {error.code}: {error}"[:500]
    return f"agent report {report['id']} {report['state']}"
