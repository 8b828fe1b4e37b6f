"""The outside log: every signed checkpoint, also appended to a file the database writer cannot
rewrite (RENRAKU_AUDIT_LOG_FILE, one JSON line per checkpoint; README says how to ship it away).

Someone who can write to the database can rewrite the chain and delete the checkpoints that pin
it, but not these lines: `renraku audit verify` fails when a line names a record the database no
longer has (a cut-off end), a record whose hash has changed (a rewrite), or a checkpoint the
database has lost (deleted, or rolled back with a restore). One file may serve several databases:
each line names its chain by the hash of the chain's first record, and lines of other chains are
ignored.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.audit.checkpoints import Signed, signature_holds
from renraku.audit.models import AuditCheckpoint
from renraku.db import publish_on_commit

log = logging.getLogger("renraku.audit")

_FIELDS = ("chain", "record_id", "record_hash", "signed_at", "public_key", "signature")


@dataclass(frozen=True)
class Line:
    number: int  # in the file, from 1
    chain: str
    record_id: int
    record_hash: str
    signed_at: datetime
    public_key: str
    signature: str


@dataclass(frozen=True)
class OutsideLog:
    path: Path
    present: bool = False
    lines: tuple[Line, ...] = ()
    # Line numbers that are not a checkpoint line; why the file could not be read.
    malformed: tuple[int, ...] = ()
    error: str = ""
    chains: frozenset[str] = field(default_factory=frozenset)


def line_of(signed: Signed) -> bytes:
    checkpoint = signed.checkpoint
    body = {
        "chain": signed.chain,
        "record_id": checkpoint.record_id,
        "record_hash": checkpoint.record_hash,
        "signed_at": checkpoint.signed_at.isoformat(),
        "public_key": checkpoint.public_key,
        "signature": checkpoint.signature,
    }
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def append_line(path: Path, line: bytes) -> None:
    """Append `line` and fsync. One write() of a line this short on a file opened O_APPEND lands
    whole at the end, so several workers appending at once never interleave."""
    created = not path.exists()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        # The new file's name must survive a crash too.
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def append_on_commit(session: AsyncSession, signed: Signed, path: Path) -> None:
    """Append `signed` to the outside log once the caller's transaction commits.

    After, never before: a line whose checkpoint was rolled back would make verify report a
    deleted checkpoint, whereas a checkpoint whose line is lost (a crash, a full disk) only leaves
    that stretch of the chain pinned by the database alone. A failure is logged, not raised: the
    records are committed by then, and a caller that retried would write them twice."""
    line = line_of(signed)
    record_id = signed.checkpoint.record_id

    async def append() -> None:
        try:
            await asyncio.to_thread(append_line, path, line)
        except OSError as error:
            log.error(
                "could not append the checkpoint of record %d to the outside log: %s",
                record_id,
                error.strerror or type(error).__name__,
            )

    publish_on_commit(session, append)


def read_log(path: Path) -> OutsideLog:
    """Every line of the file; a malformed line is noted by number, never raised."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return OutsideLog(path)
    except OSError as error:
        return OutsideLog(path, present=True, error=error.strerror or type(error).__name__)
    lines: list[Line] = []
    malformed: list[int] = []
    for number, text in enumerate(raw.splitlines(), start=1):
        if not text.strip():
            continue
        parsed = _parse(number, text)
        if parsed is None:
            malformed.append(number)
        else:
            lines.append(parsed)
    return OutsideLog(
        path,
        present=True,
        lines=tuple(lines),
        malformed=tuple(malformed),
        chains=frozenset(line.chain for line in lines),
    )


def _parse(number: int, text: bytes) -> Line | None:
    try:
        body = json.loads(text)
        if not isinstance(body, dict) or any(name not in body for name in _FIELDS):
            return None
        values = [body[name] for name in _FIELDS]
        chain, record_id, record_hash, signed_at, public_key, signature = values
        if not isinstance(record_id, int) or isinstance(record_id, bool):
            return None
        if not all(isinstance(v, str) for v in (chain, record_hash, public_key, signature)):
            return None
        when = datetime.fromisoformat(signed_at)
    except (ValueError, TypeError):  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    if when.tzinfo is None:
        return None
    return Line(number, chain, record_id, record_hash, when, public_key, signature)


@dataclass(frozen=True)
class Finding:
    line: int
    problem: str


def unreadable(log: OutsideLog) -> Finding | None:
    """Why the file as a whole cannot be trusted: only the server writes it, so a line that is not
    a checkpoint is a fault or an edit to look into, never skipped."""
    if log.error:
        return Finding(0, f"it cannot be read ({log.error})")
    if log.malformed:
        numbers = ", ".join(str(n) for n in log.malformed[:5])
        return Finding(log.malformed[0], f"not a checkpoint line (lines {numbers})")
    return None


def compare(
    lines: Sequence[Line],
    *,
    keys: Collection[str],
    last_id: int,
    hashes: Mapping[int, str],
    checkpoints: Sequence[AuditCheckpoint],
) -> Finding | None:
    """The first of this chain's `lines` the database contradicts: `hashes` holds the chain's
    hash of each record a line names, `last_id` is the chain's end, `checkpoints` the database's."""
    stored = {(c.record_id, c.signed_at): c for c in checkpoints}
    for line in lines:
        if line.public_key not in keys:
            return Finding(line.number, "signed with a key neither configured nor retired")
        if not signature_holds(
            line.public_key, line.signature, line.record_id, line.record_hash, line.signed_at
        ):
            return Finding(line.number, "signature does not verify")
        if line.record_id > last_id:
            return Finding(
                line.number,
                f"it signs record {line.record_id} but the chain ends at record {last_id}: "
                "its end was cut off",
            )
        if hashes.get(line.record_id) != line.record_hash:
            return Finding(
                line.number,
                f"record {line.record_id} no longer has the hash signed here: "
                "the chain was rewritten",
            )
        checkpoint = stored.get((line.record_id, line.signed_at))
        if checkpoint is None:
            return Finding(
                line.number,
                f"the database has no checkpoint of record {line.record_id} signed at "
                f"{line.signed_at.isoformat()}: it was deleted or rolled back",
            )
        if (checkpoint.record_hash, checkpoint.public_key, checkpoint.signature) != (
            line.record_hash,
            line.public_key,
            line.signature,
        ):
            return Finding(
                line.number, f"the database's checkpoint {checkpoint.id} differs from this line"
            )
    return None


def coverage(
    log: OutsideLog,
    *,
    logged: bool,
    unlogged_since: datetime | None,
    now: datetime,
    overdue_after: timedelta,
) -> tuple[Finding | None, list[str]]:
    """Whether the chain's end is covered by the log: a failure, and warnings.

    `logged` says whether any line names this chain; `unlogged_since` is when the oldest record
    no line covers was written (None if every record is covered). Records younger than
    `overdue_after` need no line yet. Older ones without one fail verify only where that is
    clearly tampering: the log holds other chains' lines but none of this chain, as after a
    rewrite from record 1 (its hash names the chain). A missing or empty log file is a warning,
    since someone who can write only to the database can neither delete nor empty it; it is a
    verify run away from the server's file, or a log never set up."""
    if unlogged_since is None or now - unlogged_since <= overdue_after:
        return None, []
    since = unlogged_since.isoformat(timespec="seconds")
    if not logged and log.chains:
        return Finding(
            0,
            f"it has other chains' checkpoints but none of this chain, whose records go back to "
            f"{since}: the chain was rewritten from its first record, or the log is another "
            "database's",
        ), []
    if not log.present:
        return None, [
            f"no outside log at {log.path}: records since {since} are pinned only "
            "by checkpoints in the database"
        ]
    return None, [
        f"no checkpoint in the outside log {log.path} covers the records since "
        f"{since}: is the server appending to it?"
    ]
