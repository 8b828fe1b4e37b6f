"""Importing alerts into the database (SQLite and PostgreSQL): what is stored, what it replaces
or ends, where it lies and whom it covers; and that a rejected document stores nothing."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from datetime import timedelta
from typing import Any

import pytest
from shapely.geometry import Point, Polygon
from sqlmodel import col, select, update

from renraku.alerts.imports import Origin, import_document
from renraku.alerts.models import Alert, AlertMunicipality, AlertPatient
from renraku.alerts.xml_safety import MAX_DOCUMENT_BYTES
from renraku.audit.models import AuditRecord
from renraku.package_data import DEMO_WORLD, package_folder
from renraku.runtime import Runtime
from renraku.teams.models import Patient
from renraku.teams.retention import check_purge
from renraku.timeutil import utcnow
from tests.alerts.helpers import (
    GAMAGORI,
    NISHIO_OR_NEIGHBOUR,
    alert_row,
    demo_homes,
    inside_box,
    real_samples,
    sample,
    state,
)
from tests.alerts.test_parsing import BILLION_LAUGHS, EXTERNAL_ENTITY, with_area

OPERATOR = Origin(trusted=True)


async def _patient_keys(runtime: Runtime, alert_id: int) -> set[str]:
    async with runtime.db.session() as session:
        rows = await session.exec(
            select(Patient.external_ref)
            .join(AlertPatient, col(AlertPatient.patient_id) == col(Patient.id))
            .where(AlertPatient.alert_id == alert_id)
        )
        return {key for key in rows.all() if key}


async def _municipalities(runtime: Runtime, alert_id: int) -> set[str]:
    async with runtime.db.session() as session:
        rows = await session.exec(
            select(AlertMunicipality.municipality_code).where(
                AlertMunicipality.alert_id == alert_id
            )
        )
        return set(rows.all())


async def test_an_alert_update_and_cancel_chain(runtime: Runtime, demo: dict[str, Any]) -> None:
    homes = demo_homes(demo)
    first = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-alert.xml"), OPERATOR
    )
    assert (first.status, first.reason) == ("accepted", "")
    expected = inside_box(homes, (34.770, 34.805), (137.175, 137.190))
    assert len(expected) == 3
    assert first.alert_id is not None
    assert await _patient_keys(runtime, first.alert_id) == expected
    assert first.matched_patients == 3
    assert await _municipalities(runtime, first.alert_id) == {GAMAGORI}
    stored = await alert_row(runtime.db, first.alert_id)
    assert (stored.level, stored.location_confidence, stored.trusted) == (3, "high", True)
    assert stored.area is not None and stored.area["type"] == "Polygon"

    update = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-update.xml"), OPERATOR
    )
    assert update.status == "updated" and update.alert_id is not None
    grown = inside_box(homes, (34.770, 34.815), (137.175, 137.190))
    assert update.matched_patients == len(grown) == 4
    assert (await alert_row(runtime.db, first.alert_id)).superseded_by == update.alert_id

    cancel = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-cancel.xml"), OPERATOR
    )
    assert (cancel.status, cancel.matched_patients) == ("cancelled", 0)
    ended = await alert_row(runtime.db, update.alert_id)
    assert ended.cancelled_by == cancel.alert_id and ended.ended_at is not None
    # History is kept: all three messages are still there.
    async with runtime.db.session() as session:
        identifiers = (await session.exec(select(Alert.identifier))).all()
    assert len([i for i in identifiers if i.startswith("urn:renraku-test:")]) == 3


async def test_references_never_seen_are_stored_and_noted(runtime: Runtime) -> None:
    cancel = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-cancel.xml"), OPERATOR
    )
    assert cancel.status == "cancelled" and cancel.alert_id is not None
    assert "urn:renraku-test:gamagori:0002' was never seen" in cancel.reason
    update = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-update.xml"), OPERATOR
    )
    assert update.status == "updated" and "was never seen" in update.reason


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("synthetic-cap12-exercise.xml", "drill"),
        ("synthetic-cap12-test.xml", "ignored"),
        ("synthetic-cap12-draft.xml", "ignored"),
    ],
)
async def test_exercise_is_a_drill_and_test_or_draft_are_recorded_only(
    runtime: Runtime, name: str, status: str
) -> None:
    result = await import_document(runtime.db, sample(name), OPERATOR)
    assert result.status == status and result.alert_id is not None
    stored = await alert_row(runtime.db, result.alert_id)
    assert stored.status == status
    # A drill covers the patients a drill incident would list; a test covers nobody.
    assert result.matched_patients == (3 if status == "drill" else 0)


async def test_a_test_message_never_ends_a_real_alert(runtime: Runtime) -> None:
    real = await import_document(runtime.db, sample("synthetic-cap12-gamagori-alert.xml"), OPERATOR)
    assert real.alert_id is not None
    test_cancel = (
        sample("synthetic-cap12-gamagori-cancel.xml")
        .replace(b"<status>Actual", b"<status>Test")
        .replace(b"gamagori:0002", b"gamagori:0001")
    )
    result = await import_document(runtime.db, test_cancel, OPERATOR)
    assert result.status == "ignored"
    stored = await alert_row(runtime.db, real.alert_id)
    assert stored.cancelled_by is None and stored.ended_at is None


async def test_repaired_areas_circles_and_geocodes_cover_the_right_patients(
    runtime: Runtime, demo: dict[str, Any]
) -> None:
    homes = demo_homes(demo)
    result = await import_document(runtime.db, sample("synthetic-cap12-quirky-areas.xml"), OPERATOR)
    assert result.status == "accepted" and result.alert_id is not None
    assert "swapped back" in result.reason and "self-intersection repaired" in result.reason
    assert "degenerate" in result.reason and "radius 0" in result.reason
    expected = (
        inside_box(homes, (34.815, 34.830), (137.220, 137.230))  # the swapped rectangle
        | {"pt-sugiura-kazuko"}  # inside the repaired bow-tie's upper half
        | set(demo_homes(demo, municipality=NISHIO_OR_NEIGHBOUR))  # geocode only
    )
    assert await _patient_keys(runtime, result.alert_id) == expected
    assert result.matched_patients == len(expected)
    assert {GAMAGORI, NISHIO_OR_NEIGHBOUR} <= await _municipalities(runtime, result.alert_id)


async def test_a_level_named_jma_warning_covers_its_municipality_by_code(
    runtime: Runtime, demo: dict[str, Any]
) -> None:
    result = await import_document(
        runtime.db, sample("synthetic-jma-VPWW54-level-named-gamagori.xml"), OPERATOR
    )
    assert result.status == "accepted" and result.alert_id is not None
    stored = await alert_row(runtime.db, result.alert_id)
    assert (stored.level, stored.location_confidence, stored.area) == (4, "low", None)
    assert result.matched_patients == len(demo_homes(demo, municipality=GAMAGORI))
    assert await _municipalities(runtime, result.alert_id) == {GAMAGORI}


async def test_a_jma_message_replaces_its_thread_and_a_lifting_ends_it(runtime: Runtime) -> None:
    advisory = await import_document(
        runtime.db, sample("jp-jma-VTSE41-taiwan-quake-tsunami-advisory.xml"), OPERATOR
    )
    lifted = await import_document(
        runtime.db, sample("jp-jma-VTSE41-tsunami-advisory-lifted.xml"), OPERATOR
    )
    assert (advisory.status, lifted.status) == ("accepted", "cancelled")
    assert advisory.alert_id is not None
    ended = await alert_row(runtime.db, advisory.alert_id)
    assert ended.cancelled_by == lifted.alert_id and ended.ended_at is not None
    warning = sample("synthetic-jma-VPWW54-level-named-gamagori.xml")
    first = await import_document(runtime.db, warning, OPERATOR)
    later = warning.replace(b"2026-07-04T09:00:00+09:00", b"2026-07-04T10:00:00+09:00")
    second = await import_document(runtime.db, later, OPERATOR)
    assert second.status == "updated" and first.alert_id is not None
    assert (await alert_row(runtime.db, first.alert_id)).superseded_by == second.alert_id


async def test_every_real_sample_is_stored_and_audited(runtime: Runtime) -> None:
    before = await state(runtime.db)
    statuses = {}
    for name in real_samples():
        result = await import_document(runtime.db, sample(name), OPERATOR)
        assert result.alert_id is not None, (name, result.reason)
        statuses[name] = result.status
    assert statuses["mo-smg-monsoon-signal-update-allclear-multiline-polygon.xml"] == "cancelled"
    assert statuses["us-nws-small-craft-advisory-update-geocode-only.xml"] == "updated"
    assert statuses["ar-smn-thunderstorm-orange-warning-cap-prefix-no-language.xml"] == "accepted"
    after = await state(runtime.db)
    assert after[0] - before[0] == len(real_samples())
    assert after[4] - before[4] == len(real_samples())  # one audit record per import
    async with runtime.db.session() as session:
        audited = (
            await session.exec(select(AuditRecord).where(AuditRecord.action == "alert.import"))
        ).all()
    assert all(r.object_type == "alert" and r.actor_kind == "system" for r in audited)


async def test_importing_the_same_message_twice_stores_it_once(runtime: Runtime) -> None:
    data = sample("synthetic-cap12-gamagori-alert.xml")
    first = await import_document(runtime.db, data, OPERATOR)
    before = await state(runtime.db)
    again = await import_document(runtime.db, data, OPERATOR)
    assert (again.status, again.alert_id, again.reason) == (
        "accepted",
        first.alert_id,
        "already imported",
    )
    assert await state(runtime.db) == before


@pytest.mark.parametrize(
    "document",
    [
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        b"<x>" + b" " * MAX_DOCUMENT_BYTES + b"</x>",
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:9.9"><identifier>x</identifier></alert>',
        with_area("<polygon>34.8,137.1 34.9,banana 35.0,137.1 34.8,137.1</polygon>"),
    ],
    ids=["billion-laughs", "external-entity", "over-5-mb", "wrong-namespace", "invalid-polygon"],
)
async def test_a_rejected_document_stores_nothing(runtime: Runtime, document: bytes) -> None:
    before = await state(runtime.db)
    result = await import_document(runtime.db, document, OPERATOR)
    assert result.status == "rejected" and result.alert_id is None and result.reason
    assert await state(runtime.db) == before


async def test_a_cancel_of_the_first_message_ends_its_updates_too(runtime: Runtime) -> None:
    first = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-alert.xml"), OPERATOR
    )
    update = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-update.xml"), OPERATOR
    )
    cancel_first = sample("synthetic-cap12-gamagori-cancel.xml").replace(
        b"gamagori:0002,2026-07-04T09:02", b"gamagori:0001,2026-07-04T09:01"
    )
    cancel = await import_document(runtime.db, cancel_first, OPERATOR)
    assert cancel.status == "cancelled" and "never seen" not in cancel.reason
    assert first.alert_id is not None and update.alert_id is not None
    for alert_id in (first.alert_id, update.alert_id):
        ended = await alert_row(runtime.db, alert_id)
        assert ended.cancelled_by == cancel.alert_id and ended.ended_at is not None


async def test_the_demo_worlds_alert_imports_with_its_level_and_patients(
    runtime: Runtime, demo: dict[str, Any]
) -> None:
    (entry,) = demo["alerts"]
    data = (package_folder(DEMO_WORLD) / entry["file"]).read_bytes()
    result = await import_document(runtime.db, data, OPERATOR)
    assert result.status == "accepted" and result.alert_id is not None
    stored = await alert_row(runtime.db, result.alert_id)
    assert (stored.level, stored.location_confidence) == (3, "high")
    # Independently of the import: the polygon's text as (lon, lat) and a point test per home.
    ring_text = ET.fromstring(data).findtext(".//{*}polygon")  # noqa: S314 - our own file
    assert ring_text
    ring = [tuple(reversed([float(v) for v in pair.split(",")])) for pair in ring_text.split()]
    polygon = Polygon(ring)
    expected = {
        key for key, (lat, lon) in demo_homes(demo).items() if polygon.contains(Point(lon, lat))
    }
    assert expected and await _patient_keys(runtime, result.alert_id) == expected


async def test_the_retention_purge_takes_a_patients_alert_coverage_with_them(
    runtime: Runtime,
) -> None:
    result = await import_document(
        runtime.db, sample("synthetic-cap12-gamagori-alert.xml"), OPERATOR
    )
    assert result.alert_id is not None and result.matched_patients == 3
    async with runtime.db.transaction() as session:
        covered = (
            await session.exec(
                select(AlertPatient.patient_id).where(AlertPatient.alert_id == result.alert_id)
            )
        ).all()
        await session.exec(
            update(Patient)
            .where(col(Patient.id) == covered[0])
            .values(archived_at=utcnow() - timedelta(days=4000))
        )
    purged = await check_purge(runtime.db, retention_days=3650, dry_run=False)
    assert purged.patient_ids == [covered[0]]
    async with runtime.db.session() as session:
        left = (
            await session.exec(
                select(AlertPatient.patient_id).where(AlertPatient.alert_id == result.alert_id)
            )
        ).all()
    assert sorted(left) == sorted(covered[1:])
    # The alert itself is history and stays.
    assert (await alert_row(runtime.db, result.alert_id)).matched_patients == 3


async def test_the_same_message_arriving_twice_at_once_is_stored_once(runtime: Runtime) -> None:
    data = sample("synthetic-cap12-gamagori-alert.xml")
    before = await state(runtime.db)
    results = await asyncio.gather(*(import_document(runtime.db, data, OPERATOR) for _ in range(3)))
    assert len({r.alert_id for r in results}) == 1
    assert sorted(r.reason for r in results) == ["", "already imported", "already imported"]
    after = await state(runtime.db)
    assert after[0] == before[0] + 1
