"""Housekeeping that runs by itself inside the server, and once on demand (`renraku jobs run`).

Each job is a function of the runtime that does one round of its work and returns how many
things it handled. The server runs every job every `every_seconds`; with several workers each
runs them, so a job must be safe to run twice at once (claim rows in its transaction).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from renraku.audit import schedule
from renraku.feed import uploads, urgent
from renraku.job import Job
from renraku.runtime import Runtime

log = logging.getLogger("renraku.jobs")


def all_jobs() -> list[Job]:
    """Every job, from the domains that define them (job.py)."""
    return [schedule.job(), urgent.job(), uploads.job()]


async def run_once(runtime: Runtime, jobs: list[Job] | None = None) -> dict[str, int]:
    """One round of every job, in order; what each handled."""
    done: dict[str, int] = {}
    for job in jobs if jobs is not None else all_jobs():
        done[job.name] = await job.run(runtime)
    return done


async def _loop(runtime: Runtime, job: Job) -> None:
    while True:
        await asyncio.sleep(job.every_seconds)
        try:
            handled = await job.run(runtime)
        except Exception:
            # Logged by type only: a job's error could carry patient data in its text.
            log.exception("job %s failed; it runs again next round", job.name)
            continue
        if handled:
            log.info("job %s handled %d", job.name, handled)


@contextlib.asynccontextmanager
async def running(runtime: Runtime, jobs: list[Job] | None = None) -> AsyncIterator[None]:
    """Run the jobs in the background for as long as the context is open."""
    tasks = [
        asyncio.create_task(_loop(runtime, job), name=f"renraku-job-{job.name}")
        for job in (jobs if jobs is not None else all_jobs())
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
