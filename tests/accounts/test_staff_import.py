"""Importing staff from CSV: good rows stored, bad rows rejected with reasons, nothing else."""

from __future__ import annotations

import codecs
import csv
import io
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import col, func, select

from renraku.accounts.actions import check_use_link
from renraku.accounts.models import OneTimeLink, Organisation, OrganisationMember, User
from renraku.accounts.staff_csv import COLUMNS, MAX_BYTES, MAX_ROWS, RowStatus, parse_staff_csv
from renraku.accounts.staff_import import IN_USE, StaffImportReport, check_import_staff
from renraku.audit.chain import verify
from renraku.audit.models import AuditRecord
from renraku.errors import BadInput, NotFound
from renraku.runtime import Runtime
from renraku.seed.demo import demo_file
from renraku.timeutil import utcnow
from tests.conftest import ORIGIN
from tests.support.graphql import GraphQLClient

SAMPLE = demo_file().parent / "staff-sample.csv"
GAMAGORI = "232149"
NEW_PASSWORD = "a-brand-new-password"


def person(username: str, display_name: str = "試験 花子", **overrides: str) -> list[str]:
    """One CSV row for a nurse of a new clinic of 蒲郡市, with `overrides` by column name."""
    values = {
        "organisation_key": "gamagori-east-clinic",
        "organisation_name": "みかわ東在宅診療所",
        "organisation_kind": "clinic",
        "username": username,
        "display_name": display_name,
        "display_name_kana": "しけん はなこ",
        "profession": "nurse",
        "email": "",
    }
    values.update(overrides)
    return [values[c] for c in COLUMNS]


def csv_bytes(*rows: list[str], header: list[str] | None = None, encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header or list(COLUMNS))
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


async def import_as_system(runtime: Runtime, data: bytes) -> StaffImportReport:
    return await check_import_staff(runtime, actor=None, municipality_code=GAMAGORI, data=data)


async def snapshot(runtime: Runtime) -> dict[str, Any]:
    """Everything an import may change, to compare before and after."""
    async with runtime.db.session() as session:
        users = (await session.exec(select(User))).all()
        organisations = (await session.exec(select(Organisation))).all()
        members = (await session.exec(select(OrganisationMember))).all()
        links = (await session.exec(select(func.count()).select_from(OneTimeLink))).one()
        audit = (await session.exec(select(func.count()).select_from(AuditRecord))).one()
    return {
        "users": {
            u.username: (u.display_name, u.display_name_kana, u.kind, u.profession, u.email)
            for u in users
        },
        "organisations": {o.key: (o.name, o.kind, o.municipality_code) for o in organisations},
        "members": {(m.organisation_id, m.user_id) for m in members},
        "links": links,
        "audit": audit,
    }


async def last_audit(runtime: Runtime) -> AuditRecord:
    async with runtime.db.session() as session:
        query = select(AuditRecord).order_by(col(AuditRecord.id).desc()).limit(1)
        return (await session.exec(query)).one()


def token_of(link: str | None) -> str:
    assert link is not None and link.startswith(f"{ORIGIN}/auth/link?token=")
    return parse_qs(urlsplit(link).query)["token"][0]


ME = "{ me { username kind profession municipalityCode organisations { name kind } } }"


async def test_sample_file_creates_users_organisation_memberships_and_working_links(
    runtime: Runtime, gql: GraphQLClient
) -> None:
    before = await snapshot(runtime)
    report = await import_as_system(runtime, SAMPLE.read_bytes())
    assert [(r.line, r.status) for r in report.rows] == [
        (n, RowStatus.CREATED) for n in range(2, 6)
    ]
    after = await snapshot(runtime)
    new = set(after["users"]) - set(before["users"])
    assert new == {"dr.kondo", "nurse.ishikawa", "pt.ogawa", "cm.fujita"}
    clinic = ("みかわ東在宅診療所", "clinic", GAMAGORI)
    assert after["organisations"]["gamagori-east-clinic"] == clinic
    assert len(after["members"]) == len(before["members"]) + 4
    assert after["links"] == before["links"] + 4
    async with runtime.db.session() as session:
        users = (await session.exec(select(User).where(col(User.username).in_(new)))).all()
        links = (await session.exec(select(OneTimeLink).order_by(col(OneTimeLink.id)))).all()
    assert {(u.kind, u.municipality_code, u.password_hash) for u in users} == {
        ("professional", GAMAGORI, None)
    }
    for link in links[-4:]:
        assert link.purpose == "setup" and link.created_by is None
        assert timedelta(days=13.9) < link.expires_at - utcnow() <= timedelta(days=14)
    record = await last_audit(runtime)
    assert record.action == "accounts.staff_imported"
    assert (record.actor_id, record.actor_kind) == (None, "system")
    assert record.object_ids == sorted(u.id for u in users if u.id is not None)
    counts = {"created": 4, "updated": 0, "unchanged": 0, "rejected": 0}
    assert record.detail == {"municipality": GAMAGORI, **counts}

    token = token_of(report.rows[0].setup_link)
    await check_use_link(runtime, token=token, new_password=NEW_PASSWORD)
    doctor = await gql.login("dr.kondo", NEW_PASSWORD)
    me = (await doctor.execute(ME))["data"]["me"]
    assert me == {
        "username": "dr.kondo",
        "kind": "PROFESSIONAL",
        "profession": "DOCTOR",
        "municipalityCode": GAMAGORI,
        "organisations": [{"name": "みかわ東在宅診療所", "kind": "CLINIC"}],
    }
    with pytest.raises(NotFound):
        await check_use_link(runtime, token=token, new_password=NEW_PASSWORD + "2")
    async with runtime.db.session() as session:
        assert (await verify(session)).ok


async def test_importing_again_changes_nothing_and_changes_are_updates(runtime: Runtime) -> None:
    await import_as_system(runtime, SAMPLE.read_bytes())
    before = await snapshot(runtime)
    again = await import_as_system(runtime, SAMPLE.read_bytes())
    assert {r.status for r in again.rows} == {RowStatus.UNCHANGED}
    assert all(r.setup_link is None for r in again.rows)
    after = await snapshot(runtime)
    assert after == {**before, "audit": before["audit"] + 1}
    assert (await last_audit(runtime)).object_ids == []

    changed = csv_bytes(
        # An empty e-mail cell clears the address: the file is the whole truth about a person.
        person("dr.kondo", "近藤 直樹", profession="doctor", display_name_kana="こんどう なおき"),
        # An existing professional of 蒲郡市, now also in the new clinic, is updated, not invited.
        person("nurse.sato", "佐藤 美咲", display_name_kana="さとう みさき"),
        person(
            "pt.ogawa",
            "小川 大輔",
            organisation_key="gamagori-nursing",
            organisation_name="訪問看護ステーション みかんの丘",
            organisation_kind="home_nursing_station",
            profession="physical_therapist",
            display_name_kana="おがわ だいすけ",
            email="ogawa@example.jp",
        ),
    )
    report = await import_as_system(runtime, changed)
    assert [r.status for r in report.rows] == [RowStatus.UPDATED] * 3
    assert all(r.setup_link is None for r in report.rows)
    final = await snapshot(runtime)
    assert final["links"] == after["links"]
    assert final["users"]["pt.ogawa"][4] == "ogawa@example.jp"
    assert final["users"]["dr.kondo"][3:] == ("doctor", None)
    assert len(final["members"]) == len(after["members"]) + 1  # nurse.sato joins the clinic


async def test_bad_rows_are_rejected_with_their_column_and_store_nothing(runtime: Runtime) -> None:
    before = await snapshot(runtime)
    data = csv_bytes(
        person("good.one"),  # line 2
        person("bad.profession", profession="surgeon"),
        person("no.name", ""),
        person("x"),
        person("good.one", "同じ 名前"),
        person("new.person", organisation_key="nishio-hospital"),  # a key of 西尾市
        person("dr.yamamoto", organisation_key="brand-new-org"),  # a professional of 西尾市
        person("family.ito", organisation_key="another-new-org"),  # a family member of 蒲郡市
        ["gamagori-east-clinic", "too few"],
        person("good.three", organisation_name="別の名前"),
        person("Good.Two", "中村=太郎"),  # line 12: "=" inside a name is only text
    )
    report = await import_as_system(runtime, data)
    outcome = {r.line: (r.status.value, r.column) for r in report.rows}
    assert outcome == {
        2: ("created", None),
        3: ("rejected", "profession"),
        4: ("rejected", "display_name"),
        5: ("rejected", "username"),
        6: ("rejected", "username"),
        7: ("rejected", "organisation_key"),
        8: ("rejected", "username"),
        9: ("rejected", "username"),
        10: ("rejected", None),
        11: ("rejected", "organisation_name"),
        12: ("created", None),
    }
    reasons = {r.line: r.reason for r in report.rows}
    assert reasons[6] == "username: repeats line 2"
    # Another municipality's professional and this one's family member read alike.
    assert reasons[8] == reasons[9] == f"username: {IN_USE}"
    for hidden in ("232131", "西尾", "family", "professional", "山本"):
        assert hidden not in reasons[7] + reasons[8]
    after = await snapshot(runtime)
    assert set(after["users"]) - set(before["users"]) == {"good.one", "good.two"}
    assert after["users"]["good.two"][0] == "中村=太郎"
    assert set(after["organisations"]) - set(before["organisations"]) == {"gamagori-east-clinic"}
    for username in ("dr.yamamoto", "family.ito"):
        assert after["users"][username] == before["users"][username]
    assert len(after["members"]) == len(before["members"]) + 2
    assert after["links"] == before["links"] + 2
    assert (await last_audit(runtime)).detail["rejected"] == 9


async def test_hostile_values_are_rejected_and_stored_nowhere(runtime: Runtime) -> None:
    before = await snapshot(runtime)
    hostile = [
        ("display_name", person("f1", '=HYPERLINK("http://evil.example","開く")')),
        ("display_name", person("f2", "+81 90 0000 0000")),
        ("display_name", person("f3", "-2+3")),
        ("display_name", person("f4", "@SUM(A1:A9)")),
        ("organisation_name", person("f5", organisation_key="f5-org", organisation_name="=cmd|'")),
        ("display_name_kana", person("f6", display_name_kana="\t=1+1")),
        ("email", person("f7", email="=1+1@example.jp")),
        ("email", person("f8", email="not an address")),
        ("organisation_kind", person("f9", organisation_kind="=1+1")),
        ("display_name", person("f10", "鈴木\u202e郎太")),
        ("display_name", person("f11", "一行目\n二行目")),
        ("display_name", person("f12", "長" * 201)),
        ("username", person("../../etc/passwd")),
        ("username", person("a" * 81)),
        ("username", person("<script>")),
    ]
    report = await import_as_system(runtime, csv_bytes(*(row for _, row in hostile)))
    assert [(r.status, r.column) for r in report.rows] == [
        (RowStatus.REJECTED, column) for column, _ in hostile
    ]
    assert "formula" in report.rows[0].reason
    after = await snapshot(runtime)
    assert after == {**before, "audit": before["audit"] + 1}


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-8-sig", "髙橋 さくら"), ("cp932", "髙橋 さくら"), ("shift_jis", "高橋 さくら")],
)
async def test_bom_and_shift_jis_files_are_read(runtime: Runtime, encoding: str, name: str) -> None:
    row = person("sakura.t", name, display_name_kana="たかはし さくら")
    data = csv_bytes(row, encoding=encoding)
    assert data.startswith(codecs.BOM_UTF8) == (encoding == "utf-8-sig")
    report = await import_as_system(runtime, data)
    assert [r.status for r in report.rows] == [RowStatus.CREATED]
    assert (await snapshot(runtime))["users"]["sakura.t"][:2] == (name, "たかはし さくら")


HEADER_NO_EMAIL = list(COLUMNS[:-1])
ROW = person("someone")
MALFORMED = {
    "missing column": csv_bytes(ROW[:-1], header=HEADER_NO_EMAIL),
    "unknown column": csv_bytes([*ROW, "x"], header=[*COLUMNS, "phone"]),
    "repeated column": csv_bytes([*ROW, "x"], header=[*COLUMNS, "email"]),
    "empty file": b"",
    "only blank lines": b"\r\n\r\n",
    "unclosed quote": csv_bytes(ROW) + b'gamagori-east-clinic,"unclosed\r\n',
    "text after a quote": csv_bytes(ROW) + b'gamagori-east-clinic,"name"x,clinic\r\n',
    "neither UTF-8 nor Shift_JIS": csv_bytes(ROW) + b"\x82",
    "UTF-16": csv_bytes(ROW, encoding="utf-16"),
    "oversized": csv_bytes(ROW) + b" " * MAX_BYTES,
    "too many rows": csv_bytes(*(person(f"user{n}") for n in range(MAX_ROWS + 1))),
}


@pytest.mark.parametrize("case", MALFORMED)
async def test_malformed_files_are_refused_whole(runtime: Runtime, case: str) -> None:
    before = await snapshot(runtime)
    with pytest.raises(BadInput) as refused:
        await import_as_system(runtime, MALFORMED[case])
    assert refused.value.field == "csv"
    assert await snapshot(runtime) == before


def test_the_row_limit_is_inclusive_and_errors_name_the_line() -> None:
    rows = parse_staff_csv(csv_bytes(*(person(f"user{n}") for n in range(MAX_ROWS))))
    assert len(rows) == MAX_ROWS
    with pytest.raises(BadInput, match="Line 3"):
        parse_staff_csv(MALFORMED["unclosed quote"])


async def test_a_municipality_missing_from_the_database_is_not_found(runtime: Runtime) -> None:
    before = await snapshot(runtime)
    with pytest.raises(NotFound):
        await check_import_staff(
            runtime, actor=None, municipality_code="011002", data=SAMPLE.read_bytes()
        )
    assert await snapshot(runtime) == before
