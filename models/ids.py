"""Opaque, time-ordered ids (ULID-shaped): sorting by id is sorting by creation time."""

from __future__ import annotations

import hashlib
import os
import threading
import time

__all__ = ["new_id", "new_ids", "first_id_at", "id_at"]

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case
_PAIRS = [high + low for high in _ALPHABET for low in _ALPHABET]  # every 10-bit value as two characters
_SHIFTS = tuple(range(120, -1, -10))  # 13 pairs: 130 bits, the top two always zero
_lock = threading.Lock()
_last = (0, 0)


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, digit = divmod(value, 32)
        chars.append(_ALPHABET[digit])
    return "".join(reversed(chars))


def _reserve(count: int) -> int:
    """The first of `count` consecutive id values (48 bits of milliseconds, 80 random bits)."""
    global _last
    with _lock:
        millis = time.time_ns() // 1_000_000
        last_millis, last_random = _last
        if millis <= last_millis:
            millis, randomness = last_millis, last_random + 1
        else:
            randomness = int.from_bytes(os.urandom(10), "big") >> 1
        _last = (millis, randomness + count - 1)
    return millis << 80 | randomness


def _text(value: int) -> str:
    return "".join([_PAIRS[(value >> shift) & 1023] for shift in _SHIFTS])  # as _encode(value, 26), faster


def new_id() -> str:
    """26 characters: 48 bits of milliseconds, then 80 bits random (monotonic per process)."""
    return _text(_reserve(1))


def new_ids(count: int) -> list[str]:
    """`count` new ids in order, as `new_id` would make them one by one, at a fraction of the cost
    (bulk inserts of thousands of rows): consecutive values share all but their last 20 bits."""
    first = _reserve(count)
    ids = []
    high, prefix = -1, ""
    for value in range(first, first + count):
        if value >> 20 != high:
            high, prefix = value >> 20, _text(value)[:-4]
        ids.append(prefix + _PAIRS[(value >> 10) & 1023] + _PAIRS[value & 1023])
    return ids


def first_id_at(millis: int) -> str:
    """The smallest id made at this Unix millisecond: ids below it were made earlier."""
    return _encode(millis, 10) + "0" * 16


def id_at(micros: int, seed: str) -> str:
    """The id of something made at this Unix microsecond, the same on every server that copies it:
    48 bits of milliseconds, then the microseconds within it (10 bits), then 70 bits of the SHA-256
    of `seed` (its URL, or a random text for our own). Copies of one board on several servers then
    sort their entries alike, whenever each copy arrived."""
    millis, within = divmod(max(0, micros), 1000)
    randomness = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:9], "big") >> 2
    return _text(millis << 80 | within << 70 | randomness)
