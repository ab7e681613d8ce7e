"""The route table: HTTP method and path -> operation. OpenAPI is generated from it."""

from __future__ import annotations

from .api import Route

__all__ = ["ROUTES"]

V1 = "/api/v1"

ACCOUNTS = [
    Route("POST", f"{V1}/auth/register", "auth.register", status=201),
    Route("POST", f"{V1}/auth/login", "auth.login"),
    Route("POST", f"{V1}/auth/logout", "auth.logout"),
    Route("GET", f"{V1}/me", "users.me"),
    Route("GET", f"{V1}/admin/users", "admin.users.list"),
    Route("POST", f"{V1}/admin/users", "admin.users.create", status=201),
    Route("POST", f"{V1}/admin/users/{{username}}/freeze", "admin.users.freeze"),
    Route("POST", f"{V1}/admin/users/{{username}}/unfreeze", "admin.users.unfreeze"),
    Route("DELETE", f"{V1}/admin/users/{{username}}", "admin.users.delete"),
    Route("POST", f"{V1}/admin/users/{{username}}/token", "admin.users.regenerate_token"),
    Route("PUT", f"{V1}/admin/users/{{username}}/roles", "admin.users.set_roles"),
]

GROUPS: list[Route] = []

TYPES: list[Route] = []

TOKENS: list[Route] = []

LEDGER: list[Route] = []

SETS: list[Route] = []

ROUTES: list[Route] = [*ACCOUNTS, *GROUPS, *TYPES, *TOKENS, *LEDGER, *SETS]
