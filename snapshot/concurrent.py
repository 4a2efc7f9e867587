"""Run a few awaitables at once and get their results in order, or the first failure."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio


async def gather(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Await every call concurrently; return their results in order, or raise the first error.

    A failure lets the others finish (they are short git commands) and is raised as itself,
    not wrapped in an exception group, so callers catch it by its own type.
    """
    results: list[Any] = [None] * len(calls)
    errors: list[Exception] = []

    async def one(position: int, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            results[position] = await call()
        except Exception as exc:
            errors.append(exc)

    async with anyio.create_task_group() as group:
        for position, call in enumerate(calls):
            group.start_soon(one, position, call)
    if errors:
        raise errors[0]
    return results
