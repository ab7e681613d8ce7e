"""Verification queries, answered and signed by the origin (`POST|GET /api/v1/verify`).

models/verify_answers.py works out the answer; here it is signed with the instance actor's
Ed25519 key as an Object Integrity Proof (federation/proofs.py), so whoever holds the answer
can show it to a third party, who checks it against our instance actor's `assertionMethod`
without asking us again.
"""

from __future__ import annotations

from typing import Any

from models.context import Context
from models.registry import REGISTRY, Access
from models.verify_answers import VerifyInput, assess

from . import documents
from .actors import actor_keys, instance_actor
from .keys import load_private_key
from .memo import LoopMemo
from .outputs import VerifyAnswerDocument
from .proofs import DATA_INTEGRITY_CONTEXT, sign_object

__all__ = ["ANSWER_TYPE", "verify_token"]

ANSWER_TYPE = "VerificationAnswer"


# The instance's Ed25519 key, read and parsed once a minute instead of on every answer.
_SIGNER = LoopMemo(ttl=60)


async def sign_as_instance(ctx: Context, document: dict[str, Any]) -> dict[str, Any]:
    """The document with a proof by the instance actor (its `#ed25519-key`)."""
    method = f"{documents.instance_actor_url(ctx.site.base_url)}#ed25519-key"
    private = _SIGNER.get(method)
    if private is None:
        keys = await actor_keys(await instance_actor())
        private = load_private_key(keys.ed25519_private_pem)
        _SIGNER.put(method, private)
    return sign_object(document, private, method)


@REGISTRY.operation("verify.token", VerifyInput, output=VerifyAnswerDocument, access=Access.PUBLIC)
async def verify_token(ctx: Context, params: VerifyInput) -> dict[str, Any]:
    """Check a copy of one of our tokens, or an attribute's range or pattern, without revealing values."""
    answer = await assess(ctx, params)
    token_id = answer.get("token_id")
    document = {
        "@context": [documents.AS_CONTEXT, DATA_INTEGRITY_CONTEXT],
        "type": ANSWER_TYPE,
        "origin": ctx.site.base_url,
        "token": documents.object_url(ctx.site.base_url, "token", token_id) if token_id else None,
        **answer,
    }
    if ctx.extra.get("signed_by"):
        document["askedBy"] = ctx.extra["signed_by"]  # the server that signed the question
    return await sign_as_instance(ctx, document)
