"""`renraku admin add-idp`: registers a provider once, refuses what it must, stores nothing then."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from renraku import cli
from renraku.accounts.models import IdentityProvider
from renraku.accounts.oidc_cli import register
from renraku.audit.models import AuditRecord
from renraku.runtime import Runtime
from tests.audit.support import write_key

GOOD = [
    "add-idp",
    "--key",
    "gamagori",
    "--name",
    "蒲郡市 ID",
    "--municipality",
    "232149",
    "--issuer",
    "https://id.city.gamagori.example/realms/staff",
    "--client-id",
    "renraku",
]


def admin_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="renraku admin")
    register(parser.add_subparsers(dest="what", required=True))
    return parser


async def run(argv: list[str]) -> int:
    args = admin_parser().parse_args(argv)
    # The command runs its own event loop, as it does from a shell.
    return int(await asyncio.to_thread(args.func, args))


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch, database_url: str) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RENRAKU_MODE", "demo")
    for name in ("RENRAKU_IDP_CLIENT_SECRET", "BROKER_URL", "RENRAKU_PUBLIC_ORIGIN"):
        monkeypatch.delenv(name, raising=False)


async def providers(runtime: Runtime) -> list[IdentityProvider]:
    async with runtime.db.session() as session:
        return list((await session.exec(select(IdentityProvider))).all())


async def audit_count(runtime: Runtime) -> int:
    async with runtime.db.session() as session:
        return (await session.exec(select(func.count()).select_from(AuditRecord))).one()


async def test_add_idp_stores_the_provider_and_audits_it(
    environment: None,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RENRAKU_IDP_CLIENT_SECRET", "from-the-environment")
    assert await run(GOOD) == 0
    assert "/auth/oidc/gamagori/callback" in capsys.readouterr().out
    [stored] = await providers(runtime)
    assert (stored.key, stored.municipality_code, stored.client_id) == (
        "gamagori",
        "232149",
        "renraku",
    )
    assert stored.issuer == "https://id.city.gamagori.example/realms/staff"
    assert stored.client_secret == "from-the-environment"
    async with runtime.db.session() as session:
        record = (
            await session.exec(select(AuditRecord).order_by(col(AuditRecord.id).desc()))
        ).first()
    assert record is not None and record.action == "accounts.idp_added"
    assert "from-the-environment" not in str(record.detail)

    # The same key again is refused, and the first registration stays as it was.
    audits = await audit_count(runtime)
    assert await run([*GOOD[:-1], "another-client", "--client-secret", "s"]) == 1
    assert [p.client_id for p in await providers(runtime)] == ["renraku"]
    assert await audit_count(runtime) == audits


@pytest.mark.parametrize(
    ("option", "value", "field"),
    [
        ("--key", "Gamagori City", "key"),
        ("--key", "k" * 81, "key"),
        ("--name", " ", "name"),
        ("--municipality", "999999", "municipality"),
        ("--municipality", "2321490' OR '1'='1", "municipality"),
        ("--issuer", "http://id.gamagori.example", "issuer"),
        ("--issuer", "https://id.gamagori.example/?next=evil", "issuer"),
        ("--issuer", "javascript:alert(1)", "issuer"),
        ("--issuer", "https://" + "a" * 400 + ".example", "issuer"),
        ("--client-id", "c" * 201, "client_id"),
        ("--client-secret", "s" * 401, "client_secret"),
    ],
)
async def test_add_idp_refuses_bad_input_and_stores_nothing(
    environment: None,
    runtime: Runtime,
    capsys: pytest.CaptureFixture[str],
    option: str,
    value: str,
    field: str,
) -> None:
    argv = list(GOOD)
    if option in argv:
        argv[argv.index(option) + 1] = value
    else:
        argv += [option, value]
    audits = await audit_count(runtime)
    assert await run(argv) == 1
    assert f"({field})" in capsys.readouterr().err
    assert await providers(runtime) == []
    assert await audit_count(runtime) == audits


async def test_plain_http_issuer_is_for_loopback_outside_production_only(
    environment: None, runtime: Runtime, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    loopback = [*GOOD[:-3], "http://127.0.0.1:9000", "--client-id", "renraku"]
    monkeypatch.setenv("RENRAKU_MODE", "production")
    monkeypatch.setenv("RENRAKU_SECRET_KEY", "a-production-secret-of-enough-length-0123456789")
    monkeypatch.setenv("RENRAKU_AUDIT_KEY_FILE", str(tmp_path / "audit-key.pem"))
    write_key(tmp_path / "audit-key.pem")
    assert await run(loopback) == 1
    assert await providers(runtime) == []
    monkeypatch.setenv("RENRAKU_MODE", "demo")
    assert await run(loopback) == 0
    assert [p.issuer for p in await providers(runtime)] == ["http://127.0.0.1:9000"]


def test_the_renraku_command_offers_add_idp_under_admin() -> None:
    args = cli.build_parser().parse_args(["admin", *GOOD])
    assert args.func.__module__ == "renraku.accounts.oidc_cli"
