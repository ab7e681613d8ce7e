"""Field errors in plain words on every page form (server/pages/wording.py, via base.form_errors),
and an edit that lost a race explained, with the other person's version shown (issue 23)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field, ValidationError

from models.errors import Conflict
from models.registry import validation_problem
from server.pages.base import CONFLICT, form_errors

from .conftest import Api
from .pagehelpers import Browser
from .test_pages import make_type


class _Form(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    symbol: str = Field(min_length=2, max_length=12)
    count: int = Field(ge=1, le=5)
    price: int = Field(gt=0)
    kind: Literal["open", "closed"]
    to: str
    tags: list[str] = Field(min_length=1, max_length=2)


def _messages(data: dict[str, object]) -> dict[str, str]:
    try:
        _Form.model_validate(data)
    except ValidationError as error:
        return form_errors(validation_problem(error)).fields
    raise AssertionError("the form was valid")


def test_wording__pydantic_messages_become_plain_words() -> None:
    said = _messages({"name": "", "symbol": "X", "count": "many", "price": 0, "kind": "ajar", "tags": []})
    assert said == {
        "name": "Enter a name.",
        "symbol": "Symbol is too short: at least 2 characters.",
        "count": "Count must be a whole number.",
        "price": "Price must be more than 0.",
        "kind": "Kind must be 'open' or 'closed'.",
        "to": "Enter who receives it.",
        "tags": "Tags needs at least one entry.",
    }
    said = _messages({"name": "n" * 101, "symbol": "GEM", "count": 9, "price": 1, "kind": "open", "to": "bo", "tags": ["a"] * 3})
    assert said == {"name": "Name is too long: at most 100 characters.", "count": "Count must be at most 5.",
                    "tags": "Tags has too many entries: at most 2."}


def test_wording__the_domains_own_words_stay_and_a_conflict_is_explained() -> None:
    refused = form_errors(Conflict("the amount is more than your balance", code="insufficient", extra={"field": "amount"}))
    assert refused.fields == {"amount": "the amount is more than your balance"}
    raced = form_errors(Conflict("If-Match names version 2 but the token type is at version 3", code="version-mismatch"))
    assert raced.general == CONFLICT and "If-Match" not in raced.general


async def test_wording__signup_and_type_forms_say_what_to_fix(api: Api) -> None:
    browser = Browser(api.client)
    empty = await browser.submit("/signup", "/signup", {"username": "", "email": "a@example.org", "password": "correct horse"},
                                 expect=400)
    assert empty.field_error("username") == "Enter a username."
    await browser.sign_up("ann")
    long = await browser.submit("/app/types/new", "/app/types/new", {"name": "n" * 300, "symbol": "CUP", "smallest_unit": "0"},
                                expect=400)
    assert re.fullmatch(r"Name is too long: at most \d+ characters\.", long.field_error("name") or ""), long.field_error("name")


async def test_wording__a_type_changed_meanwhile_shows_their_version(api: Api) -> None:
    browser = Browser(api.client)
    await browser.sign_up("ann")
    type_id = await make_type(browser)
    form = await browser.get(f"/app/types/{type_id}/edit", expect=200)
    token = (await api.post("/api/v1/auth/login", {"username": "ann", "password": "correct horse"}, expect=200)).body["token"]
    await api.patch(f"/api/v1/types/{type_id}", {"name": "Tea cups"}, token=token, expect=200)  # someone else's save
    mine = await browser.post(f"/app/types/{type_id}/edit", {"name": "Mugs", "symbol": "CUP", "smallest_unit": "0",
                                                               "fungible": "on", "version": "1", "rows": "0"},
                              csrf=form.csrf(), expect=409)
    assert "Someone changed this type while you were editing; here is their version." in mine
    assert 'value="Tea cups"' in mine.text and 'value="Mugs"' not in mine.text
    assert "If-Match" not in mine
    again = await browser.post(f"/app/types/{type_id}/edit", {"name": "Mugs", "symbol": "CUP", "smallest_unit": "0",
                                                                "fungible": "on", "version": "2", "rows": "0"},
                               csrf=form.csrf(), expect=200)
    assert "Token type Mugs saved." in again
