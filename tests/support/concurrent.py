"""Running a test's requests side by side without leaving any behind."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def side_by_side(*jobs: Coroutine[Any, Any, T]) -> list[T]:
    """The jobs' results in order, as asyncio.gather gives them; but when one fails the others
    are cancelled and awaited before its error is raised, so nothing of a failed test keeps
    using the database while its fixtures tear it down (and into the next test)."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(job) for job in jobs]
    except ExceptionGroup as failed:
        raise failed.exceptions[0] from None
    return [task.result() for task in tasks]
