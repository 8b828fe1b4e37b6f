"""Signed checkpoints pin the chain: `renraku audit verify` names any that does not hold."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import col, select

from renraku.audit import chain, checkpoints
from renraku.audit.models import AuditCheckpoint, AuditRecord
from renraku.audit.outside import read_log
from renraku.audit.reads import ReadRecord
from renraku.db import Database
from renraku.runtime import Runtime, build_runtime
from renraku.settings import ConfigurationError, load_settings
from tests.audit.support import execute, run, write_key
from tests.conftest import make_settings


@pytest.fixture
def key(tmp_path: Path) -> Ed25519PrivateKey:
    return write_key(tmp_path / "audit-key.pem")


@pytest.fixture
def environment(
    database_url: str, tmp_path: Path, key: Ed25519PrivateKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RENRAKU_AUDIT_KEY_FILE", str(tmp_path / "audit-key.pem"))
    monkeypatch.delenv("RENRAKU_MODE", raising=False)
    # Anything the commands create by default lands here, not in the working tree.
    monkeypatch.chdir(tmp_path)


async def test_a_signed_checkpoint_verifies(
    environment: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("audit", "checkpoint") == 0
    assert await run("audit", "verify") == 0
    assert "1 signed checkpoints" in capsys.readouterr().out
    async with db.session() as session:
        (checkpoint,) = (await session.exec(select(AuditCheckpoint))).all()
        last = await chain.last_record(session)
    assert last is not None
    assert (checkpoint.record_id, checkpoint.record_hash) == (last.id, last.hash)


async def test_an_edited_signature_is_named(
    environment: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("audit", "checkpoint") == 0
    await execute(db, "UPDATE auditcheckpoint SET signature = :s", s="00" * 64)
    assert await run("audit", "verify") == 1
    assert "checkpoint 1 is bad: signature does not verify" in capsys.readouterr().out


async def test_another_keys_signature_is_named(
    environment: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("audit", "checkpoint") == 0
    async with db.session() as session:
        checkpoint = (await session.exec(select(AuditCheckpoint))).one()
    forged = Ed25519PrivateKey.generate().sign(
        checkpoints.message(checkpoint.record_id, checkpoint.record_hash, checkpoint.signed_at)
    )
    await execute(db, "UPDATE auditcheckpoint SET signature = :s", s=forged.hex())
    assert await run("audit", "verify") == 1
    assert "checkpoint 1 is bad: signature does not verify" in capsys.readouterr().out


async def test_a_checkpoint_re_signed_with_the_forgers_own_key_is_named(
    environment: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("audit", "checkpoint") == 0
    async with db.session() as session:
        last = await chain.last_record(session)
    assert last is not None
    forged = checkpoints.sign(last, Ed25519PrivateKey.generate())
    await execute(
        db,
        "UPDATE auditcheckpoint SET public_key = :k, signature = :s, signed_at = :t",
        k=forged.public_key,
        s=forged.signature,
        t=forged.signed_at,
    )
    assert await run("audit", "verify") == 1
    assert "checkpoint 1 is bad: signed with a key other than" in capsys.readouterr().out


async def test_an_edited_checkpointed_record_is_named(
    environment: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await run("audit", "checkpoint") == 0
    async with db.session() as session:
        last = await chain.last_record(session)
    assert last is not None
    await execute(db, "UPDATE auditrecord SET reason = 'edited' WHERE id = :i", i=last.id)
    assert await run("audit", "verify") == 1
    assert f"broken at record {last.id}: content" in capsys.readouterr().out


async def test_a_rewritten_chain_is_caught_by_its_checkpoint(
    environment: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    """Someone who edits a record and re-hashes every record after it fools the chain alone."""
    assert await run("audit", "checkpoint") == 0
    async with db.transaction() as session:
        records = (await session.exec(select(AuditRecord).order_by(col(AuditRecord.id)))).all()
        records[0].reason = "forged"
        prev = chain.GENESIS
        for record in records:
            record.prev_hash = prev
            record.hash = chain.record_hash(record)
            prev = record.hash
            session.add(record)
    assert await run("audit", "verify") == 1
    assert "checkpoint 1 is bad: its record" in capsys.readouterr().out


async def test_a_cut_off_end_of_the_chain_is_caught_by_its_checkpoint(
    environment: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    async with db.transaction() as session:
        await chain.append(session, actor_id=None, actor_kind="system", action="test.extra")
    assert await run("audit", "checkpoint") == 0
    async with db.session() as session:
        last = await chain.last_record(session)
    assert last is not None
    await execute(db, "DELETE FROM auditrecord WHERE id = :i", i=last.id)
    assert await run("audit", "verify") == 1
    assert f"checkpoint 1 is bad: its record {last.id} is missing" in capsys.readouterr().out


async def test_verify_refuses_checkpoints_without_a_configured_key(
    environment: None, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert await run("audit", "checkpoint") == 0
    monkeypatch.delenv("RENRAKU_AUDIT_KEY_FILE")
    assert await run("audit", "verify") == 1


async def test_demo_mode_makes_a_private_key_on_first_use(
    environment: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RENRAKU_AUDIT_KEY_FILE")
    assert await run("audit", "verify") == 0
    assert not (tmp_path / "var").exists()  # verifying never makes a key
    assert await run("audit", "checkpoint") == 0
    made = tmp_path / "var" / "audit-key.pem"
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    assert await run("audit", "checkpoint") == 0  # the same key, read back
    assert await run("audit", "verify") == 0


def test_production_without_a_key_file_refuses_to_start(tmp_path: Path) -> None:
    env = {"RENRAKU_MODE": "production", "RENRAKU_SECRET_KEY": "k" * 32}
    with pytest.raises(ConfigurationError, match="RENRAKU_AUDIT_KEY_FILE"):
        load_settings(env)
    with pytest.raises(ConfigurationError, match="RENRAKU_AUDIT_KEY_FILE"):
        load_settings({**env, "RENRAKU_AUDIT_KEY_FILE": str(tmp_path / "absent.pem")})
    write_key(tmp_path / "present.pem")
    settings = load_settings({**env, "RENRAKU_AUDIT_KEY_FILE": str(tmp_path / "present.pem")})
    assert settings.audit_key_file == tmp_path / "present.pem"


async def test_a_key_file_that_is_not_an_ed25519_key_is_refused(
    environment: None, tmp_path: Path, db: Database
) -> None:
    (tmp_path / "audit-key.pem").write_text("not a key")
    assert await run("audit", "checkpoint") == 2
    async with db.session() as session:
        assert (await session.exec(select(AuditCheckpoint))).all() == []


async def test_the_read_writer_signs_a_checkpoint_every_thousand_records(
    database_url: str, tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    log_file = tmp_path / "audit-checkpoints.log"
    settings = make_settings(
        database_url, audit_key_file=tmp_path / "audit-key.pem", audit_log_file=log_file
    )
    runtime: Runtime = build_runtime(settings, Database.from_url(database_url))
    try:
        entry = ReadRecord(actor_id=1, actor_kind="professional", action="read")
        for _ in range(checkpoints.CHECKPOINT_EVERY + 1):
            await runtime.read_auditor.record(entry)
        # A write audited in its own transaction, interleaved with the batched reads.
        async with runtime.db.transaction() as session:
            await chain.append(session, actor_id=1, actor_kind="professional", action="t.write")
        await runtime.read_auditor.flush()
        public = checkpoints.public_hex(key)
        async with runtime.db.session() as session:
            result = await chain.verify(session, public_key=public)
            (checkpoint,) = (await session.exec(select(AuditCheckpoint))).all()
        assert result.ok, result
        assert result.checkpoints == 1
        assert checkpoint.record_id >= checkpoints.CHECKPOINT_EVERY
        assert checkpoint.public_key == public
        # Also outside the database, once its transaction committed.
        (line,) = read_log(log_file).lines
        assert (line.record_id, line.signature) == (checkpoint.record_id, checkpoint.signature)
    finally:
        await runtime.close()
