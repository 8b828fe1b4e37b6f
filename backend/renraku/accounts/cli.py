"""`renraku admin create-operator` and `renraku admin add-municipality`.

Exit codes: 0 done (the set-up link is printed), 1 refused (the username is taken; nothing stored),
2 a usage error (bad username, name or municipality code; nothing stored).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from renraku.accounts import admin
from renraku.errors import BadInput
from renraku.runtime import Runtime, build_runtime
from renraku.settings import load_settings

EXIT_REFUSED = 1
EXIT_USAGE = 2


def _run(work: Callable[[Runtime], Awaitable[str]]) -> int:
    """Run `work(runtime)` against DATABASE_URL and print what it returns."""

    async def run() -> str:
        runtime = build_runtime(load_settings())
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    try:
        print(asyncio.run(run()))
    except BadInput as error:
        print(f"Refused: {error}", file=sys.stderr)
        return EXIT_REFUSED
    return 0


def _usage_error(error: BadInput) -> int:
    print(f"Usage error: {error}", file=sys.stderr)
    return EXIT_USAGE


def _cmd_create_operator(args: argparse.Namespace) -> int:
    try:
        username = admin.validate_username(args.username)
        name = admin.validate_display_name(args.display_name)
    except BadInput as error:
        return _usage_error(error)

    async def work(runtime: Runtime) -> str:
        account = await admin.check_create_operator(runtime, username=username, display_name=name)
        return (
            f"Operator {account.user.username} created. "
            f"Send this single-use set-up link to them:\n{account.setup_url}"
        )

    return _run(work)


def _cmd_add_municipality(args: argparse.Namespace) -> int:
    try:
        info = admin.validate_municipality_code(args.code)
        username = admin.validate_username(args.manager_username)
        name = admin.validate_display_name(args.manager_name)
    except BadInput as error:
        return _usage_error(error)

    async def work(runtime: Runtime) -> str:
        added = await admin.check_add_municipality(
            runtime, info=info, manager_username=username, manager_name=name
        )
        return (
            f"Municipality {info.code} ({info.name_en}) is set up with manager "
            f"{added.manager.user.username}. "
            f"Send this single-use set-up link to them:\n{added.manager.setup_url}"
        )

    return _run(work)


def register(admin_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the account commands to the `renraku admin` group."""
    operator = admin_sub.add_parser(
        "create-operator", help="create a platform operator and print their set-up link"
    )
    operator.add_argument("--username", required=True)
    operator.add_argument("--display-name", required=True)
    operator.set_defaults(func=_cmd_create_operator)

    municipality = admin_sub.add_parser(
        "add-municipality",
        help="set up a municipality with its first manager and print the manager's set-up link",
    )
    municipality.add_argument("--code", required=True, help="6-digit code with check digit")
    municipality.add_argument("--manager-username", required=True)
    municipality.add_argument("--manager-name", required=True)
    municipality.set_defaults(func=_cmd_add_municipality)
