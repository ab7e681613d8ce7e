"""server/svg.py: the price and volume chart is well-formed, escaped, accessible and scales."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from server.svg import (
    Bucket,
    Mark,
    Segment,
    escape,
    nice_ceiling,
    plain_number,
    price_volume_chart,
    share_rows,
    stacked_bar,
    timeline,
)

SVG = "{http://www.w3.org/2000/svg}"


def _chart(buckets: list[Bucket], **text: str) -> str:
    words = {"title": "GEM: price and volume", "description": "per hour", "price_caption": "Price (CN per GEM)",
             "volume_caption": "Volume (CN)", **text}
    return price_volume_chart(buckets, **words)


def _buckets(*pairs: tuple[str, str | None]) -> list[Bucket]:
    return [
        Bucket(label=f"{index:02d}:00", volume=Decimal(volume), price=None if price is None else Decimal(price), note=f"hour {index}")
        for index, (volume, price) in enumerate(pairs)
    ]


def test_svg__one_bar_per_volume_one_point_per_price_and_the_line_breaks_at_gaps() -> None:
    markup = _chart(_buckets(("0", None), ("30", "10"), ("45", "9"), ("0", None), ("12.5", "12.5")))
    root = ET.fromstring(markup)  # well-formed XML
    assert len(root.findall(f"{SVG}rect[@class='bar']")) == 3
    assert len(root.findall(f"{SVG}circle[@class='point']")) == 3
    [line] = root.findall(f"{SVG}path[@class='line']")
    assert line.get("d", "").count("M") == 2 and line.get("d", "").count("L") == 1  # 10 -> 9, then 12.5 alone
    tips = [element.findtext(f"{SVG}title") for element in root.iter() if element.get("class") in ("bar", "point")]
    assert tips and all(tip and tip.startswith("hour ") for tip in tips)


def test_svg__bars_and_points_scale_to_a_nice_axis_top() -> None:
    root = ET.fromstring(_chart(_buckets(("50", "10"), ("25", "5"))))
    bars = root.findall(f"{SVG}rect[@class='bar']")
    heights = [float(bar.get("height", "0")) for bar in bars]
    assert abs(heights[0] - 2 * heights[1]) < 0.2, heights  # 50 is twice 25
    ticks = [element.text for element in root.findall(f"{SVG}text[@class='tick']")]
    assert ticks == ["0", "5", "10", "0", "25", "50"], ticks  # price axis to 10, volume axis to 50
    points = root.findall(f"{SVG}circle[@class='point']")
    assert float(points[0].get("cy", "0")) < float(points[1].get("cy", "0"))  # the higher price is drawn higher


def test_svg__accessible_and_sized_for_a_phone_by_viewbox() -> None:
    root = ET.fromstring(_chart(_buckets(("1", "1")), chart_id="trend-01ab"))
    assert root.get("viewBox") == "0 0 390 260" and root.get("width") is None and root.get("height") is None
    assert root.get("role") == "img" and root.get("aria-label") == "GEM: price and volume"
    assert root.findtext(f"{SVG}title") == "GEM: price and volume"
    assert root.get("aria-describedby") == "trend-01ab-desc" and root.find(f"{SVG}desc[@id='trend-01ab-desc']") is not None


def test_svg__every_text_is_escaped_and_no_style_attribute_is_used() -> None:
    hostile = '<script>alert("x")</script> & \'q\''
    markup = _chart(
        [Bucket(label=hostile, volume=Decimal(1), price=Decimal(1), note=hostile)],
        title=hostile, description=hostile, price_caption=hostile, volume_caption=hostile, chart_id='a"><b',
    )
    assert "<script" not in markup and "style=" not in markup
    root = ET.fromstring(markup)
    assert root.get("aria-label") == hostile and root.findtext(f"{SVG}desc") == hostile
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", element.get("id", "x")) for element in root.iter())


def test_svg__an_empty_chart_says_so() -> None:
    root = ET.fromstring(_chart(_buckets(("0", None), ("0", None)), empty_text="No sales in the last hour"))
    assert root.findtext(f"{SVG}text[@class='empty']") == "No sales in the last hour"
    assert not root.findall(f"{SVG}rect[@class='bar']") and not root.findall(f"{SVG}path[@class='line']")
    assert ET.fromstring(_chart([])).findtext(f"{SVG}text[@class='empty']") == "Nothing to show"


def test_svg__first_middle_and_last_labels_only() -> None:
    root = ET.fromstring(_chart(_buckets(*[("1", "1")] * 24)))
    labels = [(element.text, element.get("text-anchor")) for element in root.findall(f"{SVG}text[@class='label']")]
    assert labels == [("00:00", "start"), ("11:00", "middle"), ("23:00", "end")]


def test_nice_ceiling_and_plain_number() -> None:
    cases = {"0": "1", "0.37": "0.5", "1": "1", "1.01": "2", "45": "50", "100": "100", "12.5": "20", "999": "1000"}
    assert {value: plain_number(nice_ceiling(Decimal(value))) for value in cases} == cases
    assert plain_number(Decimal("2.50")) == "2.5" and escape('"<&>') == "&quot;&lt;&amp;&gt;"


def test_svg__a_stacked_bar_splits_by_share_and_names_every_part() -> None:
    svg = stacked_bar(
        [Segment("generated", Decimal(20), "#111"), Segment("reserved", Decimal(0), "#222"), Segment("free", Decimal(30), "#333")],
        title="Capacity <of> pool", description="20 made", unit="CN",
    )
    widths = [float(width) for width in re.findall(r'class="segment [a-z]+" x="[\d.]+" y="6" width="([\d.]+)"', svg)]
    assert len(widths) == 2 and abs(widths[0] / widths[1] - 20 / 30) < 0.01  # a part of 0 is left out of the bar
    assert "reserved 0" in svg and "free 30" in svg  # but stays in the legend
    assert "Capacity &lt;of&gt; pool" in svg and 'role="img"' in svg and "style=" not in svg


def test_svg__a_timeline_places_each_step_by_its_time_labelled_escaped_and_accessible() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    hostile = '<script>"x"</script> & \'q\''
    marks = [  # given out of order: drawn oldest left
        Mark(start + timedelta(days=30), "due", "due", "payment of 5 CN — due"),
        Mark(start, "paid", "paid", "payment of 5 CN — paid"),
        Mark(start + timedelta(days=10), "missed", "missed", hostile),
        Mark(start + timedelta(days=15), "suspended", "suspended"),
        Mark(start + timedelta(days=20), hostile, "ended"),
    ]
    markup = timeline(marks, title=f"Timeline {hostile}", description=hostile)
    assert "<script" not in markup and "style=" not in markup
    root = ET.fromstring(markup)
    assert root.get("viewBox") == "0 0 390 92" and root.get("width") is None and root.get("role") == "img"
    assert root.get("aria-label") == f"Timeline {hostile}" and root.findtext(f"{SVG}title") == f"Timeline {hostile}"
    assert root.findtext(f"{SVG}desc") == hostile
    circles = root.findall(f"{SVG}circle")
    assert [circle.get("class") for circle in circles] == ["mark paid", "mark missed", "mark suspended", "mark ended", "mark due"]
    xs = [float(circle.get("cx", "0")) for circle in circles]
    assert xs == sorted(xs) and abs((xs[1] - xs[0]) - (xs[4] - xs[0]) / 3) < 0.2  # day 10 of 30: a third of the way
    assert all(0 <= x <= 390 for x in xs)
    assert circles[4].get("fill") == "#ffffff" and circles[0].get("fill") != "#ffffff"  # still due: hollow
    assert [circle.findtext(f"{SVG}title") for circle in circles][:2] == ["payment of 5 CN — paid", hostile]
    labels = [text.text for text in root.findall(f"{SVG}text[@class='label']")]
    assert labels == ["paid", "missed", "suspended", hostile, "due"]
    assert [text.text for text in root.findall(f"{SVG}text[@class='date']")] == ["2026-12-01", "2026-12-31"]


def test_svg__a_timeline_of_one_step_or_none() -> None:
    one = ET.fromstring(timeline([Mark(datetime(2026, 1, 2, tzinfo=UTC), "due", "due")], title="t", description="d"))
    [circle] = one.findall(f"{SVG}circle")
    assert circle.get("cx") == "195" and [text.text for text in one.findall(f"{SVG}text[@class='date']")] == ["2026-01-02"]
    empty = ET.fromstring(timeline([], title="t", description="d", empty_text="Nothing has fallen due yet"))
    assert not empty.findall(f"{SVG}circle") and empty.findtext(f"{SVG}text[@class='empty']") == "Nothing has fallen due yet"


def test_svg__share_rows_draw_one_bar_per_holder_by_its_part_with_words() -> None:
    svg = share_rows(
        [Segment("alice", Decimal(60), "#111"), Segment("<bob>", Decimal(30), "#111"),
         Segment("a-very-long-member-name", Decimal(0), "#111")],
        title="Shares of Acme", description="alice 60; bob 30", unit="shares",
    )
    ET.fromstring(svg)  # well-formed
    widths = [float(width) for width in re.findall(r'class="share-row" x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert len(widths) == 2 and abs(widths[0] / widths[1] - 2) < 0.01  # a holder of 0 has no bar
    assert "alice: 60 shares (66.7%)" in svg and "60 · 66.7%" in svg and "0 · 0%" in svg
    assert "&lt;bob&gt;" in svg and "a-very-long-m\u2026" in svg and "a-very-long-member-name: 0 shares" in svg
    assert 'role="img"' in svg and 'viewBox="0 0 390 86"' in svg and "style=" not in svg
