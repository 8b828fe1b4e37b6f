"""The `renraku` command: serve, demo, migrate, seed, audit, admin, import.

Each command group lives beside its domain and registers itself here through `COMMAND_GROUPS`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence

import uvicorn

from renraku.accounts import cli as accounts_cli
from renraku.accounts import import_cli
from renraku.accounts import oidc_cli as accounts_oidc_cli
from renraku.alerts import cli as alerts_cli
from renraku.audit.chain import lock_chain, verify
from renraku.audit.checkpoints import configured_public_key, load_signing_key, write_checkpoint
from renraku.audit.outside import append_line, line_of, read_log
from renraku.audit.schedule import overdue_after
from renraku.db import Database
from renraku.jobs import run_once
from renraku.logs import configure_logging
from renraku.metrics import MULTIPROCESS_DIR
from renraku.migrate import upgrade
from renraku.runtime import build_runtime
from renraku.seed import cli as seed_cli
from renraku.seed.accounts_table import loaded_sentence, print_demo_accounts
from renraku.seed.demo import seed_demo
from renraku.settings import ConfigurationError, load_settings
from renraku.teams import cli as teams_cli

EXIT_USAGE = 2


def _cmd_migrate(_args: argparse.Namespace) -> int:
    settings = load_settings()
    upgrade(settings.database_url)
    print("Database is up to date.")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    settings = load_settings()
    if args.workers > 1 and settings.broker_url is None:
        print(
            "Refusing --workers > 1 without BROKER_URL: each worker would have its own live feed.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    with _shared_metrics(args.workers):
        uvicorn.run(
            "renraku.app:build_served_app",
            factory=True,
            # A worker importing the app on a busy machine can take several seconds; uvicorn's
            # supervisor would otherwise kill it as unresponsive at start-up.
            timeout_worker_healthcheck=60,
            host=args.host,
            port=args.port,
            workers=args.workers,
            proxy_headers=False,
            # Renraku's JSON logging; uvicorn's access log would print query strings.
            log_config=None,
            access_log=False,
        )
    return 0


@contextlib.contextmanager
def _shared_metrics(workers: int) -> Iterator[None]:
    """Several workers write their metrics to one directory, so that a scrape of any of them
    answers for all (renraku/metrics.py); an operator's own directory is kept."""
    if workers < 2 or os.environ.get(MULTIPROCESS_DIR):
        yield
        return
    directory = tempfile.mkdtemp(prefix="renraku-metrics-")
    os.environ[MULTIPROCESS_DIR] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROCESS_DIR]
        shutil.rmtree(directory, ignore_errors=True)


def _add_serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)


def _cmd_seed_demo(_args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.is_production:
        print("Refusing to load the demo world in production mode.", file=sys.stderr)
        return EXIT_USAGE

    async def run() -> dict[str, int]:
        db = Database.from_url(settings.database_url)
        try:
            return await seed_demo(db)
        finally:
            await db.dispose()

    print(loaded_sentence(asyncio.run(run())))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    settings = load_settings()
    if settings.is_production:
        print("`renraku demo` runs in demo mode only.", file=sys.stderr)
        return EXIT_USAGE
    for step in (_cmd_migrate, _cmd_seed_demo):
        code = step(args)
        if code:
            return code
    asyncio.run(print_demo_accounts(settings, url=f"http://{args.host}:{args.port}"))
    return _cmd_serve(args)


def _cmd_audit_verify(_args: argparse.Namespace) -> int:
    settings = load_settings()
    public_key = configured_public_key(settings)
    path = settings.audit_log_file

    async def run() -> int:
        log = await asyncio.to_thread(read_log, path)
        db = Database.from_url(settings.database_url)
        try:
            async with db.session() as session:
                result = await verify(
                    session,
                    public_key=public_key,
                    retired_keys=settings.audit_retired_keys,
                    log=log,
                    overdue_after=overdue_after(settings),
                )
        finally:
            await db.dispose()
        for warning in result.warnings:
            print(f"Warning: {warning}.", file=sys.stderr)
        if result.ok:
            print(
                f"Audit chain intact: {result.checked} records, "
                f"{result.checkpoints} signed checkpoints, {result.logged} of them in {path}."
            )
            return 0
        if result.outside:
            where = f" line {result.first_bad_line}" if result.first_bad_line else ""
            print(f"Outside audit log {path}{where}: {result.problem}.")
        elif result.first_bad_checkpoint is not None:
            print(f"Audit checkpoint {result.first_bad_checkpoint} is bad: {result.problem}.")
        else:
            print(f"Audit chain broken at record {result.first_bad_id}: {result.problem}.")
        return 1

    return asyncio.run(run())


def _cmd_audit_checkpoint(_args: argparse.Namespace) -> int:
    settings = load_settings()
    key = load_signing_key(settings)

    async def run() -> int:
        db = Database.from_url(settings.database_url)
        try:
            async with db.transaction() as session:
                await lock_chain(session)
                signed = await write_checkpoint(session, key)
        finally:
            await db.dispose()
        if signed is None:
            print("The audit log is empty: nothing to sign.")
            return 0
        checkpoint = signed.checkpoint
        # Appended once the checkpoint has committed (see outside.append_on_commit).
        try:
            await asyncio.to_thread(append_line, settings.audit_log_file, line_of(signed))
        except OSError as error:
            print(
                f"Checkpoint {checkpoint.id} is in the database but could not be appended to "
                f"{settings.audit_log_file}: {error.strerror or type(error).__name__}.",
                file=sys.stderr,
            )
            return 1
        print(
            f"Checkpoint {checkpoint.id} signs record {checkpoint.record_id} "
            f"(key {checkpoint.public_key}), appended to {settings.audit_log_file}."
        )
        return 0

    return asyncio.run(run())


def _cmd_jobs_run(_args: argparse.Namespace) -> int:
    async def run() -> dict[str, int]:
        runtime = build_runtime(load_settings())
        try:
            return await run_once(runtime)
        finally:
            await runtime.close()

    for name, handled in asyncio.run(run()).items():
        print(f"{name}: {handled}")
    return 0


def _core_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("migrate", help="apply database migrations").set_defaults(func=_cmd_migrate)

    serve = sub.add_parser("serve", help="serve the API and web app")
    _add_serve_options(serve)
    serve.set_defaults(func=_cmd_serve)

    demo = sub.add_parser("demo", help="migrate, load the demo world, print its accounts, serve")
    _add_serve_options(demo)
    demo.set_defaults(func=_cmd_demo)

    seed = sub.add_parser("seed", help="load data").add_subparsers(dest="what", required=True)
    seed.add_parser("demo", help="load seed/demo.toml (idempotent)").set_defaults(
        func=_cmd_seed_demo
    )
    seed_cli.register_synthetic(seed)

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="what", required=True)
    audit.add_parser(
        "verify", help="check the hash chain, its signed checkpoints and the outside log"
    ).set_defaults(func=_cmd_audit_verify)
    audit.add_parser("checkpoint", help="sign the end of the hash chain").set_defaults(
        func=_cmd_audit_checkpoint
    )

    jobs = sub.add_parser("jobs", help="housekeeping").add_subparsers(dest="what", required=True)
    jobs.add_parser(
        "run", help="one round of every housekeeping job (the server runs them by itself)"
    ).set_defaults(func=_cmd_jobs_run)

    admin = sub.add_parser("admin", help="administration").add_subparsers(
        dest="what", required=True
    )
    accounts_cli.register(admin)
    accounts_oidc_cli.register(admin)
    teams_cli.register(admin)


CommandGroup = Callable[["argparse._SubParsersAction[argparse.ArgumentParser]"], None]
COMMAND_GROUPS: list[CommandGroup] = [_core_commands, import_cli.register, alerts_cli.register]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="renraku", description="Renraku care-team notebook")
    sub = parser.add_subparsers(dest="command", required=True)
    for group in COMMAND_GROUPS:
        group(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    configure_logging()
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ConfigurationError as error:
        print(f"Configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    raise SystemExit(main())
