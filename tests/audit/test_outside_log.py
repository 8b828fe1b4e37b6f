"""The outside log: someone who can write to the database, but not to the checkpoint file, cannot
rewrite, cut off or thin out the audit log without `renraku audit verify` failing."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import col, select

from renraku.audit import chain, checkpoints, outside, schedule
from renraku.audit.models import AuditRecord
from renraku.db import Database
from renraku.jobs import all_jobs
from renraku.runtime import build_runtime
from renraku.settings import ConfigurationError, load_settings
from renraku.timeutil import utcnow
from tests.audit.support import execute, run, write_key
from tests.conftest import make_settings

ANOTHER_CHAIN = "f" * 64


@pytest.fixture
def key(tmp_path: Path) -> Ed25519PrivateKey:
    return write_key(tmp_path / "audit-key.pem")


@pytest.fixture
def log_file(tmp_path: Path) -> Path:
    return tmp_path / "shipped" / "audit-checkpoints.log"


@pytest.fixture
def environment(
    database_url: str,
    tmp_path: Path,
    key: Ed25519PrivateKey,
    log_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("RENRAKU_AUDIT_KEY_FILE", str(tmp_path / "audit-key.pem"))
    monkeypatch.setenv("RENRAKU_AUDIT_LOG_FILE", str(log_file))
    monkeypatch.delenv("RENRAKU_AUDIT_RETIRED_KEYS", raising=False)
    monkeypatch.delenv("RENRAKU_MODE", raising=False)
    monkeypatch.chdir(tmp_path)


async def append_reads(db: Database, count: int = 3) -> int:
    """Append `count` records of patient reads; the last one's id."""
    last = 0
    for n in range(count):
        async with db.transaction() as session:
            last = await chain.append(
                session,
                actor_id=n,
                actor_kind="professional",
                action="read",
                object_type=chain.PATIENT_OBJECT,
                object_ids=[n + 1, n + 2],
            )
    return last


async def rewrite_from(db: Database, record_id: int) -> None:
    """Edit record `record_id` and re-hash every record from it on, as a forger would."""
    async with db.transaction() as session:
        records = (
            await session.exec(
                select(AuditRecord)
                .where(col(AuditRecord.id) >= record_id)
                .order_by(col(AuditRecord.id))
            )
        ).all()
        prev = records[0].prev_hash
        records[0].reason = "forged"
        for record in records:
            record.prev_hash = prev
            record.hash = chain.record_hash(record)
            prev = record.hash
            session.add(record)


async def verify_at(
    db: Database, key: Ed25519PrivateKey, log_file: Path, *, now: datetime
) -> chain.VerifyResult:
    """Verify as `renraku audit verify` would at `now`, with 10-minute checkpoints."""
    async with db.session() as session:
        return await chain.verify(
            session,
            public_key=checkpoints.public_hex(key),
            log=outside.read_log(log_file),
            overdue_after=timedelta(minutes=11),
            now=now,
        )


async def started(db: Database) -> datetime:
    """When the chain's first record was written (the demo seed's, when the template was made)."""
    async with db.session() as session:
        first = await session.get(AuditRecord, 1)
    assert first is not None
    return first.at


def log_lines(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


def add_to_log(path: Path, line: bytes) -> None:
    """What only the server should do: write to the outside log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("ab") as out:
        out.write(line)


async def test_the_checkpoint_command_appends_a_line_naming_the_chain(
    environment: None, db: Database, log_file: Path, key: Ed25519PrivateKey
) -> None:
    last = await append_reads(db)
    assert await run("audit", "checkpoint") == 0
    (line,) = log_lines(log_file)
    async with db.session() as session:
        first = await session.get(AuditRecord, 1)
        record = await session.get(AuditRecord, last)
    assert first is not None and record is not None
    assert line["chain"] == first.hash
    assert (line["record_id"], line["record_hash"]) == (last, record.hash)
    assert line["public_key"] == checkpoints.public_hex(key)
    assert await run("audit", "verify") == 0


async def test_a_rewrite_with_its_checkpoints_deleted_is_caught(
    environment: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    last = await append_reads(db)
    assert await run("audit", "checkpoint") == 0
    await rewrite_from(db, last - 1)
    await execute(db, "DELETE FROM auditcheckpoint")
    assert await run("audit", "verify") == 1
    out = capsys.readouterr().out
    assert f"line 1: record {last} no longer has the hash signed here" in out


async def test_a_cut_off_end_with_its_checkpoints_deleted_is_caught(
    environment: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    last = await append_reads(db)
    assert await run("audit", "checkpoint") == 0
    await execute(db, "DELETE FROM auditcheckpoint")
    await execute(db, "DELETE FROM auditsubject WHERE audit_id >= :i", i=last - 1)
    await execute(db, "DELETE FROM auditrecord WHERE id >= :i", i=last - 1)
    assert await run("audit", "verify") == 1
    out = capsys.readouterr().out
    assert f"it signs record {last} but the chain ends at record {last - 2}" in out


async def test_a_rolled_back_checkpoint_is_caught(
    environment: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    await append_reads(db, 1)
    assert await run("audit", "checkpoint") == 0
    last = await append_reads(db, 1)
    assert await run("audit", "checkpoint") == 0
    # As after restoring a backup taken between the two checkpoints (records kept, to isolate it).
    await execute(db, "DELETE FROM auditcheckpoint WHERE record_id = :i", i=last)
    assert await run("audit", "verify") == 1
    out = capsys.readouterr().out
    assert f"line 2: the database has no checkpoint of record {last}" in out


@pytest.mark.parametrize(
    "tamper",
    [
        "DELETE FROM auditsubject WHERE audit_id = :i AND patient_id = 1",
        "UPDATE auditsubject SET patient_id = 99 WHERE audit_id = :i AND patient_id = 1",
        "INSERT INTO auditsubject (audit_id, patient_id) VALUES (:i, 99)",
    ],
    ids=["deleted", "changed", "added"],
)
async def test_a_tampered_patient_index_row_is_named(
    environment: None, db: Database, capsys: pytest.CaptureFixture[str], tamper: str
) -> None:
    """The index is what a patient's access history reads: it must say what the record says."""
    first = await append_reads(db, 1)
    await append_reads(db, 1)
    await execute(db, tamper, i=first)
    assert await run("audit", "verify") == 1
    out = capsys.readouterr().out
    assert f"broken at record {first}: its patient index (auditsubject) differs" in out


async def test_a_patient_index_row_for_no_record_is_named(
    environment: None, db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    last = await append_reads(db, 1)
    await execute(db, "INSERT INTO auditsubject (audit_id, patient_id) VALUES (:i, 1)", i=last + 5)
    assert await run("audit", "verify") == 1
    assert f"broken at record {last + 5}: a patient index" in capsys.readouterr().out


async def test_other_chains_lines_are_ignored(
    environment: None, db: Database, log_file: Path
) -> None:
    # A line of another database's chain: a record this one lacks, signed with an unknown key.
    other = Ed25519PrivateKey.generate()
    signed_at = utcnow()
    foreign = {
        "chain": ANOTHER_CHAIN,
        "record_id": 10**6,
        "record_hash": "a" * 64,
        "signed_at": signed_at.isoformat(),
        "public_key": checkpoints.public_hex(other),
        "signature": other.sign(checkpoints.message(10**6, "a" * 64, signed_at)).hex(),
    }
    add_to_log(log_file, json.dumps(foreign).encode() + b"\n")
    await append_reads(db, 1)
    assert await run("audit", "checkpoint") == 0
    assert len(log_lines(log_file)) == 2
    assert await run("audit", "verify") == 0


async def test_a_retired_key_still_verifies_what_it_signed(
    environment: None,
    db: Database,
    tmp_path: Path,
    key: Ed25519PrivateKey,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert await run("audit", "checkpoint") == 0
    write_key(tmp_path / "audit-key.pem")  # rotated: a new key in the same file
    await append_reads(db, 1)
    assert await run("audit", "checkpoint") == 0
    assert await run("audit", "verify") == 1
    assert "checkpoint 1 is bad: signed with a key other than" in capsys.readouterr().out
    monkeypatch.setenv("RENRAKU_AUDIT_RETIRED_KEYS", f" {checkpoints.public_hex(key).upper()} ")
    assert await run("audit", "verify") == 0
    assert "2 signed checkpoints, 2 of them in" in capsys.readouterr().out


def test_retired_keys_must_be_public_keys_in_hex() -> None:
    key = checkpoints.public_hex(Ed25519PrivateKey.generate())
    assert load_settings({"RENRAKU_AUDIT_RETIRED_KEYS": f"{key},"}).audit_retired_keys == (key,)
    for bad in ("abc", "z" * 64, f"{key},{key}00"):
        with pytest.raises(ConfigurationError, match="RENRAKU_AUDIT_RETIRED_KEYS"):
            load_settings({"RENRAKU_AUDIT_RETIRED_KEYS": bad})


def test_the_outside_log_and_its_schedule_are_configured() -> None:
    defaults = load_settings({})
    assert defaults.audit_log_file == Path("var/audit-checkpoints.log")
    assert defaults.audit_checkpoint_minutes == 10
    assert defaults.audit_retired_keys == ()
    chosen = load_settings(
        {"RENRAKU_AUDIT_LOG_FILE": "/srv/log", "RENRAKU_AUDIT_CHECKPOINT_MINUTES": "3"}
    )
    assert (chosen.audit_log_file, chosen.audit_checkpoint_minutes) == (Path("/srv/log"), 3)


async def test_the_server_signs_a_checkpoint_on_a_time_schedule(
    database_url: str, tmp_path: Path, key: Ed25519PrivateKey, log_file: Path
) -> None:
    assert schedule.JOB_NAME in {job.name for job in all_jobs()}
    settings = make_settings(
        database_url,
        audit_key_file=tmp_path / "audit-key.pem",
        audit_log_file=log_file,
        audit_checkpoint_minutes=10,
    )
    runtime = build_runtime(settings, Database.from_url(database_url))
    try:
        assert await schedule.sign_when_due(runtime) == 1  # none yet: signed at once
        assert await schedule.sign_when_due(runtime) == 0  # nothing new to sign
        last = await append_reads(runtime.db, 1)
        assert await schedule.sign_when_due(runtime) == 0  # the last is recent
        later = utcnow() + timedelta(minutes=10)
        assert await schedule.sign_when_due(runtime, now=later) == 1
        assert [line["record_id"] for line in log_lines(log_file)][-1] == last
        result = await verify_at(runtime.db, key, log_file, now=later + timedelta(hours=1))
        assert result.ok and result.logged == 2 and result.warnings == (), result
    finally:
        await runtime.close()


async def test_a_checkpoint_is_appended_only_once_its_transaction_commits(
    db: Database, key: Ed25519PrivateKey, log_file: Path
) -> None:
    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        async with db.transaction() as session:
            signed = await checkpoints.write_checkpoint(session, key)
            assert signed is not None
            outside.append_on_commit(session, signed, log_file)
            raise Abandoned
    assert log_lines(log_file) == []


async def test_an_old_chain_without_outside_checkpoints_is_reported(
    db: Database, key: Ed25519PrivateKey, log_file: Path
) -> None:
    await append_reads(db, 1)
    fresh = await verify_at(db, key, log_file, now=await started(db))
    assert fresh.ok and fresh.warnings == ()
    # No log file at all: a warning (a verify away from the server's file, or none set up).
    absent = await verify_at(db, key, log_file, now=utcnow() + timedelta(days=1))
    assert absent.ok and "no outside log at" in absent.warnings[0]
    # Covered up to a point, then nothing for longer than an interval: a warning too.
    async with db.transaction() as session:
        signed = await checkpoints.write_checkpoint(session, key)
        assert signed is not None
        outside.append_on_commit(session, signed, log_file)
    await append_reads(db, 1)
    stale = await verify_at(db, key, log_file, now=utcnow() + timedelta(days=1))
    assert stale.ok and "covers the records since" in stale.warnings[0]


async def test_an_old_chain_in_a_log_of_other_chains_only_fails(
    db: Database, key: Ed25519PrivateKey, log_file: Path
) -> None:
    """What a rewrite from record 1 looks like: the chain's name (record 1's hash) changed, so
    none of the log's lines name it any more."""
    async with db.transaction() as session:
        signed = await checkpoints.write_checkpoint(session, key)
        assert signed is not None
        outside.append_on_commit(session, signed, log_file)
    await rewrite_from(db, 1)
    await execute(db, "DELETE FROM auditcheckpoint")
    young = await verify_at(db, key, log_file, now=await started(db))
    assert young.ok, young  # too young to tell
    result = await verify_at(db, key, log_file, now=utcnow() + timedelta(days=1))
    assert not result.ok and result.outside
    assert "none of this chain" in result.problem


@pytest.mark.parametrize(
    "garbage",
    [
        b"not json\n",
        b"[1, 2]\n",
        b'{"chain": "x"}\n',
        b"\xff\xfe\n",
        b'{"chain":"x","record_id":"1","record_hash":"","signed_at":"","public_key":"",'
        b'"signature":""}\n',
        b'{"chain":"x","record_id":1,"record_hash":"","signed_at":"yesterday","public_key":"",'
        b'"signature":""}\n',
    ],
    ids=["text", "list", "fields", "bytes", "id", "time"],
)
async def test_a_malformed_line_is_named_not_raised(
    environment: None,
    db: Database,
    log_file: Path,
    capsys: pytest.CaptureFixture[str],
    garbage: bytes,
) -> None:
    assert await run("audit", "checkpoint") == 0
    add_to_log(log_file, garbage)
    assert await run("audit", "verify") == 1
    assert "line 2: not a checkpoint line" in capsys.readouterr().out


async def test_an_unreadable_log_is_named_not_raised(
    environment: None, db: Database, log_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_to_log(log_file / "a directory in its place", b"")
    assert await run("audit", "verify") == 1
    assert "it cannot be read" in capsys.readouterr().out
    assert await run("audit", "checkpoint") == 1  # in the database, but said it is not outside
    assert "could not be appended" in capsys.readouterr().err
