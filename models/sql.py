"""Hand-written SQL for the hottest paths, where building ORM queries dominated the time.

Measured with bench/ledger.py and a profiler: tortoise spent about 1 ms building each
query with joins (`select_related`), more than SQLite spent running it. These helpers run
plain parameterised SQL on the current connection (so they join the caller's transaction)
and turn rows back into ordinary model instances. Queries are written with `?`
placeholders; PostgreSQL gets `$1, $2, ...`.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, TypeVar

from tortoise.connection import connections
from tortoise.models import Model

__all__ = ["columns", "fetch", "execute", "insert", "insert_many", "load", "now"]

M = TypeVar("M", bound=Model)
_PLACEHOLDER = re.compile(r"\?")


@lru_cache(maxsize=256)
def _for_dialect(query: str, dialect: str) -> str:
    if dialect == "sqlite":
        return query
    counter = iter(range(1, 1000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", query)


def _prepare(query: str) -> tuple[Any, str]:
    connection = connections.get("default")
    return connection, _for_dialect(query, connection.capabilities.dialect)


async def fetch(query: str, *params: Any) -> list[dict[str, Any]]:
    connection, sql = _prepare(query)
    return await connection.execute_query_dict(sql, list(params))


async def execute(query: str, *params: Any) -> int:
    """Run an UPDATE/INSERT/DELETE; return the number of rows it changed."""
    connection, sql = _prepare(query)
    count, _ = await connection.execute_query(sql, list(params))
    return int(count)


def columns(model: type[Model], alias: str) -> str:
    """`alias.col AS "alias__col", ...` for every column (call after ORM init: FKs come then)."""
    return ", ".join(f'{alias}."{column}" AS "{alias}__{column}"' for column in model._meta.db_fields)


def load(model: type[M], row: dict[str, Any], alias: str) -> M:
    """A model instance from the aliased columns of a joined row (as if the ORM had loaded it)."""
    prefix = f"{alias}__"
    return model._init_from_db(**{column: row[prefix + column] for column in model._meta.db_fields})


def now() -> datetime:
    """Timestamps as the ORM writes them (aware UTC); tortoise adapts them for SQLite."""
    return datetime.now(timezone.utc)


async def insert_many(table: str, rows: list[dict[str, Any]]) -> None:
    """INSERT rows that share their columns; values must already be database-ready."""
    if not rows:
        return
    names = list(rows[0])
    one = "(" + ", ".join("?" for _ in names) + ")"
    quoted = ", ".join(f'"{name}"' for name in names)
    params = [row[name] for row in rows for name in names]
    await execute(f'INSERT INTO "{table}" ({quoted}) VALUES ' + ", ".join(one for _ in rows), *params)


async def insert(table: str, **values: Any) -> None:
    await insert_many(table, [values])
