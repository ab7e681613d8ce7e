"""Security headers for everything a browser renders: our pages and the set formats (HTML, Markdown)."""

from __future__ import annotations

from aiohttp import web

__all__ = ["protect"]

# No script runs on our pages (user Markdown is sanitised as well; this is the second wall).
# form-action is left out: the OAuth consent form ends in a redirect to the app's own URI.
_DIRECTIVES = {
    "default-src": "'self'",
    "script-src": "'none'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "img-src": "'self' https: data:",
    "style-src": "'self'",
    "frame-src": "'self'",
}


def _policy(**changes: str) -> str:
    return "; ".join(f"{name} {changes.get(name.replace('-', '_'), value)}" for name, value in _DIRECTIVES.items())


PAGE_CSP = _policy()
# A rendered set format: the same wall, but the set page shows it in an iframe (so our own
# pages may frame it) and a format's template carries its own <style> element.
FORMAT_CSP = _policy(frame_ancestors="'self'", style_src="'self' 'unsafe-inline'")


def protect(response: web.StreamResponse, *, rendered_format: bool = False) -> web.StreamResponse:
    """Add the CSP, nosniff, framing, referrer and no-store headers (unless already set)."""
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Content-Security-Policy", FORMAT_CSP if rendered_format else PAGE_CSP)
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN" if rendered_format else "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
