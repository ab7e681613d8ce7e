"""Domain errors. The server maps each to an RFC 9457 problem document in one middleware."""

from __future__ import annotations

from typing import Any

__all__ = [
    "DomainError",
    "BadInput",
    "Unauthorized",
    "Forbidden",
    "NotFound",
    "Conflict",
    "Gone",
    "TooLarge",
    "Unprocessable",
    "RateLimited",
    "UnsupportedMediaType",
]


class DomainError(Exception):
    """Base of every error a caller may see; `code` is stable, `detail` is for people."""

    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(
        self,
        detail: str,
        *,
        code: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code
        self.errors = errors or []
        self.extra = extra or {}

    def to_problem(self) -> dict[str, Any]:
        problem: dict[str, Any] = {
            "type": f"https://tallystick.dev/problems/{self.code}",
            "code": self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.errors:
            problem["errors"] = self.errors
        problem.update(self.extra)
        return problem


class BadInput(DomainError):
    status, code, title = 400, "bad-input", "Bad input"


class Unauthorized(DomainError):
    status, code, title = 401, "unauthorized", "Unauthorized"


class Forbidden(DomainError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(DomainError):
    status, code, title = 404, "not-found", "Not found"


class Conflict(DomainError):
    status, code, title = 409, "conflict", "Conflict"


class Gone(DomainError):
    status, code, title = 410, "gone", "Gone"


class TooLarge(DomainError):
    status, code, title = 413, "too-large", "Content too large"


class Unprocessable(DomainError):
    status, code, title = 422, "unprocessable", "Unprocessable content"


class RateLimited(DomainError):
    status, code, title = 429, "rate-limited", "Too many requests"


class UnsupportedMediaType(DomainError):
    status, code, title = 415, "unsupported-media-type", "Unsupported media type"
