"""`renraku alerts sources list` and `sources revoke` on the command line."""

from __future__ import annotations

import asyncio
import json

import pytest
from sqlmodel import col, select

from renraku.audit.models import AuditRecord
from renraku.cli import main
from renraku.db import Database


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.delenv("RENRAKU_MODE", raising=False)
    return database_url


def _audit_actions(database_url: str) -> list[tuple[str, str, dict[str, object]]]:
    async def run() -> list[tuple[str, str, dict[str, object]]]:
        db = Database.from_url(database_url)
        try:
            async with db.session() as session:
                rows = (
                    await session.exec(
                        select(AuditRecord)
                        .where(AuditRecord.object_type == "alert_source")
                        .order_by(col(AuditRecord.id))
                    )
                ).all()
        finally:
            await db.dispose()
        return [(row.action, row.actor_kind, dict(row.detail)) for row in rows]

    return asyncio.run(run())


def test_sources_list_shows_each_source_and_revoke_ends_one(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["alerts", "sources", "list"]) == 0
    assert "No alert sources yet" in capsys.readouterr().out
    assert main(["alerts", "sources", "add", "city feed"]) == 0
    assert main(["alerts", "sources", "add", "JMA", "--trusted"]) == 0
    capsys.readouterr()
    assert main(["alerts", "sources", "revoke", "city feed"]) == 0
    assert "no longer works" in capsys.readouterr().out

    assert main(["alerts", "sources", "list", "--json"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [list(line) for line in listed] == [["name", "trusted", "created", "revoked"]] * 2
    jma, city = listed
    assert (jma["name"], jma["trusted"], jma["revoked"]) == ("JMA", True, None)
    assert (city["name"], city["trusted"]) == ("city feed", False)
    assert isinstance(city["revoked"], str) and city["revoked"] >= city["created"]

    assert main(["alerts", "sources", "list"]) == 0
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("JMA\ttrusted\tcreated ") and text[0].endswith("\tactive")
    assert text[1].startswith("city feed\tuntrusted\tcreated ") and "\trevoked " in text[1]

    # Revoked already, or never added: said, and nothing changes.
    assert main(["alerts", "sources", "revoke", "city feed"]) == 2
    assert "revoked already" in capsys.readouterr().err
    assert main(["alerts", "sources", "revoke", "nobody"]) == 2
    assert "No alert source is named 'nobody'" in capsys.readouterr().err

    assert _audit_actions(cli_env) == [
        ("alert_source.add", "system", {"name": "city feed", "trusted": False}),
        ("alert_source.add", "system", {"name": "JMA", "trusted": True}),
        ("alert_source.revoke", "system", {"name": "city feed"}),
    ]
