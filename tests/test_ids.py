"""Ids: 26 Crockford base-32 characters that sort by creation time (paging and cursors rely on it)."""

from __future__ import annotations

import time

from models.ids import first_id_at, new_id


def test_new_id__sorts_by_creation_and_sits_within_its_millisecond() -> None:
    before = time.time_ns() // 1_000_000
    made = [new_id() for _ in range(2_000)]
    after = time.time_ns() // 1_000_000
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(len(item) == 26 and set(item) <= set("0123456789abcdefghjkmnpqrstvwxyz") for item in made)
    # the id's time part is the same text first_id_at writes: a cursor "created after T" works
    assert first_id_at(before) <= made[0] and made[-1] < first_id_at(after + 1)
    for item in made[:50]:
        millis = next(m for m in range(before, after + 1) if first_id_at(m) <= item < first_id_at(m + 1))
        assert before <= millis <= after
