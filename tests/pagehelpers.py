"""A tiny browser over the aiohttp test client: cookies kept, forms posted with their CSRF token."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient

__all__ = ["Browser", "Page"]

HTML = {"Accept": "text/html,application/xhtml+xml"}
_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@dataclass
class Page:
    status: int
    text: str
    url: str

    def csrf(self) -> str:
        match = _CSRF.search(self.text)
        assert match, f"no CSRF token on {self.url}"
        return match.group(1)

    def field_error(self, name: str) -> str | None:
        """The message shown beside the field `name`, or None."""
        match = re.search(rf'class="error" data-field="{re.escape(name)}">([^<]*)<', self.text)
        return html.unescape(match.group(1)) if match else None

    def __contains__(self, needle: str) -> bool:
        return needle in html.unescape(self.text)


class Browser:
    def __init__(self, client: TestClient) -> None:
        self.client = client

    async def get(self, path: str, *, expect: int | None = None, **kwargs: Any) -> Page:
        response = await self.client.get(path, headers=HTML, **kwargs)
        return _checked(Page(response.status, await response.text(), str(response.url)), expect)

    async def post(
        self,
        path: str,
        data: dict[str, Any] | list[tuple[str, str]],
        *,
        csrf: str | None = None,
        expect: int | None = None,
    ) -> Page:
        """POST a form; `expect` asserts the status of the page it ends on (after redirects)."""
        fields = list(data.items()) if isinstance(data, dict) else list(data)
        if csrf is not None:
            fields.append(("csrf_token", csrf))
        response = await self.client.post(path, data=fields, headers=HTML)
        return _checked(Page(response.status, await response.text(), str(response.url)), expect)

    async def submit(
        self, form_page: str, action: str, data: dict[str, Any] | list[tuple[str, str]], *, expect: int | None = None
    ) -> Page:
        """Open `form_page`, then post `data` to `action` with that page's CSRF token."""
        opened = await self.get(form_page, expect=200)
        return await self.post(action, data, csrf=opened.csrf(), expect=expect)

    async def sign_up(self, username: str, password: str = "correct horse", *, expect: int | None = 200) -> Page:
        """Sign up (and so in); asserts it worked unless told another `expect`ed status."""
        return await self.submit(
            "/signup", "/signup", {"username": username, "email": f"{username}@example.org", "password": password},
            expect=expect,
        )

    async def sign_in(self, username: str, password: str = "correct horse", *, expect: int | None = 200) -> Page:
        """Sign in; asserts it worked unless told another `expect`ed status."""
        return await self.submit("/signin", "/signin", {"username": username, "password": password}, expect=expect)


def _checked(page: Page, expect: int | None) -> Page:
    if expect is not None:
        assert page.status == expect, f"{page.url}: expected {expect}, got {page.status}: {page.text[:500]}"
    return page


PHONE_WIDTH = 390
_FIXED_WIDTH = re.compile(r'(?:\bwidth="(\d+)"|[\s;"]width:\s*(\d+)px|min-width:\s*(\d+)px)')


def assert_fits_phone(text: str) -> None:
    """What a page's HTML alone can tell about a 390 px phone: the viewport follows the device,
    and no element asks for a fixed width wider than the phone (inline width attributes or styles).
    The stylesheet's reflow is measured in a real browser by tests/test_browser*.py."""
    assert '<meta name="viewport" content="width=device-width' in text, "no device-width viewport"
    for match in _FIXED_WIDTH.finditer(text):
        width = int(next(group for group in match.groups() if group))
        assert width <= PHONE_WIDTH, f"a fixed width of {width} px does not fit a {PHONE_WIDTH} px phone: {match.group(0)}"
    for table in re.findall(r"<table\b[^>]*>.*?</table>", text, re.S):
        columns = len(re.findall(r"<th\b", table.split("</tr>")[0]))
        assert columns <= 4, f"a table of {columns} columns is wider than a phone unless wrapped to scroll"
