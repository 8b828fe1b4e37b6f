"""Every live patient's home and vulnerability attributes, kept ready as numpy arrays.

Placing an incident (which homes its area holds) and ranking its priority list need the same few
attributes of every patient of a municipality: 400,000 rows read one by one cost seconds, packed
records read a block at a time cost milliseconds. `patient_points` holds, per block of
POINTS_CHUNK patient ids, one record per live patient (RECORD: home, confidence, risk profile as
small codes, last visit) and one per device (DEVICE). Triggers on `patient` and `riskprofile`
mark a block dirty whatever writes the rows (migration 0007; a later migration that rebuilds
either table on SQLite must create them again). `load` returns the records of every live
patient as current as the caller's transaction sees them: clean blocks as stored, marked blocks
rebuilt from the tables; in a write transaction it also stores the rebuilt blocks and removes
the marks it read, as `refresh` does (called by the actions that change a patient, so the next
reader finds the blocks clean). Records hold attributes, never points: the weights are applied
when ranking (overlay/priority.py), so a changed policy needs no rewrite.

On PostgreSQL refreshes are serialised by an advisory lock, and each removes only the marks it
read before reading the tables: a change committed meanwhile keeps its mark for the next one.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import and_, delete, or_, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.db import READ_ONLY
from renraku.kinds import CareLevel, DeviceKind, LandslideZone, Living, Mobility
from renraku.overlay.models import POINTS_CHUNK, PatientPoints, PatientPointsDirty
from renraku.tables import table_of
from renraku.teams.models import Patient, RiskProfile

# Written into each block: a block of another layout is rebuilt from the tables when read.
LAYOUT = 1
CARE_LEVELS = tuple(CareLevel)
MOBILITIES = tuple(Mobility)
LIVINGS = tuple(Living)
LANDSLIDE_ZONES = tuple(LandslideZone)
DEVICE_KINDS = tuple(DeviceKind)
NO_DEVICE = 255
# `flags` bits.
DEMENTIA, SENSORY, TSUNAMI, AIR_CONDITIONING, SUPPORTER = (1 << i for i in range(5))
# `visit`: microseconds since the epoch (UTC); none recorded.
NO_VISIT = np.iinfo(np.int64).min
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
RECORD = np.dtype(
    [
        ("id", "<i8"),
        ("municipality", "<i4"),  # the 6-digit code as a number
        ("longitude", "<f8"),
        ("latitude", "<f8"),
        ("high", "u1"),  # location_confidence == "high"
        ("care_level", "u1"),  # index in CARE_LEVELS
        ("mobility", "u1"),
        ("living", "u1"),
        ("landslide", "u1"),
        ("flags", "u1"),
        ("floor", "<i4"),
        ("flood_depth", "<f8"),
        ("visit", "<i8"),
        ("devices", "u1"),  # how many (their rows are in DEVICE records)
    ]
)
# One per device, in the order of the risk profile's list: few patients have any.
DEVICE = np.dtype([("id", "<i8"), ("kind", "u1"), ("battery", "<f8")])  # hours; NaN: unknown
HEADER = np.dtype([("records", "<u4"), ("devices", "<u4")])
Records = NDArray[Any]
Block = tuple[Records, Records]  # (RECORD, DEVICE) arrays
_MEMO = "renraku_patient_points"
# Serialises refreshes on PostgreSQL ("RENRAKUP"); SQLite's writers are serial already.
REFRESH_LOCK = 0x52454E52414B5550


def micros(when: datetime) -> int:
    """`when` as whole microseconds since the epoch, exactly (as timedelta counts them)."""
    return (when - EPOCH) // MICROSECOND


def municipality_number(code: str) -> int:
    return int(code) if code.isdigit() else -1


@dataclass(frozen=True)
class Points:
    """The records of live patients sorted by id, and their devices' (sorted by patient id)."""

    records: Records
    devices: Records

    def __len__(self) -> int:
        return len(self.records)

    def where(self, keep: NDArray[np.bool_]) -> Points:
        records = self.records[keep]
        return Points(records, self.devices[np.isin(self.devices["id"], records["id"])])

    def of(self, municipality_codes: Collection[str]) -> Points:
        numbers = [municipality_number(c) for c in municipality_codes]
        return self.where(np.isin(self.records["municipality"], numbers))

    def having(self, patient_ids: NDArray[np.int64]) -> Points:
        """The records of those of `patient_ids` (sorted) that are live patients."""
        if not len(self.records):
            return self
        at = np.minimum(np.searchsorted(self.records["id"], patient_ids), len(self.records) - 1)
        found = at[self.records["id"][at] == patient_ids]
        keep = np.zeros(len(self.records), dtype=np.bool_)
        keep[found] = True
        return self.where(keep)


def pack(block: Block) -> bytes:
    records, devices = block
    header = np.array([(len(records), len(devices))], dtype=HEADER)
    return header.tobytes() + records.tobytes() + devices.tobytes()


def unpack(data: bytes) -> Block:
    header = np.frombuffer(data, dtype=HEADER, count=1)[0]
    n, d = int(header["records"]), int(header["devices"])
    at = HEADER.itemsize
    records = np.frombuffer(data, dtype=RECORD, count=n, offset=at)
    devices = np.frombuffer(data, dtype=DEVICE, count=d, offset=at + n * RECORD.itemsize)
    return records, devices


EMPTY: Block = (np.zeros(0, dtype=RECORD), np.zeros(0, dtype=DEVICE))


_COLUMNS = (
    col(Patient.id),
    col(Patient.municipality_code),
    col(Patient.longitude),
    col(Patient.latitude),
    col(Patient.location_confidence),
    col(Patient.last_visit_at),
    col(RiskProfile.patient_id),
    col(RiskProfile.care_level),
    col(RiskProfile.mobility),
    col(RiskProfile.living),
    col(RiskProfile.landslide_zone),
    col(RiskProfile.dementia),
    col(RiskProfile.sensory_impairment),
    col(RiskProfile.tsunami_zone),
    col(RiskProfile.air_conditioning),
    col(RiskProfile.supporter),
    col(RiskProfile.floor),
    col(RiskProfile.flood_depth_m),
    col(RiskProfile.devices),
)


def encode(rows: Sequence[Sequence[Any]]) -> Block:
    """Records (and device records) for rows of _COLUMNS, sorted by id as the rows are; a
    patient without a risk profile gets RiskProfile's defaults, as the model's Person does."""
    n = len(rows)
    out = np.zeros(n, dtype=RECORD)
    columns = list(zip(*rows, strict=True)) if n else [()] * len(_COLUMNS)
    (pid, code, lon, lat, confidence, visit, risk_id, care, mobility, living, slide) = columns[:11]
    (dementia, sensory, tsunami, air, supporter, floor, flood, devices) = columns[11:]
    known = [r is not None for r in risk_id]
    out["id"] = pid
    out["municipality"] = [municipality_number(c) for c in code]
    out["longitude"] = lon
    out["latitude"] = lat
    out["high"] = [c == "high" for c in confidence]
    out["visit"] = [NO_VISIT if v is None else micros(v) for v in visit]

    def codes(values: Sequence[Any], members: tuple[Any, ...], default: str) -> list[int]:
        index = {m.value: i for i, m in enumerate(members)}
        return [index[default if not k else v] for v, k in zip(values, known, strict=True)]

    out["care_level"] = codes(care, CARE_LEVELS, "none")
    out["mobility"] = codes(mobility, MOBILITIES, "independent")
    out["living"] = codes(living, LIVINGS, "with_family")
    out["landslide"] = codes(slide, LANDSLIDE_ZONES, "none")
    out["flags"] = [
        AIR_CONDITIONING
        if not k
        else DEMENTIA * bool(de)
        | SENSORY * bool(se)
        | TSUNAMI * bool(ts)
        | AIR_CONDITIONING * bool(ai)
        | SUPPORTER * bool(su.strip())
        for k, de, se, ts, ai, su in zip(
            known, dementia, sensory, tsunami, air, supporter, strict=True
        )
    ]
    out["floor"] = [f if k else 1 for f, k in zip(floor, known, strict=True)]
    out["flood_depth"] = [f if k else 0.0 for f, k in zip(flood, known, strict=True)]
    lists = [d if k and d else [] for d, k in zip(devices, known, strict=True)]
    out["devices"] = [len(d) for d in lists]
    kinds = {m.value: i for i, m in enumerate(DEVICE_KINDS)}
    found = [
        (p, kinds[d["kind"]], math.nan if d.get("battery_hours") is None else d["battery_hours"])
        for p, listed in zip(pid, lists, strict=True)
        for d in listed
    ]
    return out, np.array(found, dtype=DEVICE) if found else EMPTY[1]


def _ranges(chunks: Iterable[int]) -> list[tuple[int, int]]:
    """Consecutive blocks as [first id, past the last id) ranges."""
    spans: list[tuple[int, int]] = []
    for chunk in sorted(set(chunks)):
        lo, hi = chunk * POINTS_CHUNK, (chunk + 1) * POINTS_CHUNK
        if spans and spans[-1][1] == lo:
            spans[-1] = (spans[-1][0], hi)
        else:
            spans.append((lo, hi))
    return spans


async def _rebuild(session: AsyncSession, chunks: Collection[int]) -> dict[int, Block]:
    """The records of the live patients of `chunks`, from the tables."""
    blocks: dict[int, Block] = dict.fromkeys(chunks, EMPTY)
    if not chunks:
        return blocks
    pid = col(Patient.id)
    spans = [and_(pid >= lo, pid < hi) for lo, hi in _ranges(chunks)]
    query = (
        select(*_COLUMNS)
        .outerjoin(RiskProfile, col(RiskProfile.patient_id) == pid)
        .where(col(Patient.archived_at).is_(None), or_(*spans))
        .order_by(pid)
    )
    rows = (await (await session.connection()).execute(query)).all()
    records, devices = encode(rows)
    owner = records["id"] // POINTS_CHUNK
    device_owner = devices["id"] // POINTS_CHUNK
    for chunk in np.unique(owner).tolist():
        blocks[chunk] = (records[owner == chunk], devices[device_owner == chunk])
    return blocks


async def _store(session: AsyncSession, blocks: dict[int, Block], marks: list[int]) -> None:
    conn = await session.connection()
    table = table_of(PatientPoints)
    kept = [
        {"chunk": chunk, "layout": LAYOUT, "records": pack(block)}
        for chunk, block in blocks.items()
        if len(block[0])
    ]
    emptied = [chunk for chunk, block in blocks.items() if not len(block[0])]
    if kept:
        upsert = (pg_insert if conn.dialect.name == "postgresql" else sqlite_insert)(table)
        statement = upsert.on_conflict_do_update(
            index_elements=["chunk"],
            set_={"layout": upsert.excluded.layout, "records": upsert.excluded.records},
        )
        await conn.execute(statement, kept)
    if emptied:
        await conn.execute(delete(table).where(table.c.chunk.in_(emptied)))
    if marks:
        dirty = table_of(PatientPointsDirty)
        await conn.execute(delete(dirty).where(dirty.c.id.in_(marks)))


def _writing(session: AsyncSession) -> bool:
    return not session.info.get(READ_ONLY)


async def load(session: AsyncSession) -> Points:
    """Every live patient's record, as the caller's transaction sees the tables."""
    writing = _writing(session)
    if writing:
        await session.flush()
    conn = await session.connection()
    if writing and conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": REFRESH_LOCK})
    dirty = table_of(PatientPointsDirty)
    marks = (await conn.execute(select(dirty.c.id, dirty.c.chunk))).all()
    stale = {chunk for _, chunk in marks}
    memo: dict[int, Block] | None = session.info.get(_MEMO)
    if memo is None:
        memo = {}
        table = table_of(PatientPoints)
        stored = await conn.execute(select(table.c.chunk, table.c.layout, table.c.records))
        for chunk, layout, data in stored:
            if layout == LAYOUT:
                memo[chunk] = unpack(data)
            else:
                stale.add(chunk)
    rebuilt = await _rebuild(session, stale)
    if writing and (rebuilt or marks):
        await _store(session, rebuilt, [mark for mark, _ in marks])
    memo.update(rebuilt)
    for chunk in [c for c, block in memo.items() if not len(block[0])]:
        del memo[chunk]
    # Kept for the transaction: a second load reads only the marks (and the blocks they name).
    session.info[_MEMO] = memo
    blocks = [memo[chunk] for chunk in sorted(memo)]
    # Joined as bytes: numpy's concatenate of structured arrays checks fields block by block.
    records = b"".join(records.data for records, _ in blocks)
    devices = b"".join(devices.data for _, devices in blocks)
    return Points(np.frombuffer(records, dtype=RECORD), np.frombuffer(devices, dtype=DEVICE))


async def refresh(session: AsyncSession) -> None:
    """Rewrite the blocks marked dirty (in the caller's write transaction)."""
    await session.flush()
    conn = await session.connection()
    if conn.dialect.name == "postgresql":
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": REFRESH_LOCK})
    dirty = table_of(PatientPointsDirty)
    marks = (await conn.execute(select(dirty.c.id, dirty.c.chunk))).all()
    if not marks:
        return
    rebuilt = await _rebuild(session, {chunk for _, chunk in marks})
    await _store(session, rebuilt, [mark for mark, _ in marks])
    memo: dict[int, Block] | None = session.info.get(_MEMO)
    if memo is not None:
        memo.update(rebuilt)
