"""What a job is: one round of some housekeeping, run by the server every `every_seconds`.

Each domain defines its jobs beside its actions (audit/schedule.py, feed/urgent.py,
feed/uploads.py); jobs.py lists them all and runs them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from renraku.runtime import Runtime


@dataclass(frozen=True)
class Job:
    name: str
    every_seconds: float
    # One round of the work; returns how many things it handled.
    run: Callable[[Runtime], Awaitable[int]]
