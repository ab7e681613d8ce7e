"""Token types (create with a schema editor, view), mint/give/burn, tokens, and ledger traces."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from models.errors import DomainError, Forbidden
from models.registry import REGISTRY

from ..appkeys import CTX
from .base import CONFLICT_CODES, FormError, call, page, page_size, read_form, redirect, render, require_signed_in
from .contracts import licensing_panel
from .media import chosen_files, file_field, size_in_words, upload_files
from .pictures import supply_picture, trace_picture

__all__ = [
    "flag_entry",
    "new_type_form",
    "create_type",
    "edit_type_form",
    "update_type",
    "type_page",
    "ledger_action",
    "ledger_page",
    "create_token",
    "token_page",
    "entry_page",
]

ATTRIBUTE_KINDS = [
    "string",
    "integer",
    "decimal",
    "boolean",
    "datetime",
    "enum",
    "url",
    "markdown",
    "json",
    "token",
    "media",
]
_EDITED = ("name", "type", "min", "max", "enum", "regex", "description", "nullable")
BLANK_ROWS = 2
MAX_ROWS = 50
_ROW_FIELDS = ("name", "type", "min", "max", "enum", "regex", "description")


def _rows(form: dict[str, str]) -> list[dict[str, str]]:
    """The schema editor's rows (attr-N-name, attr-N-type, ...), blank ones dropped."""
    count = min(int(form.get("rows", "0") or 0) if form.get("rows", "").isdigit() else 0, MAX_ROWS)
    rows = []
    for index in range(count):
        row = {key: form.get(f"attr-{index}-{key}", "").strip() for key in _ROW_FIELDS}
        row["required"] = "on" if form.get(f"attr-{index}-required") else ""
        if row["name"] or row["min"] or row["max"] or row["enum"] or row["regex"]:
            rows.append(row)
    return rows


def _definition(row: dict[str, str], existing: dict[str, Any] | None = None) -> dict[str, Any]:
    """A row as an attribute definition; options the editor does not show (default, private,
    read) are kept from the existing definition of the same name."""
    definition: dict[str, Any] = {key: value for key, value in (existing or {}).items() if key not in _EDITED}
    definition |= {"name": row["name"], "type": row["type"] or "string"}
    for bound in ("min", "max"):
        if row[bound]:
            definition[bound] = row[bound]
    if row["enum"]:
        definition["enum"] = [item.strip() for item in row["enum"].split(",") if item.strip()]
    if row["regex"]:
        definition["regex"] = row["regex"]
    if row["description"]:
        definition["description"] = row["description"]
    if row["required"]:
        definition["nullable"] = False
    return definition


def _type_values(form: dict[str, str]) -> dict[str, Any]:
    return {key: form.get(key, "") for key in ("name", "symbol", "description", "smallest_unit", "supply_limit")} | {
        "fungible": "on" if form.get("fungible") else ""
    }


def _editor(
    request: web.Request,
    values: dict[str, Any],
    rows: list[dict[str, str]],
    errors: dict[str, str],
    error: str = "",
    status: int = 200,
    editing: dict[str, Any] | None = None,
) -> web.Response:
    shown = rows + [dict.fromkeys((*_ROW_FIELDS, "required"), "") for _ in range(BLANK_ROWS)]
    return render(
        request,
        "type_new.html.j2",
        status=status,
        values=values,
        rows=shown,
        kinds=ATTRIBUTE_KINDS,
        errors=errors,
        error=error,
        editing=editing,
    )


def _row_of(definition: dict[str, Any]) -> dict[str, str]:
    def text(value: Any) -> str:
        return "" if value is None else str(value)

    return {
        "name": definition["name"],
        "type": definition["type"],
        "min": text(definition.get("min")),
        "max": text(definition.get("max")),
        "enum": ", ".join(str(item) for item in definition.get("enum") or []),
        "regex": text(definition.get("regex")),
        "description": text(definition.get("description")),
        "required": "" if definition.get("nullable", True) else "on",
    }


def _names(rows: list[dict[str, str]]) -> dict[str, str]:
    return {f"attributes.{index}.{key}": f"attr-{index}-{key}" for index in range(len(rows)) for key in _ROW_FIELDS}


async def _owned_type(request: web.Request, type_id: str) -> dict[str, Any]:
    token_type: dict[str, Any] = await REGISTRY.call(request[CTX], "types.get", {"id": type_id})
    actor = request[CTX].actor
    if actor is None or token_type["owner"].get("id") != actor.id:
        raise Forbidden("only the owner of a token type can edit it", code="not-owner")
    return token_type


@page
async def edit_type_form(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    token_type = await _owned_type(request, request.match_info["id"])
    return _editor(request, *_saved_form(token_type), {}, editing=token_type)


def _saved_form(token_type: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The editor's values and attribute rows as the type is saved now."""
    values = {
        key: "" if token_type.get(key) is None else str(token_type[key])
        for key in ("name", "symbol", "description", "smallest_unit", "supply_limit")
    }
    values["fungible"] = "on" if token_type["fungible"] else ""
    return values, [_row_of(item) for item in token_type["attributes"] if item["type"] != "script"]


TYPE_CONFLICT = ("Someone changed this type while you were editing; here is their version. "
                 "Make your change again if you still want it.")


@page
async def update_type(request: web.Request) -> web.StreamResponse:
    """Save the edited type with If-Match: a change made meanwhile by someone else is a conflict, not lost."""
    require_signed_in(request)
    token_type = await _owned_type(request, request.match_info["id"])
    form = await read_form(request)
    values, rows = _type_values(form), _rows(form)
    if "more" in form:
        return _editor(request, values, rows, {}, editing=token_type)
    existing = {item["name"]: item for item in token_type["attributes"]}
    data: dict[str, Any] = {
        "id": token_type["id"],
        "name": values["name"],
        "symbol": values["symbol"],
        "description": values["description"],
        "attributes": [_definition(row, existing.get(row["name"])) for row in rows],
        "supply_limit": values["supply_limit"].strip() or None,
    }
    if bool(values["fungible"]) != token_type["fungible"]:
        data["fungible"] = bool(values["fungible"])
    unit = values["smallest_unit"].strip() or "0"
    if unit != str(token_type["smallest_unit"]):
        data["smallest_unit"] = int(unit) if unit.lstrip("-").isdigit() else unit
    request[CTX].if_match = form.get("version") or None
    try:
        updated = await call(request, "types.update", data, _names(rows))
    except FormError as error:
        if error.problem.code in CONFLICT_CODES:  # their version (read before this save) replaces the form's
            return _editor(request, *_saved_form(token_type), {}, TYPE_CONFLICT, error.status, editing=token_type)
        return _editor(request, values, rows, error.fields, error.general, error.status, editing=token_type)
    raise redirect(f"/app/types/{updated['id']}", f"Token type {updated['name']} saved.")


@page
async def new_type_form(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    return _editor(request, {"fungible": "on", "smallest_unit": "0"}, [], {})


@page
async def create_type(request: web.Request) -> web.StreamResponse:
    """Create a type, or (the "more rows" button) show the editor again with room for more attributes."""
    require_signed_in(request)
    form = await read_form(request)
    values, rows = _type_values(form), _rows(form)
    if "more" in form:
        return _editor(request, values, rows, {})
    data: dict[str, Any] = {
        "name": values["name"],
        "symbol": values["symbol"],
        "description": values["description"],
        "fungible": bool(values["fungible"]),
        "attributes": [_definition(row) for row in rows],
    }
    unit = values["smallest_unit"].strip() or "0"
    data["smallest_unit"] = int(unit) if unit.lstrip("-").isdigit() else unit
    if values["supply_limit"].strip():
        data["supply_limit"] = values["supply_limit"].strip()
    try:
        created = await call(request, "types.create", data, _names(rows))
    except FormError as error:
        return _editor(request, values, rows, error.fields, error.general, error.status)
    raise redirect(f"/app/types/{created['id']}", f"Token type {created['name']} created.")


async def _type_page(
    request: web.Request,
    type_id: str,
    *,
    errors: dict[str, dict[str, str]] | None = None,
    values: dict[str, dict[str, str]] | None = None,
    status: int = 200,
) -> web.Response:
    ctx = request[CTX]
    token_type = await REGISTRY.call(ctx, "types.get", {"id": type_id})
    balance = None
    entries: list[dict[str, Any]] = []
    tokens: list[dict[str, Any]] = []
    if ctx.user is not None:
        balance = await REGISTRY.call(ctx, "ledger.balance", {"type": type_id})
        entries = (
            await REGISTRY.call(ctx, "ledger.list", {"type": type_id, "owner": ctx.user.username, "page_size": page_size(ctx, 10)})
        ).items
        tokens = (await REGISTRY.call(ctx, "tokens.list", {"type": type_id, "page_size": page_size(ctx, 20)})).items
    is_owner = ctx.actor is not None and token_type["owner"].get("id") == ctx.actor.id
    reviews = await REGISTRY.call(ctx, "boards.reviews.summary", {"subject_kind": "type", "subject_id": type_id})
    return render(
        request,
        "type.html.j2",
        status=status,
        reviews=reviews,
        type=token_type,
        balance=balance,
        entries=entries,
        tokens=tokens,
        is_owner=is_owner,
        names={token_type["id"]: token_type["name"]},
        licensing=await licensing_panel(request, token_type),
        supply=supply_picture(token_type),
        errors=errors or {},
        values=values or {},
        media=file_field(ctx),
    )


@page
async def type_page(request: web.Request) -> web.StreamResponse:
    return await _type_page(request, request.match_info["id"])


_LEDGER_FIELDS = {
    "mint": ("ledger.create", ("amount", "description")),
    "give": ("ledger.give", ("amount", "to", "token", "description", "from_operation", "all")),
    "burn": ("ledger.burn", ("amount", "description", "from_operation", "all")),
}


_FIELD_OF_CODE = {
    "actor-not-found": "to",
    "self-give": "to",
    "insufficient": "amount",
    "source-not-found": "from_operation",
    "source-type-mismatch": "from_operation",
    "concurrent-spend": "amount",
    "supply-limit-exceeded": "amount",
    "token-required": "token",
}


@page
async def ledger_action(request: web.Request) -> web.StreamResponse:
    """Mint, give or burn from the type page; on refusal the page shows why beside the field."""
    require_signed_in(request)
    action, type_id = request.match_info["action"], request.match_info["id"]
    operation, names = _LEDGER_FIELDS[action]
    form = await read_form(request)
    data: dict[str, Any] = {"type": type_id}
    data.update({key: form[key].strip() for key in names if form.get(key, "").strip()})
    if "all" in data:  # a checkbox: present when ticked
        data["all"] = True
    try:
        entry = await call(request, operation, data)
    except FormError as error:
        fields = dict(error.fields)
        if "body" in fields:  # the input as a whole (e.g. neither an amount nor All of it): atop the form
            fields["_form"] = fields.pop("body")
        # Problems without field errors that still concern one field: say so beside it.
        field = _FIELD_OF_CODE.get(error.problem.code)
        if field and field not in fields:
            fields[field] = error.problem.detail
        errors = {action: fields or {"_form": error.general}}
        return await _type_page(request, type_id, errors=errors, values={action: form}, status=error.status)
    done = {"mint": "Minted", "give": "Gave", "burn": "Burnt"}[action]
    raise redirect(f"/app/entries/{entry['id']}", f"{done} {entry['amount']}.")


def _attribute_value(kind: str, text: str) -> Any:
    """Form text as the JSON value the attribute's kind expects (the operation validates it)."""
    if kind == "integer" and text.lstrip("-").isdigit():
        return int(text)
    if kind == "boolean":
        return text.lower() in ("on", "true", "yes", "1")
    if kind == "json":
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            return text
    return text


@page
async def create_token(request: web.Request) -> web.StreamResponse:
    require_signed_in(request)
    type_id = request.match_info["id"]
    token_type = await REGISTRY.call(request[CTX], "types.get", {"id": type_id})
    form = await read_form(request)
    files = chosen_files(await request.post(), token_type["attributes"])
    attributes = {
        definition["name"]: _attribute_value(definition["type"], form[f"a-{definition['name']}"].strip())
        for definition in token_type["attributes"]
        if definition["type"] != "media"  # files: uploaded once the token exists
        and (form.get(f"a-{definition['name']}", "").strip()
             or (definition["type"] == "boolean" and f"a-{definition['name']}" in form))
    }
    names = {f"attributes.{name}": f"a-{name}" for name in attributes} | {name: f"a-{name}" for name in attributes}
    try:
        token = await call(request, "tokens.create", {"type": type_id, "attributes": attributes}, names)
    except FormError as error:
        return await _type_page(
            request,
            type_id,
            errors={"token": error.fields | {"_form": error.general}},
            values={"token": form},
            status=error.status,
        )
    problems, status = await upload_files(request, token["id"], files)
    if problems:  # the token exists now: its edit page says which file was refused, beside its field
        from .tokens_manage import edit_page_for  # tokens_manage builds on this module

        general = "The token is created, but a file was not taken. Choose another one below."
        return await edit_page_for(request, token["id"], errors=problems, error=general, status=status)
    raise redirect(f"/app/tokens/{token['id']}", "Token created.")


@page
async def token_page(request: web.Request) -> web.StreamResponse:
    """A token: attributes (markdown rendered safely), owner, and its chain of parent tokens."""
    ctx = request[CTX]
    token = await REGISTRY.call(ctx, "tokens.get", {"id": request.match_info["id"]})
    token_type = await REGISTRY.call(ctx, "types.get", {"id": token["type"]})
    kinds = {definition["name"]: definition["type"] for definition in token_type["attributes"]}
    chain = [token]
    while chain[-1].get("parent") and len(chain) < 20:
        try:
            chain.append(await REGISTRY.call(ctx, "tokens.get", {"id": chain[-1]["parent"]}))
        except DomainError:  # a parent the caller may not see ends the chain
            break
    disclosures: list[dict[str, Any]] = []
    if ctx.actor is not None and token["owner"].get("id") == ctx.actor.id and token.get("commitments"):
        disclosures = (await REGISTRY.call(ctx, "tokens.disclosures", {"id": token["id"]}))["disclosures"]
    reviews = await REGISTRY.call(ctx, "boards.reviews.summary", {"subject_kind": "token", "subject_id": token["id"]})
    return render(
        request, "token.html.j2", token=token, type=token_type, kinds=kinds, chain=list(reversed(chain)),
        size_in_words=size_in_words,
        disclosures=disclosures,
        reviews=reviews,
    )


DESCENDANTS_SHOWN = 200  # source links walked for an entry page's "where these units went"


@page
async def entry_page(request: web.Request) -> web.StreamResponse:
    """A ledger operation and its provenance: every ancestor back to the creates, as a chain."""
    return await _entry_page(request)


async def _entry_page(
    request: web.Request, *, flag_error: FormError | None = None, flag_value: str = "", status: int = 200
) -> web.Response:
    ctx = request[CTX]
    traced = await REGISTRY.call(ctx, "ledger.trace", {"id": request.match_info["id"]})
    entry = traced["operation"]
    token_type = await REGISTRY.call(ctx, "types.get", {"id": entry["type"]})
    chain = sorted(traced["ancestors"], key=lambda item: item["id"]) + [entry]
    went = await REGISTRY.call(ctx, "ledger.descendants", {"id": entry["id"], "limit": DESCENDANTS_SHOWN})
    return render(
        request,
        "entry.html.j2",
        entry=entry,
        chain=chain,
        type=token_type,
        edges=traced["edges"],
        picture=trace_picture(traced, token_type["symbol"], ctx.site.domain),
        truncated=traced["truncated"],
        descendants=went["descendants"],
        descendants_truncated=went["truncated"],
        held=ctx.actor is not None and entry["status"] == "unspent" and entry["recipient"] == ctx.actor.handle(ctx.site.domain),
        me_handle=ctx.actor.handle(ctx.site.domain) if ctx.actor is not None else "",
        flag_error=flag_error, flag_value=flag_value, status=status,
    )


@page
async def flag_entry(request: web.Request) -> web.StreamResponse:
    """Label an operation (`remove` in the form: take your label, or as a moderator anyone's, off)."""
    require_signed_in(request)
    form = await read_form(request)
    label = form.get("flag", "").strip()
    removing = form.get("remove") == "1"
    try:
        operation = "ledger.unflag" if removing else "ledger.flag"
        await call(request, operation, {"id": request.match_info["id"], "flag": label})
    except FormError as error:
        return await _entry_page(request, flag_error=error, flag_value=label, status=error.status)
    said = f"Flag {label} removed." if removing else f"Flagged {label}."
    raise redirect(f"/app/entries/{request.match_info['id']}", said)


LEDGER_PAGE_SIZE = 20
_LEDGER_QUERY = ("owners", "type", "status")


@page
async def ledger_page(request: web.Request) -> web.StreamResponse:
    """Ledger operations of one or several owners (handles separated by commas), by type and
    status, with each owner's balance: ledger.list and ledger.balance with `owners`."""
    ctx = request[CTX]
    values = {key: request.query.get(key, "").strip() for key in _LEDGER_QUERY}
    owners = values["owners"] or (ctx.user.username if ctx.user is not None else "")
    shown: dict[str, Any] = {"entries": [], "balances": [], "next": None, "names": {}}
    errors: dict[str, str] = {}
    status = 200
    if owners:
        query: dict[str, Any] = {"owners": owners}
        if values["type"]:
            query["type"] = values["type"]
        if values["status"] in ("unspent", "spent"):
            query["status"] = values["status"]
        listing = {**query, "page_size": page_size(ctx, LEDGER_PAGE_SIZE), "sort": "-created_at"}
        if request.query.get("cursor"):
            listing["cursor"] = request.query["cursor"]
        try:
            listed = await call(request, "ledger.list", listing)
            balances = await call(request, "ledger.balance", {key: query[key] for key in ("owners", "type") if key in query})
        except FormError as error:
            field = "type" if error.problem.code == "type-not-found" else "owners"
            errors = {key: message for key, message in error.fields.items() if key in _LEDGER_QUERY}
            errors = errors or {field: error.problem.detail}
            status = error.status
        else:
            shown["entries"] = listed.items
            shown["balances"] = balances["owners"]
            if listed.next_cursor:
                shown["next"] = "/app/ledger?" + urlencode({**values, "owners": owners, "cursor": listed.next_cursor})
            for balance in balances["owners"]:
                for one in balance.get("balances", [balance]):
                    shown["names"].setdefault(one["type"], one["symbol"])
    return render(request, "ledger.html.j2", status=status, values={**values, "owners": owners}, errors=errors, **shown)
