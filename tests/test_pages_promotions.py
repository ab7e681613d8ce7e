"""Promotion pages (issue 20, item 4): a manager drafts and starts a campaign from the store's
campaigns page, a promoter joins it from /app/promotions and copies a snippet, a view of the
snippet shows on the campaign's dashboard chart; bad input is shown beside its field, others
are refused as the API refuses them, and no page needs JavaScript."""

from __future__ import annotations

import re

from .conftest import Api
from .pagehelpers import Browser
from .test_pages_session import assert_labelled
from .test_promotions import shop

CAMPAIGNS = "/app/stores/acme-shop/campaigns"


async def test_campaign_pages__draft_start_join_snippet_and_chart(api: Api) -> None:
    m = await shop(api)
    browser = Browser(api.client)
    await browser.sign_in("mia")
    listed = await browser.get(CAMPAIGNS, expect=200)
    assert 'id="campaign-form"' in listed and "No campaigns yet." in listed and "<script" not in listed.text
    assert_labelled(listed.text)
    form = [("title", "Mugs for all"), ("items", m["mug"]["id"]), ("price_type", m["coin"]), ("impression_price", "0.01"),
            ("click_price", "0.25"), ("budget", "100"), ("days", "7"), ("payout_hours", "24"), ("tags", "kitchen, gifts"),
            ("regions", "EU"), ("text", "The best mugs"), ("image", ""), ("link", "https://shop.example/mugs")]
    bad = await browser.post(CAMPAIGNS, [(k, "ftp://x" if k == "link" else v) for k, v in form], csrf=listed.csrf(),
                             expect=400)
    assert bad.field_error("link") and 'value="Mugs for all"' in bad.text
    days = await browser.post(CAMPAIGNS, [(k, "soon" if k == "days" else v) for k, v in form], csrf=listed.csrf(),
                              expect=400)
    assert days.field_error("days") == "a whole number of days, 1 to 366"
    await browser.post(CAMPAIGNS, form, expect=403)  # no CSRF token
    drafted = await browser.post(CAMPAIGNS, form, csrf=listed.csrf(), expect=200)
    assert "Campaign drafted" in drafted and "Draft" in drafted and "Start: hold the budget" in drafted
    campaign_id = drafted.url.rsplit("/", 1)[1]
    campaign_url = f"/app/campaigns/{campaign_id}"
    started = await browser.post(f"{campaign_url}/start", {}, csrf=drafted.csrf(), expect=200)
    assert "The campaign runs" in started and "Pause" in started
    assert_labelled(started.text)

    await browser.sign_in("pat")
    offered = await browser.get("/app/promotions", expect=200)
    assert "Mugs for all" in offered and "None yet." in offered
    outsider = await browser.get(campaign_url, expect=200)
    assert "Promote this campaign" in outsider and "Pause" not in outsider and 'class="chart"' not in outsider
    await browser.post(f"{campaign_url}/pause", {}, csrf=outsider.csrf(), expect=403)  # not the store's manager
    joined = await browser.post(f"{campaign_url}/join", {}, csrf=outsider.csrf(), expect=200)
    assert "You promote this campaign" in joined and joined.url.endswith(f"/app/promotions/{campaign_id}")
    snippets = re.findall(r"/promo/i/([A-Za-z0-9_.-]+)", joined.text)
    assert len(snippets) == 3 and len(set(snippets)) == 3
    assert_labelled(joined.text)
    response = await api.client.get(f"/promo/i/{snippets[0]}")
    assert response.status == 200 and response.content_type == "image/gif"
    mine = await browser.get("/app/promotions", expect=200)
    assert "1 views" in mine.text or "1 views, 0 clicks" in mine.text

    await browser.sign_in("mia")
    dashboard = await browser.get(campaign_url, expect=200)
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="chart"' in dashboard.text
    assert "1 view and 0 clicks counted" in dashboard and '<td class="num" data-label="Views">1</td>' in dashboard.text
    ended = await browser.post(f"{campaign_url}/end", {}, csrf=dashboard.csrf(), expect=200)
    assert "The campaign ended" in ended and "0.01 paid so far" in ended and "99.99 given back" in ended
    again = await browser.post(f"{campaign_url}/end", {}, csrf=ended.csrf(), expect=409)
    assert "cannot end" in again


async def test_campaign_pages__strangers_and_salesmen(api: Api) -> None:
    m = await shop(api)
    browser = Browser(api.client)
    await browser.get(CAMPAIGNS, expect=200)  # signed out: to the sign-in page
    await browser.sign_in("zed")
    await browser.get(CAMPAIGNS, expect=403)
    await browser.sign_in("sam")  # a salesman sees the campaigns, and the API refuses his draft
    page = await browser.get(CAMPAIGNS, expect=200)
    form = {"title": "Mine", "items": m["mug"]["id"], "price_type": m["coin"], "impression_price": "1",
            "budget": "5", "link": "https://x.example", "text": "hi"}
    refused = await browser.post(CAMPAIGNS, form, csrf=page.csrf(), expect=403)
    assert "manager role" in refused
    await browser.get("/app/campaigns/NOPE", expect=404)
    await browser.get("/app/promotions/NOPE", expect=404)
    await browser.get("/app/promotions/NOPE?count=99999999999999999999", expect=400)
