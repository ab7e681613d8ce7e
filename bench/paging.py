"""Deep paging: GET /api/v1/tokens page 1 against a page ~99,000 rows deep, by cursor and by offset.

100,000 tokens are inserted in bulk through the ORM before the server starts (the figures
are about reading, not writing); one token is made through `tokens.create` so the bulk rows
copy a real one's shape. The baseline is page 1 (`?page_size=50`); the deep page is reached
with a keyset cursor built by `models.paging.encode_cursor` for the ~99,000th row, and, for
contrast, by offset (`?page=1900`). Target: the deep cursor page within 2x of page 1.

    .venv/bin/python bench/paging.py [--quick] [--tokens N] [--runs R]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import Client, instance, median, ms, print_header, print_row, timed  # noqa: E402

PAGE_SIZE = 50
TARGET = 2.0
BATCH = 5_000
SORT = "-created_at"  # the default: newest first


async def insert_tokens(settings: Any, count: int) -> list[str]:
    """One token through the registry, the rest copied in bulk; all ids, oldest first."""
    from tortoise.transactions import in_transaction

    from models.actors import User
    from models.attributes import content_hash
    from models.context import Context
    from models.ids import new_id
    from models.operations.tokens import token_document
    from models.operations.types import TypeSchema
    from models.registry import REGISTRY
    from models.tokens import Token
    from server.app import site_from

    user = await User.get(username="alice").select_related("actor")
    ctx = Context(site=site_from(settings), user=user, actor=user.actor)
    attributes = [{"name": "title", "type": "string"}, {"name": "serial", "type": "integer"}]
    token_type = await REGISTRY.call(
        ctx, "types.create",
        {"name": "Card", "symbol": "CARD", "fungible": False, "smallest_unit": 0, "attributes": attributes},
    )
    first = await REGISTRY.call(ctx, "tokens.create", {"type": token_type["id"], "attributes": {"title": "Card 0", "serial": 0}})
    ids = [first["id"]]
    for start in range(1, count, BATCH):
        rows = []
        for serial in range(start, min(start + BATCH, count)):
            values = {"title": f"Card {serial}", "serial": serial}
            token = Token(id=new_id(), type_id=token_type["id"], owner_id=user.actor.id, attributes=values)
            token.content_hash = content_hash(token_document(token, values, TypeSchema()))  # no private values
            rows.append(token)
        async with in_transaction():
            await Token.bulk_create(rows)
        ids.extend(row.id for row in rows)
    return ids


async def time_pages(client: Client, paths: dict[str, str], runs: int) -> dict[str, float]:
    """Median seconds per path; the paths are interleaved so drift hits them all alike."""
    for path in paths.values():  # warm-up: first-touch caches, connection setup
        await client.call("GET", path)
    samples: dict[str, list[float]] = {label: [] for label in paths}
    for _ in range(runs):
        for label, path in paths.items():
            samples[label].extend(await client.timed_get(path, 1))
    return {label: median(values) for label, values in samples.items()}


async def check_page(client: Client, path: str, first_id: str) -> None:
    body = await client.call("GET", path)
    if len(body["items"]) != PAGE_SIZE or body["items"][0]["id"] != first_id:
        got = body["items"][0]["id"] if body["items"] else None
        raise RuntimeError(f"{path} starts at {got}, expected {first_id} ({len(body['items'])} items)")


async def run(args: argparse.Namespace) -> None:
    from models.paging import encode_cursor

    deep_row = args.tokens - args.tokens // 100  # the ~99,000th row of 100,000
    offset_page = (args.tokens * 19 // 20) // PAGE_SIZE  # ?page=1900 for 100,000 rows
    print_header(
        "token list paging depth (SQLite)",
        f"{args.tokens:,} tokens, page_size={PAGE_SIZE}, newest first; median of {args.runs} runs each",
    )
    with instance() as inst:
        async with inst.setup(fast_writes=True) as settings:
            await inst.create_user(settings, "alice")
            with timed(f"inserting {args.tokens:,} tokens"):
                ids = await insert_tokens(settings, args.tokens)
        newest_first = ids[::-1]
        inst.start()
        async with Client(inst.base_url) as client:
            base = f"/api/v1/tokens?page_size={PAGE_SIZE}"
            cursor = encode_cursor(newest_first[deep_row - 1], SORT)  # the page after row `deep_row`
            paths = {
                "first": base,
                "cursor": f"{base}&cursor={cursor}",
                "offset": f"{base}&page={offset_page}",
            }
            await check_page(client, paths["first"], newest_first[0])
            await check_page(client, paths["cursor"], newest_first[deep_row])
            await check_page(client, paths["offset"], newest_first[(offset_page - 1) * PAGE_SIZE])
            times = await time_pages(client, paths, args.runs)
    ratio = times["cursor"] / times["first"]
    verdict = "within" if ratio <= TARGET else "OUTSIDE"
    print_row("page 1", ms(times["first"]))
    print_row(f"cursor page after row {deep_row:,}", ms(times["cursor"]))
    print_row(f"offset page {offset_page} (rows from {(offset_page - 1) * PAGE_SIZE + 1:,})", ms(times["offset"]))
    print_row("ratio cursor-deep / page 1", f"{ratio:8.2f}", f"({verdict} the {TARGET:.0f}x target)")
    print_row("ratio offset-deep / page 1", f"{times['offset'] / times['first']:8.2f}", "(for contrast)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20,000 tokens, fewer runs")
    parser.add_argument("--tokens", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.runs = 20_000, 7
    if args.tokens < 1_000:
        parser.error("--tokens must be at least 1000 so the deep pages exist")
    start = time.perf_counter()
    asyncio.run(run(args))
    print(f"   (whole run {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
