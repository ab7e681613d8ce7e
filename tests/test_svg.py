"""server/svg.py: every picture is well-formed, escaped, accessible, scales and draws its numbers where they belong."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from server.svg import (
    Bucket,
    Edge,
    Mark,
    Node,
    Segment,
    Step,
    dag,
    escape,
    nice_ceiling,
    plain_number,
    price_volume_chart,
    share_rows,
    stacked_bar,
    step_chart,
    supply_gauge,
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


def test_svg__a_supply_gauge_fills_by_the_minted_share_and_an_unbounded_one_says_so() -> None:
    bounded = supply_gauge(Decimal(1000), Decimal(5000), name="Gems <x>", unit="GEM")
    root = ET.fromstring(bounded)
    widths = [float(width) for width in re.findall(r'class="segment [a-z-]+" x="[\d.]+" y="6" width="([\d.]+)"', bounded)]
    assert len(widths) == 2 and abs(widths[0] / widths[1] - 1000 / 4000) < 0.01
    assert root.get("aria-label") == "Supply of Gems <x>" and root.get("role") == "img"
    assert root.findtext(f"{SVG}desc") == "1000 GEM minted of at most 5000 (20%); 4000 left to mint"
    open_ended = ET.fromstring(supply_gauge(Decimal("12.5"), None, name="Gems", unit="GEM"))
    assert not open_ended.findall(f"{SVG}rect") and open_ended.findtext(f"{SVG}desc") == "12.5 GEM minted; no supply limit"
    assert "".join(open_ended.itertext()).endswith("12.5 GEM minted \u00b7 no supply limit")
    full = supply_gauge(Decimal(10), Decimal(10), name="G", unit="G")
    assert len(re.findall(r'class="segment', full)) == 1 and "left to mint 0" in full  # nothing left: one part


def test_svg__a_step_chart_holds_each_level_until_the_next_step_and_ends_at_now() -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    steps = [Step(start, Decimal(100), "minted 100"), Step(start + timedelta(days=10), Decimal(60), "gave 40"),
             Step(start + timedelta(days=5), Decimal(150), "got 50")]  # out of order: drawn by time
    markup = step_chart(steps, start=Decimal(0), end=start + timedelta(days=20), title="Balance of <GEM>",
                        description="150 at most", caption="Balance (GEM)", chart_id="balance-01")
    assert "style=" not in markup
    root = ET.fromstring(markup)
    assert root.get("role") == "img" and root.get("aria-label") == "Balance of <GEM>" and root.get("width") is None
    [line] = root.findall(f"{SVG}path[@class='line']")
    moves = re.findall(r"[MHV][\d.]+(?: [\d.]+)?", line.get("d", ""))
    assert moves[0].startswith("M52 ") and moves[-1] == "H380"  # from the first step to `end` at the right edge
    points = root.findall(f"{SVG}circle[@class='point']")
    assert [point.findtext(f"{SVG}title") for point in points] == ["minted 100", "got 50", "gave 40"]
    ys = [float(point.get("cy", "0")) for point in points]
    assert ys[1] < ys[0] < ys[2]  # 150 above 100 above 60
    xs = [float(point.get("cx", "0")) for point in points]
    assert abs((xs[1] - xs[0]) - (xs[2] - xs[1])) < 0.2  # day 5 and day 10: equal steps
    assert [text.text for text in root.findall(f"{SVG}text[@class='tick']")] == ["0", "100", "200"]
    assert [text.text for text in root.findall(f"{SVG}text[@class='date']")] == ["2026-11-01", "2026-11-21"]
    empty = ET.fromstring(step_chart([], start=Decimal(7), end=start, title="t", description="d", caption="c",
                                     empty_text="No changes"))
    assert empty.findtext(f"{SVG}text[@class='empty']") == "No changes" and not empty.findall(f"{SVG}path")


def test_svg__a_dag_puts_each_node_a_row_below_its_lowest_source_with_amounts_on_edges() -> None:
    nodes = [Node("g", "give 15", "by ann \u2192 bob", current=True), Node("c1", "create 10", "by ann"),
             Node("c2", "create <20>", "by ann"), Node("x", "give 5", "by ann \u2192 cy")]
    edges = [Edge("c1", "g", "10"), Edge("x", "g", "5"), Edge("c2", "x"), Edge("gone", "g", "1")]  # "gone" is not drawn
    markup = dag(nodes, edges, title="Trace <of> a give", description="4 operations", chart_id="trace-1")
    assert "style=" not in markup and "<script" not in markup
    root = ET.fromstring(markup)
    assert root.get("role") == "img" and root.get("aria-label") == "Trace <of> a give"
    boxes = {
        group.findtext(f"{SVG}title"): float(group.find(f"{SVG}rect").get("y", "0"))  # type: ignore[union-attr]
        for group in root.iter(f"{SVG}g")
    }
    assert boxes["create 10 by ann"] == boxes["create <20> by ann"] < boxes["give 5 by ann \u2192 cy"] < boxes["give 15 by ann \u2192 bob"]
    assert [group.get("class") for group in root.iter(f"{SVG}g")].count("node current") == 1
    assert len(root.findall(f"{SVG}path[@class='edge']")) == 3
    assert sorted(text.text or "" for text in root.findall(f"{SVG}text[@class='amount']")) == ["10", "5"]
    rects = [group.find(f"{SVG}rect") for group in root.iter(f"{SVG}g")]
    assert all(0 <= float(r.get("x", "-1")) and float(r.get("x", "0")) + float(r.get("width", "0")) <= 390 for r in rects if r is not None)


def test_svg__a_wide_dag_row_shrinks_its_boxes_and_cuts_long_words() -> None:
    nodes = [Node(f"c{index}", f"create {index}00000 GEMSTONES", "by someone-with-a-long-name") for index in range(6)]
    root = ET.fromstring(dag([*nodes, Node("g", "give", "by x", current=True)],
                             [Edge(node.id, "g", "1") for node in nodes], title="t", description="d"))
    labels = [text.text or "" for text in root.iter(f"{SVG}text") if text.get("class") == "label"]
    assert any(label.endswith("\u2026") for label in labels)
    widths = sorted(float(rect.get("width", "0")) for rect in root.iter(f"{SVG}rect"))
    assert widths[-1] == 180 and max(widths[:-1]) < 65  # six share the top row; the one below has room
    assert int(root.get("viewBox", "").split()[2]) == 390
