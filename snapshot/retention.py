"""Which snapshots a gc removes, and the durations its policy is written in."""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from snapshot.errors import SnapError

if TYPE_CHECKING:
    from snapshot.models import Snapshot

DEFAULT_OLDER_THAN = 7 * 24 * 3600.0
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``0s``, ``90m``, ``12h``, ``7d`` or ``2w``."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise SnapError(
            f"bad duration {text!r}: use a whole number and a unit, as in 0s, 90m, 12h, 7d"
        )
    return int(match.group(1)) * _UNITS[match.group(2)]


def select_removals(
    snapshots: Sequence[Snapshot],
    now: _dt.datetime,
    *,
    keep_last: int | None,
    older_than: float | None,
) -> list[Snapshot]:
    """The snapshots a policy removes; ``snapshots`` come newest first.

    Each rule given says which snapshots it would remove; a snapshot goes only when every
    rule given would remove it.
    """
    removed = []
    for position, snapshot in enumerate(snapshots):
        votes = []
        if keep_last is not None:
            votes.append(position >= keep_last)
        if older_than is not None:
            age = (now - snapshot.created_at).total_seconds()
            votes.append(age > older_than or older_than == 0)
        if votes and all(votes):
            removed.append(snapshot)
    return removed
