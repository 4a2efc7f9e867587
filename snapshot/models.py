"""The values the store returns: small, frozen, with the fields of the CLI's JSON."""

from __future__ import annotations

import datetime as _dt
from typing import Any

import attrs


@attrs.frozen
class Skipped:
    """A path a capture left out, and why (too large, a nested repository)."""

    path: str
    reason: str


@attrs.frozen
class Snapshot:
    """One capture: an immutable ref to the tree of the working tree at that moment."""

    id: str
    tree: str
    created_at: _dt.datetime
    message: str | None = None
    skipped: tuple[Skipped, ...] = ()


@attrs.frozen
class FileChange:
    """One path that differs between two sides of a diff."""

    path: str
    #: ``added``, ``deleted``, ``modified`` or ``type-changed``.
    status: str
    additions: int
    deletions: int
    binary: bool
    #: The text before and after, filled only on request (``None`` for binary or absent).
    before: str | None = None
    after: str | None = None


@attrs.frozen
class RestoreResult:
    """What a restore did: its undo snapshot and the paths written, deleted and kept."""

    undo: str | None
    written: tuple[str, ...]
    deleted: tuple[str, ...]
    kept: tuple[Skipped, ...]
    dry_run: bool = False


@attrs.frozen
class RevertResult:
    """What a revert did: its undo snapshot and the paths written and deleted."""

    undo: str | None
    written: tuple[str, ...]
    deleted: tuple[str, ...]
    kept: tuple[Skipped, ...] = ()


@attrs.frozen
class GcResult:
    """The snapshot ids a gc removed and kept."""

    removed: tuple[str, ...]
    kept: tuple[str, ...]


@attrs.frozen
class VerifyResult:
    """Whether the store is sound, and if not, what is wrong."""

    ok: bool
    problems: tuple[str, ...]


def to_json(value: Any) -> Any:
    """A JSON-ready form of any of these values (datetimes as ISO 8601, tuples as lists)."""
    if attrs.has(type(value)):
        return {
            field.name: to_json(getattr(value, field.name)) for field in attrs.fields(type(value))
        }
    if isinstance(value, (list, tuple)):
        return [to_json(item) for item in value]
    if isinstance(value, _dt.datetime):
        return value.isoformat(timespec="milliseconds")
    return value
