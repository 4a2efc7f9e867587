"""Errors the store raises: each says what failed and what the user can do about it."""

from __future__ import annotations


class SnapError(Exception):
    """Base of every error the snapshot store raises."""


class GitFailed(SnapError):
    """A git command the store ran failed; the message names it, its exit status and stderr."""


class StoreBusy(SnapError):
    """Another process held the store's lock for longer than the wait allowed."""


class UnknownSnapshot(SnapError):
    """No snapshot matches the id given."""


class AmbiguousSnapshot(SnapError):
    """More than one snapshot matches the id prefix given."""


class BadPath(SnapError):
    """A path given by the caller lies outside the working tree or names nothing."""


class RefusedWorktree(SnapError):
    """The working tree is one the store will not snapshot unless named explicitly."""
