"""`renraku import staff FILE.csv --municipality CODE [--json]`, run as the system.

Exit codes: 0 the file was processed (rejected rows included; the report says which and why),
2 a usage error: a bad code, a municipality not in the database, an unreadable or malformed file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
from pathlib import Path
from typing import Any

from renraku.accounts.staff_csv import MAX_BYTES
from renraku.accounts.staff_import import StaffImportReport, check_import_staff
from renraku.errors import BadInput, NotFound
from renraku.runtime import build_runtime
from renraku.settings import load_settings

EXIT_USAGE = 2
MUNICIPALITY_CODE = re.compile(r"[0-9]{6}")


def _read(path: Path) -> bytes:
    with path.open("rb") as handle:
        # One byte past the limit is enough for the import to refuse the file as too large.
        return handle.read(MAX_BYTES + 1)


def _as_json(path: Path, report: StaffImportReport) -> dict[str, Any]:
    return {
        "file": str(path),
        "municipality": report.municipality_code,
        **report.counts,
        "rows": [
            {
                "line": row.line,
                "status": row.status.value,
                "username": row.username,
                "column": row.column,
                "reason": row.reason,
                "setup_link": row.setup_link,
            }
            for row in report.rows
        ],
    }


def _print_table(report: StaffImportReport) -> None:
    for row in report.rows:
        detail = row.reason or row.setup_link or ""
        line = f"line {row.line:>5}  {row.status.value:<9}  {row.username or '-':<24}  {detail}"
        print(line.rstrip())
    counts = report.counts
    print(", ".join(f"{n} {status}" for status, n in counts.items()) + ".")
    if counts["created"]:
        print("Send each new user their set-up link privately; each works once.")


def _cmd_import_staff(args: argparse.Namespace) -> int:
    code: str = args.municipality
    if not MUNICIPALITY_CODE.fullmatch(code):
        print("--municipality takes a 6-digit municipality code.", file=sys.stderr)
        return EXIT_USAGE
    try:
        data = _read(args.file)
    except OSError as error:
        print(f"Cannot read {args.file}: {error.strerror or error}.", file=sys.stderr)
        return EXIT_USAGE
    settings = load_settings()

    async def run() -> StaffImportReport:
        runtime = build_runtime(settings)
        try:
            return await check_import_staff(runtime, actor=None, municipality_code=code, data=data)
        finally:
            await runtime.close()

    try:
        report = asyncio.run(run())
    except NotFound:
        print(f"No municipality with code {code} in the database.", file=sys.stderr)
        return EXIT_USAGE
    except BadInput as error:
        print(f"{args.file}: {error} Nothing was imported.", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(_as_json(args.file, report), ensure_ascii=False))
    else:
        _print_table(report)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `import` and its `staff` command to the top-level commands."""
    group = sub.add_parser("import", help="import data from files")
    kinds = group.add_subparsers(dest="what", required=True)
    staff = kinds.add_parser(
        "staff", help="create or update a municipality's professionals from a CSV file"
    )
    staff.add_argument("file", type=Path, metavar="FILE.csv")
    staff.add_argument("--municipality", required=True, metavar="CODE")
    staff.add_argument("--json", action="store_true", help="print the report as one JSON object")
    staff.set_defaults(func=_cmd_import_staff)
