"""The pictures pages draw from what operations answer (issue 23): a type's supply gauge, a
wallet's balance over time and a trace as a graph. The drawing is server/svg.py's; here the
operations' results become its numbers and words, and each picture gets the same figures in a
sentence for its caption (a page also lists them in a table or a list beside it).
"""

from __future__ import annotations

from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from markupsafe import Markup

from models.context import Context
from models.registry import REGISTRY

from ..svg import Edge, Node, Step, dag, plain_number, step_chart, supply_gauge
from .base import page_size
from .wording import exact_time, moment_of

__all__ = ["BALANCE_CHARTS", "BALANCE_DAYS", "BALANCE_ENTRIES", "TRACE_DEPTH", "balance_charts", "supply_picture", "trace_picture"]

BALANCE_CHARTS = 4  # types drawn on the wallet, the first in the balances table
BALANCE_ENTRIES = 50  # a chart's last entries ...
BALANCE_DAYS = 90  # ... within this many days
TRACE_DEPTH = 8  # generations of ancestors drawn above the traced entry
TRACE_NODES = 30


def supply_picture(token_type: dict[str, Any]) -> dict[str, str] | None:
    """The gauge and its sentence for a fungible type (a unique type's tokens are listed instead)."""
    if not token_type.get("fungible"):
        return None
    minted = Decimal(token_type["minted"])
    limit = Decimal(token_type["supply_limit"]) if token_type.get("supply_limit") is not None else None
    symbol = token_type["symbol"]
    if limit is None:
        words = f"{plain_number(minted)} {symbol} minted so far; this type has no supply limit."
    else:
        left = max(limit - minted, Decimal(0))
        words = f"{plain_number(minted)} of at most {plain_number(limit)} {symbol} minted; {plain_number(left)} left to mint."
    return {"svg": Markup(supply_gauge(minted, limit, name=token_type["name"], unit=symbol)), "words": words}


def _change(entry: dict[str, Any], me: str) -> Decimal:
    """What an entry did to `me`'s balance: what it brought in, less what it took out."""
    amount = Decimal(entry["amount"])
    change = amount if entry.get("recipient") == me else Decimal(0)
    if entry["author"] == me and entry["kind"] in ("give", "burn"):
        change -= amount
    return change


async def balance_charts(ctx: Context, balances: list[dict[str, Any]], names: dict[str, str]) -> list[dict[str, Any]]:
    """A step chart of the balance per local type (the first few): the latest entries of the
    last days, walked back from today's balance, so the line ends where the table says."""
    actor = ctx.require_actor()
    me = actor.handle(ctx.site.domain)
    now = datetime.now(UTC)
    since = now - timedelta(days=BALANCE_DAYS)
    charts = []
    for balance in [item for item in balances if not item.get("origin")][:BALANCE_CHARTS]:
        listed = await REGISTRY.call(
            ctx, "ledger.list",
            {"owner": actor.username, "type": balance["type"], "page_size": page_size(ctx, BALANCE_ENTRIES), "sort": "-created_at"},
        )
        recent = [entry for entry in listed.items if (moment_of(entry["created_at"]) or now) >= since]
        level = Decimal(balance["balance"])
        steps = []
        for entry in recent:  # newest first: the level after this entry, then before it
            when = moment_of(entry["created_at"]) or now
            steps.append(Step(when, level, f"{exact_time(when)}: {entry['kind']} of {entry['amount']}, "
                                           f"balance {plain_number(level)} {balance['symbol']}"))
            level -= _change(entry, me)
        steps.reverse()
        name = names.get(balance["type"], balance["symbol"])
        values = [step.value for step in steps] or [level]
        words = (f"{name}: {plain_number(Decimal(balance['balance']))} {balance['symbol']} now; "
                 f"{len(steps)} change(s) in the last {BALANCE_DAYS} days, lowest {plain_number(min(values))}, "
                 f"highest {plain_number(max(values))}.")
        svg = step_chart(
            steps, start=level, end=now, title=f"Balance of {name} over time", description=words,
            caption=f"Balance ({balance['symbol']})", chart_id=f"balance-{balance['type']}",
            empty_text=f"No changes in the last {BALANCE_DAYS} days",
        )
        charts.append({"type": balance["type"], "name": name, "svg": Markup(svg), "words": words})
    return charts


def _nearest(entry_id: str, edges: list[dict[str, Any]]) -> list[str]:
    """The traced entry and its ancestors up to TRACE_DEPTH generations (at most TRACE_NODES), nearest first."""
    sources: dict[str, list[str]] = {}
    for edge in edges:
        sources.setdefault(edge["entry"], []).append(edge["source"])
    seen = {entry_id: 0}
    queue = deque([entry_id])
    while queue and len(seen) < TRACE_NODES:
        current = queue.popleft()
        if seen[current] >= TRACE_DEPTH:
            continue
        for source in sources.get(current, []):
            if source not in seen and len(seen) < TRACE_NODES:
                seen[source] = seen[current] + 1
                queue.append(source)
    return list(seen)


def trace_picture(traced: dict[str, Any], symbol: str, local_domain: str) -> dict[str, Any]:
    """The trace as a graph: the creates on top, the traced entry at the bottom, an amount on
    each arrow into an entry that has several sources (with one, the arrow carries it all).
    People of this server are named without its domain, so a narrow box keeps the name."""
    entry = traced["operation"]

    def who(handle: str | None) -> str:
        return (handle or "").removesuffix(f"@{local_domain}")

    views = {view["id"]: view for view in [entry, *traced["ancestors"]]}
    drawn = [node_id for node_id in _nearest(entry["id"], traced["edges"]) if node_id in views]
    shown = set(drawn)
    counts: dict[str, int] = {}
    for edge in traced["edges"]:
        counts[edge["entry"]] = counts.get(edge["entry"], 0) + 1
    nodes = [
        Node(
            view["id"],
            f"{view['amount']} {symbol}",  # the amount first: a narrow box still shows it
            f"{view['kind']} by {who(view['author'])}"
            + (f" \u2192 {who(view['recipient'])}" if view["kind"] == "give" and view.get("recipient") else ""),
            current=view["id"] == entry["id"],
        )
        for view in sorted((views[node_id] for node_id in drawn), key=lambda view: view["id"])
    ]
    edges = [
        Edge(edge["source"], edge["entry"], f"{edge['amount']}" if counts[edge["entry"]] > 1 else "")
        for edge in traced["edges"]
        if edge["source"] in shown and edge["entry"] in shown
    ]
    creates = sum(view["kind"] == "create" for view in views.values())
    words = (f"{len(nodes)} operation(s) drawn, {len(edges)} link(s); {creates} create(s) among the ancestors. "
             "The list below names every step.")
    svg = dag(nodes, edges, title=f"Trace of this {entry['kind']} of {entry['amount']} {symbol}", description=words,
              chart_id=f"trace-{entry['id']}")
    return {"svg": Markup(svg), "words": words, "cut": len(shown) < len(views), "drawn": len(nodes)}
