"""Server-rendered SVG pictures for pages that run no JavaScript (and allow no inline style).

Pure functions from numbers to markup. Every text is escaped; colours are presentation
attributes (the pages' Content-Security-Policy forbids style attributes, not these), and each
shape has a class so the stylesheet may restyle it. A picture has a viewBox sized for a 390 px
wide phone and no width or height: the stylesheet (`svg.chart`) scales it to its column.
Accessibility: role="img" with an aria-label, a <title> and a <desc>; each bar and point also
carries a <title> in words. A page still shows the same figures as a table beside it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape as _html_escape

__all__ = [
    "Bucket", "Edge", "Mark", "Node", "Segment", "Step", "dag", "escape", "nice_ceiling", "plain_number", "price_volume_chart",
    "share_rows", "stacked_bar", "step_chart", "supply_gauge", "timeline",
]

WIDTH, HEIGHT = 390, 260
_LEFT, _RIGHT, _TOP, _BOTTOM, _GAP = 52, 10, 22, 30, 26  # margins around the two panels
_PRICE_SHARE = 0.58  # of the panels' height, the price panel's part
INK, MUTED, LINE, ACCENT, BAR = "#1d2430", "#5a6472", "#d6dbe1", "#1f5fa8", "#9fb8d6"
_ID = re.compile(r"[^A-Za-z0-9_-]")


@dataclass(frozen=True)
class Bucket:
    """One slot of the x axis: its bar (volume), its point on the price line (None: no price here)."""

    label: str  # the slot's name on the axis ("14:00"); shown for a few slots only
    volume: Decimal
    price: Decimal | None
    note: str = ""  # what a bar's or point's tooltip says in words


@dataclass(frozen=True)
class Segment:
    """One part of a stacked bar: its name (the legend and its class), size and colour."""

    name: str
    value: Decimal
    colour: str


BAR_HEIGHT = 64  # a stacked bar: the bar, then its legend on one line


@dataclass(frozen=True)
class Mark:
    """One moment on a timeline: when, its short label under the axis, its kind (the mark's
    class and colour: paid, missed, due, suspended, ended ...) and what its tooltip says."""

    at: datetime
    label: str
    kind: str
    note: str = ""


TIMELINE_HEIGHT = 92  # dates above the axis, marks on it, labels on two rows under it
MARK_COLOURS = {
    "paid": "#2e7d32", "missed": "#b3261e", "due": ACCENT, "suspended": "#c77700", "ended": MUTED,
}
_AXIS_Y, _MARK_R, _EDGE = 34, 6, 16


def escape(text: str) -> str:
    """Text safe in SVG content and in quoted attributes (& < > " ' escaped)."""
    return _html_escape(str(text), quote=True)


def nice_ceiling(value: Decimal) -> Decimal:
    """The least of 1, 2, 5 (times a power of ten) that is at least `value`: an axis's top. 1 for 0."""
    if value <= 0:
        return Decimal(1)
    power = Decimal(1).scaleb(value.adjusted())
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return step * power
    raise AssertionError("unreachable: 10 * 10**adjusted() exceeds any value")


def plain_number(value: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 2.50 -> "2.5", 1E+2 -> "100"."""
    return format(value.normalize(), "f")


def _at(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _axis(top: Decimal, y0: float, height: float, caption_y: float, caption: str) -> list[str]:
    """A panel's grid lines at 0, half and the top, their labels on the left, its caption above."""
    parts = [f'<text class="caption" x="{_LEFT}" y="{_at(caption_y)}" fill="{INK}" font-weight="600">{escape(caption)}</text>']
    for share in (Decimal(0), Decimal("0.5"), Decimal(1)):
        y = y0 + height - float(share) * height
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{WIDTH - _RIGHT}" y1="{_at(y)}" y2="{_at(y)}" stroke="{LINE}" stroke-width="1"/>'
        )
        label = plain_number(top * share)
        parts.append(
            f'<text class="tick" x="{_LEFT - 4}" y="{_at(y + 3.5)}" text-anchor="end" fill="{MUTED}">{escape(label)}</text>'
        )
    return parts


def price_volume_chart(
    buckets: Sequence[Bucket],
    *,
    title: str,
    description: str,
    price_caption: str,
    volume_caption: str,
    chart_id: str = "chart",
    empty_text: str = "Nothing to show",
) -> str:
    """A price line over volume bars, sharing one x axis of `buckets` (oldest first).

    One <rect class="bar"> per bucket with a volume above 0, one <circle class="point"> per
    bucket with a price; the line joins neighbouring points and breaks where a bucket has none.
    """
    ident = _ID.sub("-", chart_id) or "chart"
    plot_width = WIDTH - _LEFT - _RIGHT
    panels = HEIGHT - _TOP - _BOTTOM - _GAP
    price_height = panels * _PRICE_SHARE
    volume_top = _TOP + price_height + _GAP
    volume_height = panels - price_height
    slot = plot_width / max(len(buckets), 1)
    prices = [bucket.price for bucket in buckets if bucket.price is not None]
    price_top = nice_ceiling(max(prices, default=Decimal(0)))
    volume_top_value = nice_ceiling(max((bucket.volume for bucket in buckets), default=Decimal(0)))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" aria-describedby="{ident}-desc" font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        *_axis(price_top, _TOP, price_height, _TOP - 8, price_caption),
        *_axis(volume_top_value, volume_top, volume_height, volume_top - 8, volume_caption),
    ]
    for index, bucket in enumerate(buckets):
        if bucket.volume <= 0:
            continue
        bar_height = max(float(bucket.volume / volume_top_value) * volume_height, 1.0)
        x = _LEFT + index * slot + slot * 0.15
        y = volume_top + volume_height - bar_height
        parts.append(
            f'<rect class="bar" x="{_at(x)}" y="{_at(y)}" width="{_at(slot * 0.7)}" height="{_at(bar_height)}" fill="{BAR}">'
            f"<title>{escape(bucket.note or plain_number(bucket.volume))}</title></rect>"
        )
    points = []
    path: list[str] = []
    previous_present = False
    for index, bucket in enumerate(buckets):
        if bucket.price is None:
            previous_present = False
            continue
        x = _LEFT + (index + 0.5) * slot
        y = _TOP + price_height - float(bucket.price / price_top) * price_height
        path.append(f"{'L' if previous_present else 'M'}{_at(x)} {_at(y)}")
        previous_present = True
        points.append(
            f'<circle class="point" cx="{_at(x)}" cy="{_at(y)}" r="3" fill="{ACCENT}">'
            f"<title>{escape(bucket.note or plain_number(bucket.price))}</title></circle>"
        )
    if path:
        parts.append(f'<path class="line" d="{" ".join(path)}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    parts.extend(points)
    parts.extend(_x_labels(buckets, slot))
    if not prices and not any(bucket.volume > 0 for bucket in buckets):
        parts.append(
            f'<text class="empty" x="{_at(_LEFT + plot_width / 2)}" y="{_at(_TOP + price_height / 2)}" '
            f'text-anchor="middle" fill="{MUTED}">{escape(empty_text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _x_labels(buckets: Sequence[Bucket], slot: float) -> list[str]:
    """The first, middle and last slots' labels under the axis (more would not fit at 390 px)."""
    if not buckets:
        return []
    last = len(buckets) - 1
    shown = sorted({0, last // 2, last}) if last else [0]
    parts = []
    for index in shown:
        anchor = "start" if index == 0 and last else "end" if index == last and last else "middle"
        x = _LEFT + index * slot if anchor == "start" else _LEFT + (index + 1) * slot if anchor == "end" else _LEFT + (index + 0.5) * slot
        parts.append(
            f'<text class="label" x="{_at(x)}" y="{HEIGHT - _BOTTOM + 16}" text-anchor="{anchor}" fill="{MUTED}">'
            f"{escape(buckets[index].label)}</text>"
        )
    return parts


def stacked_bar(segments: Sequence[Segment], *, title: str, description: str, unit: str = "") -> str:
    """One horizontal bar split into its segments (a pool's generated / reserved / free), each
    as wide as its share of the total, with a legend of names and figures under it.

    Each segment is a <rect class="segment <name>"> with a <title> in words; a segment of 0 is
    left out of the bar but stays in the legend. An empty total draws an empty outline.
    """
    total = sum((segment.value for segment in segments), Decimal(0))
    plot_width = WIDTH - 2 * _RIGHT
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bar" viewBox="0 0 {WIDTH} {BAR_HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(description)}</desc>",
        f'<rect class="outline" x="{_RIGHT}" y="6" width="{plot_width}" height="26" fill="none" stroke="{LINE}"/>',
    ]
    x = float(_RIGHT)
    for segment in segments:
        if total <= 0 or segment.value <= 0:
            continue
        width = float(segment.value / total) * plot_width
        words = f"{segment.name}: {plain_number(segment.value)}{' ' + unit if unit else ''}"
        parts.append(
            f'<rect class="segment {escape(_ID.sub("-", segment.name))}" x="{_at(x)}" y="6" width="{_at(width)}" height="26" '
            f'fill="{segment.colour}"><title>{escape(words)}</title></rect>'
        )
        x += width
    legend_x = float(_RIGHT)
    step = plot_width / max(len(segments), 1)
    for segment in segments:
        parts.append(
            f'<rect x="{_at(legend_x)}" y="44" width="10" height="10" fill="{segment.colour}"/>'
            f'<text class="legend" x="{_at(legend_x + 14)}" y="53" fill="{INK}">'
            f"{escape(segment.name)} {escape(plain_number(segment.value))}</text>"
        )
        legend_x += step
    parts.append("</svg>")
    return "".join(parts)


def timeline(marks: Sequence[Mark], *, title: str, description: str, empty_text: str = "Nothing yet") -> str:
    """A horizontal time axis with one mark per moment (a contract's payment steps), placed by
    time between the first and the last, oldest left; their dates at both ends.

    Each mark is a <circle class="mark <kind>"> with a <title> in words; a "due" mark (still to
    come) is hollow. Labels alternate between two rows so neighbours do not overwrite each other.
    """
    ordered = sorted(marks, key=lambda mark: mark.at)
    plot_width = WIDTH - 2 * _EDGE
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart timeline" viewBox="0 0 {WIDTH} {TIMELINE_HEIGHT}" '
        f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(description)}</desc>",
        f'<line class="axis" x1="{_EDGE}" x2="{WIDTH - _EDGE}" y1="{_AXIS_Y}" y2="{_AXIS_Y}" stroke="{LINE}" stroke-width="2"/>',
    ]
    if not ordered:
        parts.append(
            f'<text class="empty" x="{WIDTH // 2}" y="{_AXIS_Y + 24}" text-anchor="middle" fill="{MUTED}">{escape(empty_text)}</text></svg>'
        )
        return "".join(parts)
    first, last = ordered[0].at, ordered[-1].at
    span = (last - first).total_seconds()
    ends = ((first, "start", _EDGE), (last, "end", WIDTH - _EDGE)) if span else ((first, "middle", WIDTH // 2),)
    for end, anchor, edge in ends:
        parts.append(
            f'<text class="date" x="{edge}" y="{_AXIS_Y - 14}" text-anchor="{anchor}" fill="{MUTED}">{escape(end.strftime("%Y-%m-%d"))}</text>'
        )
    for index, mark in enumerate(ordered):
        share = (mark.at - first).total_seconds() / span if span else 0.5
        x = _EDGE + share * plot_width
        colour = MARK_COLOURS.get(mark.kind, MUTED)
        fill = "#ffffff" if mark.kind == "due" else colour
        kind = _ID.sub("-", mark.kind) or "mark"
        parts.append(
            f'<circle class="mark {kind}" cx="{_at(x)}" cy="{_AXIS_Y}" r="{_MARK_R}" fill="{fill}" stroke="{colour}" stroke-width="2">'
            f"<title>{escape(mark.note or mark.label)}</title></circle>"
        )
        anchor = "start" if x < 40 else "end" if x > WIDTH - 40 else "middle"
        y = _AXIS_Y + 24 + (index % 2) * 16
        parts.append(
            f'<text class="label" x="{_at(x)}" y="{y}" text-anchor="{anchor}" fill="{INK}">{escape(mark.label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


ROW_HEIGHT = 26  # share_rows: one row per holder
_LABEL_END, _BAR_START, _BAR_END = 104, 110, 292


def _short(text: str, limit: int = 14) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def share_rows(segments: Sequence[Segment], *, title: str, description: str, unit: str = "") -> str:
    """One row per holder (an organization's members): the name, a bar as long as its part of
    the total, and the figure with its percentage; the longest name is cut with an ellipsis
    (its full text stays in the row's <title>).

    Each bar is a <rect class="share-row"> (none for a holder of 0); an empty total draws the
    rows' names and zeros only.
    """
    total = sum((segment.value for segment in segments), Decimal(0))
    height = max(len(segments), 1) * ROW_HEIGHT + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart rows" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="12">',
        f"<title>{escape(title)}</title>",
        f"<desc>{escape(description)}</desc>",
    ]
    for index, segment in enumerate(segments):
        y = 4 + index * ROW_HEIGHT
        share = segment.value / total if total > 0 else Decimal(0)
        percent = plain_number(round(share * 100, 1))
        words = f"{segment.name}: {plain_number(segment.value)}{' ' + unit if unit else ''} ({percent}%)"
        parts.append(f"<g><title>{escape(words)}</title>")
        parts.append(
            f'<text class="label" x="{_LABEL_END}" y="{y + 16}" text-anchor="end" fill="{INK}">{escape(_short(segment.name))}</text>'
        )
        width = float(share) * (_BAR_END - _BAR_START)
        if segment.value > 0:
            parts.append(
                f'<rect class="share-row" x="{_BAR_START}" y="{y + 4}" width="{_at(max(width, 1.0))}" height="16" '
                f'fill="{segment.colour}"/>'
            )
        parts.append(
            f'<text class="figure" x="{_at(_BAR_START + width + 5)}" y="{y + 16}" fill="{MUTED}">'
            f"{escape(plain_number(segment.value))} \u00b7 {escape(percent)}%</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)


def supply_gauge(minted: Decimal, limit: Decimal | None, *, name: str, unit: str) -> str:
    """A type's supply: what was minted of its limit, as a bar of two parts (minted, still to
    mint). A type without a limit has no whole to fill: its gauge says the minted figure alone."""
    title = f"Supply of {name}"
    if limit is not None and limit > 0:
        left = max(limit - minted, Decimal(0))
        percent = plain_number(round(minted / limit * 100, 1))
        words = (f"{plain_number(minted)} {unit} minted of at most {plain_number(limit)} ({percent}%); "
                 f"{plain_number(left)} left to mint")
        return stacked_bar([Segment("minted", minted, ACCENT), Segment("left to mint", left, LINE)],
                           title=title, description=words, unit=unit)
    words = f"{plain_number(minted)} {unit} minted; no supply limit"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bar unbounded" viewBox="0 0 {WIDTH} 40" role="img" '
        f'aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="12">'
        f"<title>{escape(title)}</title><desc>{escape(words)}</desc>"
        f'<text class="legend" x="{_RIGHT}" y="25" fill="{INK}"><tspan font-weight="600">'
        f"{escape(plain_number(minted))} {escape(unit)}</tspan> minted \u00b7 no supply limit</text></svg>"
    )


@dataclass(frozen=True)
class Step:
    """One change of a level over time (a balance after a ledger entry), with its tooltip in words."""

    at: datetime
    value: Decimal
    note: str = ""


STEP_HEIGHT = 200  # step_chart: one panel, dates under it


def step_chart(
    steps: Sequence[Step],
    *,
    start: Decimal,
    end: datetime,
    title: str,
    description: str,
    caption: str,
    chart_id: str = "steps",
    empty_text: str = "Nothing yet",
) -> str:
    """A level that holds until it changes (a balance over time): flat from each step to the
    next, a jump at each step, flat again to `end`. `start` is the level before the first step.

    One <circle class="point"> per step, with a <title> in words; the x axis runs by time from
    the first step to `end`, its dates at both ends; the y axis starts at 0.
    """
    ident = _ID.sub("-", chart_id) or "steps"
    ordered = sorted(steps, key=lambda step: step.at)
    top, height = _TOP, STEP_HEIGHT - _TOP - _BOTTOM
    plot_width = WIDTH - _LEFT - _RIGHT
    highest = nice_ceiling(max([start, *(step.value for step in ordered)]))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart steps" viewBox="0 0 {WIDTH} {STEP_HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" aria-describedby="{ident}-desc" font-family="system-ui, sans-serif" font-size="12">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        *_axis(highest, top, height, top - 8, caption),
    ]
    if not ordered:
        parts.append(
            f'<text class="empty" x="{_at(_LEFT + plot_width / 2)}" y="{_at(top + height / 2)}" text-anchor="middle" '
            f'fill="{MUTED}">{escape(empty_text)}</text></svg>'
        )
        return "".join(parts)
    first = ordered[0].at
    span = max((end - first).total_seconds(), 1.0)

    def x_of(moment: datetime) -> float:
        return _LEFT + min(max((moment - first).total_seconds() / span, 0.0), 1.0) * plot_width

    def y_of(value: Decimal) -> float:
        return top + height - float(value / highest) * height

    path = [f"M{_at(x_of(first))} {_at(y_of(start))}"]
    points = []
    for step in ordered:
        x, y = x_of(step.at), y_of(step.value)
        path.append(f"H{_at(x)} V{_at(y)}")
        points.append(
            f'<circle class="point" cx="{_at(x)}" cy="{_at(y)}" r="3" fill="{ACCENT}">'
            f"<title>{escape(step.note or plain_number(step.value))}</title></circle>"
        )
    path.append(f"H{_at(x_of(end))}")
    parts.append(f'<path class="line" d="{" ".join(path)}" fill="none" stroke="{ACCENT}" stroke-width="2"/>')
    parts.extend(points)
    for moment, anchor, x in ((first, "start", _LEFT), (end, "end", WIDTH - _RIGHT)):
        parts.append(
            f'<text class="date" x="{x}" y="{STEP_HEIGHT - _BOTTOM + 16}" text-anchor="{anchor}" fill="{MUTED}">'
            f'{escape(moment.strftime("%Y-%m-%d"))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Node:
    """A box of a graph (a ledger entry of a trace): two lines of words, and whether it is the one the page is about."""

    id: str
    label: str
    detail: str = ""
    current: bool = False


@dataclass(frozen=True)
class Edge:
    """An arrow from `source` to `target`; `amount` is written on it ("" writes nothing)."""

    source: str
    target: str
    amount: str = ""


_BOX_HEIGHT, _ROW_GAP, _COLUMN_GAP, _PAD = 38, 34, 8, 6


def _layers(nodes: Sequence[Node], edges: Sequence[Edge]) -> list[list[str]]:
    """Nodes in rows: a node sits one row below its lowest source (the longest path from a node
    with no source), and within a row by the mean place of its sources so arrows cross less."""
    known = {node.id for node in nodes}
    sources: dict[str, list[str]] = {node.id: [] for node in nodes}
    for edge in edges:
        if edge.source in known and edge.target in known and edge.source != edge.target:
            sources[edge.target].append(edge.source)
    depth: dict[str, int] = {}

    def depth_of(node_id: str, seen: frozenset[str] = frozenset()) -> int:
        if node_id not in depth:
            parents = [parent for parent in sources[node_id] if parent not in seen]  # a cycle is cut, not followed
            depth[node_id] = 1 + max((depth_of(parent, seen | {node_id}) for parent in parents), default=-1)
        return depth[node_id]

    rows: list[list[str]] = []
    for node in nodes:
        level = depth_of(node.id)
        while len(rows) <= level:
            rows.append([])
        rows[level].append(node.id)
    place: dict[str, float] = {}
    for row in rows:
        def mean_place(node_id: str) -> float:
            parents = [place[parent] for parent in sources[node_id] if parent in place]
            return sum(parents) / len(parents) if parents else 0.0
        row.sort(key=mean_place)
        for index, node_id in enumerate(row):
            place[node_id] = (index + 0.5) / len(row)
    return rows


def dag(nodes: Sequence[Node], edges: Sequence[Edge], *, title: str, description: str, chart_id: str = "graph") -> str:
    """A directed graph drawn top-down (a trace: the creates on top, the traced entry at the
    bottom): one row per generation, a box per node (<g class="node">, "node current" for the
    page's own), an arrow per edge (<path class="edge">) with its amount written at its middle.

    Words longer than a box are cut with an ellipsis; each box's <title> keeps them whole.
    Edges to nodes not drawn are left out.
    """
    ident = _ID.sub("-", chart_id) or "graph"
    by_id = {node.id: node for node in nodes}
    rows = _layers(nodes, edges)
    height = max(len(rows), 1) * (_BOX_HEIGHT + _ROW_GAP) - _ROW_GAP + 2 * _PAD
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart graph" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-label="{escape(title)}" aria-describedby="{ident}-desc" font-family="system-ui, sans-serif" font-size="11">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
        f'<defs><marker id="{ident}-arrow" viewBox="0 0 8 8" refX="8" refY="4" markerWidth="7" markerHeight="7" '
        f'orient="auto"><path d="M0 0 L8 4 L0 8 z" fill="{MUTED}"/></marker></defs>',
    ]
    boxes: dict[str, tuple[float, float, float]] = {}  # id -> x, y, width
    for row_index, row in enumerate(rows):
        width = min(180.0, (WIDTH - 2 * _PAD - (len(row) - 1) * _COLUMN_GAP) / len(row))
        used = len(row) * width + (len(row) - 1) * _COLUMN_GAP
        x = (WIDTH - used) / 2
        for node_id in row:
            boxes[node_id] = (x, _PAD + row_index * (_BOX_HEIGHT + _ROW_GAP), width)
            x += width + _COLUMN_GAP
    labels = []
    for edge in edges:
        if edge.source not in boxes or edge.target not in boxes or edge.source == edge.target:
            continue
        sx, sy, sw = boxes[edge.source]
        tx, ty, tw = boxes[edge.target]
        x1, y1, x2, y2 = sx + sw / 2, sy + _BOX_HEIGHT, tx + tw / 2, ty
        middle = (y1 + y2) / 2
        parts.append(
            f'<path class="edge" d="M{_at(x1)} {_at(y1)} C{_at(x1)} {_at(middle)} {_at(x2)} {_at(middle)} {_at(x2)} {_at(y2 - 1)}" '
            f'fill="none" stroke="{MUTED}" stroke-width="1.5" marker-end="url(#{ident}-arrow)"/>'
        )
        if edge.amount:
            labels.append(
                f'<text class="amount" x="{_at((x1 + x2) / 2 + 4)}" y="{_at(middle + 4)}" fill="{INK}" '
                f'stroke="#ffffff" stroke-width="3" paint-order="stroke">{escape(edge.amount)}</text>'
            )
    for node_id, (x, y, width) in boxes.items():
        node = by_id[node_id]
        chars = max(int((width - 8) / 6.2), 3)
        kind = "node current" if node.current else "node"
        words = f"{node.label} {node.detail}".strip()
        parts.append(
            f'<g class="{kind}"><title>{escape(words)}</title>'
            f'<rect x="{_at(x)}" y="{_at(y)}" width="{_at(width)}" height="{_BOX_HEIGHT}" rx="5" fill="#ffffff" '
            f'stroke="{ACCENT if node.current else LINE}" stroke-width="{2 if node.current else 1}"/>'
            f'<text class="label" x="{_at(x + 5)}" y="{_at(y + 15)}" fill="{INK}" font-weight="600">{escape(_short(node.label, chars))}</text>'
            f'<text class="detail" x="{_at(x + 5)}" y="{_at(y + 30)}" fill="{MUTED}">{escape(_short(node.detail, chars))}</text></g>'
        )
    parts.extend(labels)  # over the boxes and arrows, so an amount is never hidden
    parts.append("</svg>")
    return "".join(parts)
