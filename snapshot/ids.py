"""Snapshot ids: 16 characters that sort as strings in creation order.

Ten characters of Crockford base32 milliseconds since the epoch, then six random ones. Ids are
made under the store's lock and always after the newest existing one, so order is strict even
when the clock stands still or steps back.
"""

from __future__ import annotations

import datetime as _dt
import secrets
import time

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
_TIME_CHARS = 10
_RANDOM_CHARS = 6
LENGTH = _TIME_CHARS + _RANDOM_CHARS


def _encode(number: int, width: int) -> str:
    chars = []
    for _ in range(width):
        number, digit = divmod(number, 32)
        chars.append(ALPHABET[digit])
    return "".join(reversed(chars))


def _decode(text: str) -> int:
    number = 0
    for char in text:
        number = number * 32 + ALPHABET.index(char)
    return number


def is_id(text: str) -> bool:
    """True when ``text`` has the shape of a snapshot id."""
    return len(text) == LENGTH and all(char in ALPHABET for char in text)


def new_id(after: str | None = None, now_ms: int | None = None) -> str:
    """A fresh id, later than ``after`` (the newest existing id) in string order."""
    millis = int(time.time() * 1000) if now_ms is None else now_ms
    if after is not None and is_id(after):
        millis = max(millis, _decode(after[:_TIME_CHARS]) + 1)
    suffix = "".join(secrets.choice(ALPHABET) for _ in range(_RANDOM_CHARS))
    return _encode(millis, _TIME_CHARS) + suffix


def created_at(snapshot_id: str) -> _dt.datetime:
    """The creation time an id records (UTC, millisecond precision)."""
    millis = _decode(snapshot_id[:_TIME_CHARS])
    return _dt.datetime.fromtimestamp(millis / 1000, tz=_dt.UTC)
