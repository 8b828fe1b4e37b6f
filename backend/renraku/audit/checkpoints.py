"""Signed checkpoints: an Ed25519 signature over (last record id, its hash, the time).

The hash chain shows that no record was changed in place, but someone with write access to the
database could rewrite the whole chain, or cut its end off, and re-hash. A checkpoint signed with a
key kept outside the database pins the chain up to its record: `renraku audit verify` checks each
signature, that it was made with the configured key (a forger cannot re-sign with a key of their
own, or with a key retired by RENRAKU_AUDIT_RETIRED_KEYS), and that the record still has the
signed hash. Each checkpoint is also appended to a file outside the database (audit/outside.py),
so that deleting checkpoints together with a rewrite is found as well.

The key is a PEM Ed25519 private key named by RENRAKU_AUDIT_KEY_FILE. In demo mode, without it,
one is generated at var/audit-key.pem on first use; production refuses to start without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.audit.models import AuditCheckpoint, AuditRecord
from renraku.settings import ConfigurationError, Settings
from renraku.timeutil import utcnow

DEMO_KEY_FILE = Path("var/audit-key.pem")
# The read-audit writer signs a checkpoint once this many records follow the last one.
CHECKPOINT_EVERY = 1000
_DOMAIN = b"renraku-audit-checkpoint-v1"


def key_file(settings: Settings) -> Path | None:
    """Where the signing key is: the configured file, or in demo mode the generated one."""
    if settings.audit_key_file is not None:
        return settings.audit_key_file
    return None if settings.is_production else DEMO_KEY_FILE


def _read_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise ConfigurationError(
            "RENRAKU_AUDIT_KEY_FILE must name a readable PEM Ed25519 private key"
        ) from error
    if not isinstance(key, Ed25519PrivateKey):
        raise ConfigurationError("RENRAKU_AUDIT_KEY_FILE must hold an Ed25519 private key")
    return key


def _create_key(path: Path) -> None:
    """Write a new key to `path` (0600) unless one appeared meanwhile; atomic, so two processes
    starting together agree on one key."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        # Another process won the race: its key is the key.
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)


def load_signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The private key, generating the demo one on first use; ConfigurationError if none."""
    path = key_file(settings)
    if path is None:
        raise ConfigurationError("RENRAKU_AUDIT_KEY_FILE must be set in production")
    if settings.audit_key_file is None and not path.exists():
        _create_key(path)
    return _read_key(path)


def configured_public_key(settings: Settings) -> str | None:
    """Hex of the configured key's public half, or None when there is no key yet (never creates)."""
    path = key_file(settings)
    if path is None or (settings.audit_key_file is None and not path.exists()):
        return None
    return public_hex(_read_key(path))


def public_hex(key: Ed25519PrivateKey) -> str:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def message(record_id: int, record_hash: str, signed_at: datetime) -> bytes:
    return b"\n".join(
        (_DOMAIN, str(record_id).encode(), record_hash.encode(), signed_at.isoformat().encode())
    )


class SigningKey:
    """The process's signing key, read (or, in demo mode, created) once, off the event loop."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._key: Ed25519PrivateKey | None = None

    async def get(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = await asyncio.to_thread(load_signing_key, self.settings)
        return self._key


def trusted_keys(settings: Settings) -> frozenset[str]:
    """Hex public keys a checkpoint may be signed with: the configured one and retired ones."""
    current = configured_public_key(settings)
    return frozenset((*settings.audit_retired_keys, *((current,) if current else ())))


async def last_checkpoint(session: AsyncSession) -> AuditCheckpoint | None:
    query = select(AuditCheckpoint).order_by(col(AuditCheckpoint.id).desc()).limit(1)
    return (await session.exec(query)).first()


def sign(record: AuditRecord, key: Ed25519PrivateKey) -> AuditCheckpoint:
    assert record.id is not None
    signed_at = utcnow()
    signature = key.sign(message(record.id, record.hash, signed_at))
    return AuditCheckpoint(
        record_id=record.id,
        record_hash=record.hash,
        signed_at=signed_at,
        public_key=public_hex(key),
        signature=signature.hex(),
    )


@dataclass(frozen=True)
class Signed:
    checkpoint: AuditCheckpoint
    # The hash of record 1: names the chain in the outside log, which may serve several databases.
    chain: str


async def chain_name(session: AsyncSession) -> str:
    """The hash of the chain's first record ("" while there is none)."""
    first = (await session.exec(select(AuditRecord.hash).where(AuditRecord.id == 1))).first()
    return first or ""


async def write_checkpoint(session: AsyncSession, key: Ed25519PrivateKey) -> Signed | None:
    """Sign the latest record inside the caller's transaction; None if the log is empty."""
    record = (
        await session.exec(select(AuditRecord).order_by(col(AuditRecord.id).desc()).limit(1))
    ).first()
    if record is None:
        return None
    checkpoint = sign(record, key)
    session.add(checkpoint)
    await session.flush()
    return Signed(checkpoint, await chain_name(session))


async def checkpoint_due(session: AsyncSession, last_id: int) -> bool:
    """True once CHECKPOINT_EVERY records follow the last checkpoint."""
    previous = await last_checkpoint(session)
    return last_id - (previous.record_id if previous else 0) >= CHECKPOINT_EVERY


def signature_holds(
    public_key: str, signature: str, record_id: int, record_hash: str, signed_at: datetime
) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(
            bytes.fromhex(signature), message(record_id, record_hash, signed_at)
        )
    except (ValueError, InvalidSignature):
        return False
    return True


def check_checkpoint(
    checkpoint: AuditCheckpoint, *, keys: Collection[str], record_hash: str | None
) -> str:
    """What is wrong with `checkpoint` ("" if nothing), given the trusted public keys and the
    hash the chain holds for its record (None if the chain has no such record)."""
    if not keys:
        return "no audit key is configured to check it against"
    if checkpoint.public_key not in keys:
        return "signed with a key other than the configured one (or a retired one)"
    if not signature_holds(
        checkpoint.public_key,
        checkpoint.signature,
        checkpoint.record_id,
        checkpoint.record_hash,
        checkpoint.signed_at,
    ):
        return "signature does not verify"
    if record_hash is None:
        return f"its record {checkpoint.record_id} is missing"
    if record_hash != checkpoint.record_hash:
        return f"its record {checkpoint.record_id} no longer has the signed hash"
    return ""
