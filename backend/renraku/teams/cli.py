"""`renraku admin purge`: the retention purge, registered on the `admin` command group."""

from __future__ import annotations

import argparse
import asyncio

from renraku.db import Database
from renraku.settings import load_settings
from renraku.teams.retention import PurgeResult, check_purge


def register(admin_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `purge` to the subcommands of `renraku admin`."""
    purge = admin_sub.add_parser(
        "purge", help="delete patients archived longer ago than the retention period"
    )
    purge.add_argument(
        "--dry-run", action="store_true", help="list the patients that would go; change nothing"
    )
    purge.set_defaults(func=_cmd_purge)


def _cmd_purge(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def run() -> PurgeResult:
        db = Database.from_url(settings.database_url)
        try:
            return await check_purge(
                db, retention_days=settings.retention_days, dry_run=args.dry_run
            )
        finally:
            await db.dispose()

    result = asyncio.run(run())
    count, days = len(result.patient_ids), settings.retention_days
    ids = " ".join(str(i) for i in result.patient_ids) or "none"
    verb = "Would purge" if result.dry_run else "Purged"
    # Ids only: the names of purged patients must not reach a terminal or a log.
    print(f"{verb} {count} patients archived over {days} days ago: {ids}")
    return 0
