"""`renraku alerts import FILE... [--json]` and `renraku alerts sources add NAME [--trusted]`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import timedelta
from pathlib import Path

from renraku.alerts.imports import REJECTED, ImportResult, Origin, import_document
from renraku.alerts.sources import add_source
from renraku.alerts.xml_safety import MAX_DOCUMENT_BYTES
from renraku.db import Database
from renraku.errors import BadInput
from renraku.settings import load_settings

EXIT_USAGE = 2
# The operator's own imports from files count as from a trusted source (DESIGN.md).
OPERATOR = Origin(trusted=True)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `alerts` command group."""
    alerts = sub.add_parser("alerts", help="disaster alerts (CAP 1.1/1.2 and JMA XML)")
    what = alerts.add_subparsers(dest="what", required=True)
    imports = what.add_parser("import", help="import alert files as the operator (trusted)")
    imports.add_argument("files", nargs="+", metavar="FILE")
    imports.add_argument("--json", action="store_true", help="one JSON object per file")
    imports.set_defaults(func=_cmd_import)
    sources = what.add_parser("sources", help="senders allowed to POST /alerts")
    sources_what = sources.add_subparsers(dest="action", required=True)
    add = sources_what.add_parser("add", help="add a source and print its sender credential")
    add.add_argument("name")
    add.add_argument(
        "--trusted", action="store_true", help="its alerts may start an incident by themselves"
    )
    add.set_defaults(func=_cmd_sources_add)


def _read(path: str) -> bytes | str:
    """The file's bytes, or why it cannot be read (never more than the limit and one byte)."""
    try:
        with Path(path).open("rb") as handle:
            data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as error:
        return f"file: cannot be read ({error.strerror or type(error).__name__})"
    return data


def _cmd_import(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def run() -> list[tuple[str, ImportResult]]:
        db = Database.from_url(settings.database_url)
        results = []
        try:
            for path in args.files:
                data = _read(path)
                if isinstance(data, str):
                    results.append((path, ImportResult(REJECTED, data)))
                    continue
                results.append(
                    (
                        path,
                        await import_document(
                            db,
                            data,
                            OPERATOR,
                            incident_grace=timedelta(hours=settings.incident_grace_hours),
                        ),
                    )
                )
        finally:
            await db.dispose()
        return results

    for path, result in asyncio.run(run()):
        if args.json:
            print(
                json.dumps(
                    {
                        "file": path,
                        "status": result.status,
                        "reason": result.reason,
                        "alert_id": result.alert_id,
                        "matched_patients": result.matched_patients,
                    },
                    ensure_ascii=False,
                )
            )
        else:
            where = f" alert {result.alert_id}" if result.alert_id is not None else ""
            reason = f": {result.reason}" if result.reason else ""
            print(f"{path}: {result.status}{where}, {result.matched_patients} patients{reason}")
    return 0


def _cmd_sources_add(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def run() -> str:
        db = Database.from_url(settings.database_url)
        try:
            _source, token = await add_source(db, args.name, trusted=args.trusted)
        finally:
            await db.dispose()
        return token

    try:
        token = asyncio.run(run())
    except BadInput as error:
        print(str(error), file=sys.stderr)
        return EXIT_USAGE
    kind = "trusted" if args.trusted else "untrusted"
    print(f"Added {kind} alert source {args.name!r}. Its sender credential, shown only now:")
    print(token)
    print("Send it as `Authorization: Bearer <credential>` with POST /alerts.", file=sys.stderr)
    return 0
