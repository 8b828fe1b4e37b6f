"""`renraku alerts import FILE... [--json]`, `renraku alerts watch URL --interval S --source NAME`
and `renraku alerts sources add NAME [--trusted] | list [--json] | revoke NAME`."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from datetime import datetime, timedelta
from pathlib import Path

from renraku.alerts.imports import REJECTED, ImportResult, Origin, import_document
from renraku.alerts.models import AlertSource
from renraku.alerts.sources import add_source, list_sources, revoke_source
from renraku.alerts.watch import RETRY, EntryOutcome, PollOutcome, Refused, Watcher, check_url
from renraku.alerts.xml_safety import MAX_DOCUMENT_BYTES
from renraku.db import Database
from renraku.errors import BadInput
from renraku.settings import load_settings

EXIT_FAILED = 1
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
    listing = sources_what.add_parser("list", help="every source: trusted, created, revoked")
    listing.add_argument("--json", action="store_true", help="one JSON object per source")
    listing.set_defaults(func=_cmd_sources_list)
    revoke = sources_what.add_parser(
        "revoke", help="stop a source's credential working at once (its alerts stay)"
    )
    revoke.add_argument("name")
    revoke.set_defaults(func=_cmd_sources_revoke)
    watch = what.add_parser(
        "watch", help="poll an Atom or RSS feed of alerts and import new entries as a source"
    )
    watch.add_argument("url", metavar="URL", help="the feed (http or https)")
    watch.add_argument(
        "--interval",
        type=_seconds,
        default=60.0,
        metavar="S",
        help="seconds between polls (default 60; longer after failures, up to 10 times)",
    )
    watch.add_argument(
        "--source", required=True, metavar="NAME", help="the source the documents come from"
    )
    watch.add_argument("--once", action="store_true", help="poll once and exit")
    watch.add_argument("--json", action="store_true", help="one JSON object per new entry")
    watch.add_argument(
        "--allow-private",
        action="store_true",
        help="allow feeds and documents on private, loopback or link-local addresses",
    )
    watch.set_defaults(func=_cmd_watch)


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 1 <= value <= 86400:
        raise argparse.ArgumentTypeError("the interval is 1 to 86400 seconds")
    return value


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


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None


def _cmd_sources_list(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def run() -> list[AlertSource]:
        db = Database.from_url(settings.database_url)
        try:
            return await list_sources(db)
        finally:
            await db.dispose()

    sources = asyncio.run(run())
    for source in sources:
        if args.json:
            print(
                json.dumps(
                    {
                        "name": source.name,
                        "trusted": source.trusted,
                        "created": _when(source.created_at),
                        "revoked": _when(source.revoked_at),
                    },
                    ensure_ascii=False,
                )
            )
        else:
            kind = "trusted" if source.trusted else "untrusted"
            revoked = f"revoked {_when(source.revoked_at)}" if source.revoked_at else "active"
            print(f"{source.name}\t{kind}\tcreated {_when(source.created_at)}\t{revoked}")
    if not sources and not args.json:
        print("No alert sources yet: add one with `renraku alerts sources add NAME`.")
    return 0


def _cmd_sources_revoke(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def run() -> AlertSource:
        db = Database.from_url(settings.database_url)
        try:
            return await revoke_source(db, args.name)
        finally:
            await db.dispose()

    try:
        source = asyncio.run(run())
    except BadInput as error:
        print(str(error), file=sys.stderr)
        return EXIT_USAGE
    print(f"Revoked alert source {source.name!r}: its credential no longer works.")
    return 0


def _print_entry(outcome: EntryOutcome, *, as_json: bool) -> None:
    if as_json:
        line = {
            "entry": outcome.entry,
            "url": outcome.url,
            "status": outcome.status,
            "reason": outcome.reason,
            "alert_id": outcome.alert_id,
            "matched_patients": outcome.matched_patients,
        }
        print(json.dumps(line, ensure_ascii=False), flush=True)
        return
    where = f" alert {outcome.alert_id}" if outcome.alert_id is not None else ""
    reason = f": {outcome.reason}" if outcome.reason else ""
    counted = "" if outcome.status == RETRY else f", {outcome.matched_patients} patients"
    print(f"{outcome.entry}: {outcome.status}{where}{counted}{reason}", flush=True)


def _cmd_watch(args: argparse.Namespace) -> int:
    settings = load_settings()
    try:
        check_url(args.url)
    except Refused as refused:
        print(str(refused), file=sys.stderr)
        return EXIT_USAGE
    # The watcher logs a line per poll and per entry; httpx's line per request (with the whole
    # URL) would say it again.
    logging.getLogger("httpx").setLevel(logging.WARNING)

    def report(outcome: EntryOutcome) -> None:
        _print_entry(outcome, as_json=args.json)

    async def run() -> PollOutcome | None:
        db = Database.from_url(settings.database_url)
        watcher = Watcher(
            db,
            args.url,
            args.source,
            interval=args.interval,
            allow_private=args.allow_private,
            incident_grace=timedelta(hours=settings.incident_grace_hours),
        )
        loop = asyncio.get_running_loop()
        signals = (signal.SIGINT, signal.SIGTERM)

        def stop() -> None:
            # A second signal acts as it would without us (Ctrl-C twice ends at once).
            for number in signals:
                loop.remove_signal_handler(number)
            watcher.stop()

        try:
            await watcher.check()
            if args.once:
                return await watcher.poll(report)
            for number in signals:
                loop.add_signal_handler(number, stop)
            await watcher.run(report=report)
            return None
        finally:
            for number in signals:
                loop.remove_signal_handler(number)
            await watcher.close()
            await db.dispose()

    try:
        outcome = asyncio.run(run())
    except Refused as refused:
        print(str(refused), file=sys.stderr)
        return EXIT_USAGE
    if outcome is not None and outcome.reason:
        print(outcome.reason, file=sys.stderr)
    return EXIT_FAILED if outcome is not None and outcome.failed else 0
