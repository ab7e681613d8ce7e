"""Decimal attributes: a value or bound with a huge negative exponent is refused, not
written out in full ("1e-999999999" is a gigabyte of zeros)."""

from __future__ import annotations

import time

from models.tokens import Token, TokenType

from .conftest import Api, assert_problem
from .sethelpers import make_type

TINY = "1e-9999999"  # ten million places; "1e-999999999" took seconds and a gigabyte


async def test_types__a_decimal_bound_with_a_huge_exponent_is_refused(api: Api) -> None:
    alice = await api.user("alice")
    for bound in [TINY, "1e-41"]:
        body = {"name": "Gem", "symbol": "GEM", "fungible": False, "smallest_unit": 0,
                "attributes": [{"name": "price", "type": "decimal", "min": bound}]}
        started = time.monotonic()
        problem = assert_problem(await api.post("/api/v1/types", body, token=alice), 400, "validation-failed")
        assert time.monotonic() - started < 1
        assert "decimal places" in problem["errors"][0]["message"], problem
    assert await TokenType.all().count() == 0


async def test_tokens__a_decimal_value_with_a_huge_exponent_is_refused(api: Api) -> None:
    alice = await api.user("alice")
    type_id = await make_type(api, alice, attributes=[{"name": "price", "type": "decimal", "nullable": True}])
    for value in [TINY, "1e-41", "0E-50"]:
        started = time.monotonic()
        reply = await api.post("/api/v1/tokens", {"type": type_id, "attributes": {"price": value}}, token=alice)
        assert time.monotonic() - started < 1
        problem = assert_problem(reply, 400)
        assert "decimal places" in str(problem), problem
    assert await Token.all().count() == 0
    ok = await api.post("/api/v1/tokens", {"type": type_id, "attributes": {"price": "1e-40"}}, token=alice)
    assert ok.status == 201 and ok.body["attributes"]["price"] == "0." + "0" * 39 + "1", ok
