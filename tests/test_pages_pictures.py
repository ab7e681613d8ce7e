"""Pictures on pages (issue 23): a type's supply gauge, the wallet's balance over time and the
trace as a graph, each an accessible SVG with its figures also in words."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from .conftest import Api
from .pagehelpers import Browser, Page
from .test_pages import make_type

SVG = "{http://www.w3.org/2000/svg}"


def picture(page: Page, figure_class: str) -> tuple[ET.Element, str]:
    """The SVG inside <figure class="chart {figure_class}"> and its caption's words."""
    match = re.search(rf'<figure class="chart {figure_class}"[^>]*>\s*(<svg.*?</svg>)\s*<figcaption>(.*?)</figcaption>', page.text, re.S)
    assert match, f"no {figure_class} picture on {page.url}"
    return ET.fromstring(match.group(1)), match.group(2)


async def test_pages_pictures__supply_balance_and_a_trace_with_two_sources(api: Api) -> None:
    browser = Browser(api.client)
    await api.user("bob")
    await browser.sign_up("ann")
    type_id = await make_type(browser, supply_limit="500")
    for amount in ("100", "50"):
        await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/mint", {"amount": amount}, expect=200)
    given = await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/give", {"amount": "120", "to": "bob"}, expect=200)

    # the give took 100 from the first create and 20 from the second: two arrows, each with its amount
    graph, words = picture(given, "trace-graph")
    assert graph.get("role") == "img" and graph.get("aria-label") == "Trace of this give of 120 CUP"
    assert "3 operation(s) drawn, 2 link(s)" in words
    assert sorted(text.text or "" for text in graph.iter(f"{SVG}text") if text.get("class") == "amount") == ["100", "20"]
    current = [group for group in graph.iter(f"{SVG}g") if group.get("class") == "node current"]
    assert len(current) == 1 and current[0].findtext(f"{SVG}title") == "120 CUP give by ann \u2192 bob"  # our own people without the domain

    gauge, words = picture(await browser.get(f"/app/types/{type_id}", expect=200), "supply")
    assert words == "150 of at most 500 CUP minted; 350 left to mint."
    _, words = picture(await browser.get(f"/types/{type_id}", expect=200), "supply")  # its public page too
    assert words == "150 of at most 500 CUP minted; 350 left to mint."
    assert gauge.get("aria-label") == "Supply of Coffee cups"

    token = (await api.post("/api/v1/auth/login", {"username": "ann", "password": "correct horse"}, expect=200)).body["token"]
    pool = (await api.post("/api/v1/pools", {"type": type_id, "name": "Harvest", "capacity": "100"}, token=token, expect=201)).body
    _, words = picture(await browser.get(f"/app/pools/{pool['id']}", expect=200), "supply")
    assert words == "Of the type as a whole: 150 of at most 500 CUP minted; 350 left to mint."

    chart, words = picture(await browser.get("/", expect=200), "balance-chart")
    assert words.startswith("Coffee cups: 30 CUP now; 3 change(s) in the last 90 days, lowest 30, highest 150.")
    notes = [point.findtext(f"{SVG}title") or "" for point in chart.iter(f"{SVG}circle")]
    assert [note.split(": ", 1)[1] for note in notes] == [
        "create of 100, balance 100 CUP", "create of 50, balance 150 CUP", "give of 120, balance 30 CUP"
    ]


async def test_pages_pictures__a_type_without_a_limit_shows_what_was_minted_only(api: Api) -> None:
    browser = Browser(api.client)
    await browser.sign_up("ann")
    type_id = await make_type(browser)
    await browser.submit(f"/app/types/{type_id}", f"/app/types/{type_id}/mint", {"amount": "7"}, expect=200)
    gauge, words = picture(await browser.get(f"/app/types/{type_id}", expect=200), "supply")
    assert words == "7 CUP minted so far; this type has no supply limit."
    assert not gauge.findall(f"{SVG}rect")
    wallet = await browser.get("/", expect=200)
    assert wallet.text.count('class="chart balance-chart"') == 1
