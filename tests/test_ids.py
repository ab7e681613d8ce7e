"""Ids: 26 Crockford base-32 characters that sort by creation time (paging and cursors rely on it)."""

from __future__ import annotations

import time

import pytest

from models import ids
from models.ids import first_id_at, new_id, new_ids


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


def test_new_ids__in_order_between_earlier_and_later_ids_also_across_a_carry(monkeypatch: pytest.MonkeyPatch) -> None:
    earlier = new_id()
    batch = new_ids(5_000)
    later = new_id()
    assert earlier < batch[0] and batch == sorted(batch) and batch[-1] < later and len(set(batch)) == 5_000
    assert all(len(item) == 26 and set(item) <= set("0123456789abcdefghjkmnpqrstvwxyz") for item in batch)
    # the random part two below a multiple of 2**20: the prefix the batch shares changes inside it
    millis = time.time_ns() // 1_000_000 + 60_000
    monkeypatch.setattr(ids, "_last", (millis, (1 << 40) - 3))
    crossing = new_ids(4)
    first = millis << 80 | (1 << 40) - 2
    assert crossing == [ids._encode(value, 26) for value in range(first, first + 4)]
    assert crossing[1][:-4] != crossing[2][:-4] and crossing[-1] < new_id()


def test_ids__an_id_at_a_moment_is_the_same_for_one_url_and_sorts_by_that_moment() -> None:
    from models.ids import id_at

    url = "https://b.example/boards/1/entries/2"
    micros = 1_700_000_000_000_123
    assert id_at(micros, url) == id_at(micros, url)  # every server derives the same
    assert id_at(micros, url) != id_at(micros, url + "3")
    assert first_id_at(1_700_000_000_000) <= id_at(micros, url) < first_id_at(1_700_000_000_001)
    assert id_at(micros + 1, "a") > id_at(micros, "z")  # a microsecond later sorts later
    assert len(id_at(micros, url)) == 26
