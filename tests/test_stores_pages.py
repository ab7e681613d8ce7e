"""Store pages (issue 20): a buyer goes from the storefront to an item, puts it in a basket,
orders, pays, confirms and rates it in the browser; staff move it on the orders board; the
pages work without JavaScript and label every field."""

from __future__ import annotations

from .conftest import Api
from .pagehelpers import Browser
from .test_ledger import balance
from .test_pages_session import assert_labelled
from .test_stores import shop


async def test_pages__storefront_item_basket_checkout_orders_and_board(api: Api) -> None:
    m = await shop(api)
    browser = Browser(api.client)
    front = await browser.get("/app/stores/acme-shop", expect=200)  # public
    assert "Acme shop" in front and "<em>things</em>" in front and "Mug" in front and "20 in stock" in front
    assert "Orders board" not in front and "<script" not in front.text
    clothes = await browser.get("/app/stores/acme-shop?category=clothes", expect=200)
    assert "Tee" in clothes and "Mug" not in clothes and "1 variant" in clothes
    await browser.sign_in("ben")
    item = await browser.get(f"/app/stores/acme-shop/items/{m['mug']['id']}", expect=200)
    assert "5 MUG" not in item and "<strong>5" in item and 'id="buy-form"' in item
    assert_labelled(item.text)
    order = await browser.post(f"/app/stores/acme-shop/items/{m['mug']['id']}/basket",
                               {"quantity": "3", "salesman": "sam"}, csrf=item.csrf(), expect=200)
    assert "Your basket" in order and "In your basket" in order and "15" in order and 'id="move-place"' in order
    assert_labelled(order.text)
    order_path = order.url.split("127.0.0.1", 1)[-1].split(":", 1)[-1]
    order_path = order_path[order_path.index("/app/"):]
    refused = await browser.post(f"/app/stores/acme-shop/items/{m['mug']['id']}/basket", {"quantity": "many"},
                                 csrf=item.csrf(), expect=400)
    assert "Mug" in refused and 'role="alert"' in refused
    placed = await browser.post(f"{order_path}/place", {"note": ""}, csrf=order.csrf(), expect=200)
    assert "ordered" in placed and 'id="move-pay"' in placed and 'id="move-cancel"' in placed
    paid = await browser.post(f"{order_path}/pay", {"note": ""}, csrf=placed.csrf(), expect=200)
    assert await balance(api, m["coin"], "ben") == "485" and 'id="move-issue"' in paid
    mine = await browser.get("/app/orders", expect=200)
    assert "My orders" in mine and "acme-shop" in mine and "paid" in mine
    await browser.get("/app/stores/acme-shop/orders", expect=403)  # the board is the staff's
    staff = browser  # one cookie jar: signing in as sam ends ben's session
    await staff.sign_in("sam")
    board = await staff.get("/app/stores/acme-shop/orders?state=paid", expect=200)
    assert "ben" in board and "Mug" in board
    assert_labelled(board.text)
    seen = await staff.get(order_path, expect=200)
    assert 'id="move-fulfil"' in seen and 'id="move-pay"' not in seen
    sent = await staff.post(f"{order_path}/fulfil", {"note": "posted"}, csrf=seen.csrf(), expect=200)
    delivered = await staff.post(f"{order_path}/deliver", {"note": ""}, csrf=sent.csrf(), expect=200)
    assert "the store is paid at" in delivered
    await browser.sign_in("ben")
    again = await browser.get(order_path, expect=200)
    closed = await browser.post(f"{order_path}/confirm", {"note": "thanks"}, csrf=again.csrf(), expect=200)
    assert 'id="feedback-form"' in closed
    assert_labelled(closed.text)
    rated = await browser.post(f"{order_path}/feedback", {"rating": "5", "review": "Lovely **mug**"},
                               csrf=closed.csrf(), expect=200)
    assert "Rated 5 of 5" in rated and "<strong>mug</strong>" in rated and 'id="feedback-form"' not in rated
    assert await balance(api, m["coin"], "sam") == "1"  # 10% of 15, in whole coins
    front = await browser.get("/app/stores/acme-shop", expect=200)
    assert "rated 5.0 of 5 by 1 buyer" in front
    reviewed = await browser.get(f"/app/stores/acme-shop/items/{m['mug']['id']}", expect=200)
    assert "Reviews" in reviewed and "Lovely <strong>mug</strong>" in reviewed
    await browser.sign_in("bea")
    await browser.get(order_path, expect=404)
