"""Importing a municipality's professional staff from a CSV file (read by staff_csv).

Each row is applied in its own savepoint, so a rejected row changes nothing while the good rows
are stored. One audit record covers the whole import.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.actor import Actor
from renraku.access.municipal import require_manager_of
from renraku.accounts.actions import do_issue_link, link_url
from renraku.accounts.models import Municipality, Organisation, OrganisationMember, User
from renraku.accounts.service import get_user_by_username
from renraku.accounts.staff_csv import RowRejected, RowResult, RowStatus, StaffRow, parse_staff_csv
from renraku.audit import changes
from renraku.errors import NotFound
from renraku.kinds import UserKind
from renraku.runtime import Runtime

IN_USE = "is already in use by another account or municipality"
CHANGED = (RowStatus.CREATED, RowStatus.UPDATED)


@dataclass(frozen=True)
class StaffImportReport:
    municipality_code: str
    rows: tuple[RowResult, ...]

    def count(self, status: RowStatus) -> int:
        return sum(1 for row in self.rows if row.status is status)

    @property
    def counts(self) -> dict[str, int]:
        return {status.value: self.count(status) for status in RowStatus}


async def _ensure_organisation(
    session: AsyncSession, municipality_code: str, row: StaffRow
) -> tuple[Organisation, bool]:
    """The row's organisation, created or brought up to date; and whether anything changed."""
    query = select(Organisation).where(Organisation.key == row.organisation_key)
    organisation = (await session.exec(query)).first()
    if organisation is None:
        organisation = Organisation(
            key=row.organisation_key,
            name=row.organisation_name,
            kind=row.organisation_kind.value,
            municipality_code=municipality_code,
        )
    elif organisation.municipality_code != municipality_code:
        raise RowRejected("organisation_key", IN_USE)
    elif (organisation.name, organisation.kind) == (row.organisation_name, row.organisation_kind):
        return organisation, False
    organisation.name = row.organisation_name
    organisation.kind = row.organisation_kind.value
    session.add(organisation)
    await session.flush()
    return organisation, True


async def _ensure_user(
    session: AsyncSession, municipality_code: str, row: StaffRow
) -> tuple[User, RowStatus]:
    """The row's professional, created or brought up to date, and which of the two happened."""
    wanted = {
        "display_name": row.display_name,
        "display_name_kana": row.display_name_kana,
        "profession": row.profession.value,
        "email": row.email,
    }
    user = await get_user_by_username(session, row.username)
    if user is None:
        user = User(
            username=row.username,
            kind=UserKind.PROFESSIONAL.value,
            municipality_code=municipality_code,
            display_name=row.display_name,
            display_name_kana=row.display_name_kana,
            profession=row.profession.value,
            email=row.email,
        )
        session.add(user)
        await session.flush()
        return user, RowStatus.CREATED
    if user.kind != UserKind.PROFESSIONAL or user.municipality_code != municipality_code:
        # The same words whoever holds the name, so the report tells nothing about that account.
        raise RowRejected("username", IN_USE)
    if all(getattr(user, name) == value for name, value in wanted.items()):
        return user, RowStatus.UNCHANGED
    for name, value in wanted.items():
        setattr(user, name, value)
    session.add(user)
    await session.flush()
    return user, RowStatus.UPDATED


async def _apply_row(
    session: AsyncSession, runtime: Runtime, actor: Actor | None, code: str, row: StaffRow
) -> RowResult:
    """Store one row inside its own savepoint, so that a rejection undoes all of that row."""
    link = None
    try:
        async with session.begin_nested():
            organisation, changed = await _ensure_organisation(session, code, row)
            user, status = await _ensure_user(session, code, row)
            assert organisation.id is not None and user.id is not None
            if await session.get(OrganisationMember, (organisation.id, user.id)) is None:
                session.add(OrganisationMember(organisation_id=organisation.id, user_id=user.id))
                await session.flush()
                changed = True
            if status is RowStatus.CREATED:
                token = await do_issue_link(
                    session,
                    user_id=user.id,
                    purpose="setup",
                    created_by=actor.user_id if actor else None,
                    hours=runtime.settings.invitation_days * 24,
                )
                link = link_url(runtime.settings, token)
    except RowRejected as rejected:
        return rejected.result(row.line, row.username)
    except IntegrityError:
        # Someone else stored the same key or username meanwhile; this row alone is undone.
        conflict = RowRejected(None, "changed by someone else during the import; import it again")
        return conflict.result(row.line, row.username)
    if status is RowStatus.UNCHANGED and changed:
        status = RowStatus.UPDATED
    return RowResult(
        line=row.line, status=status, username=row.username, user_id=user.id, setup_link=link
    )


async def check_import_staff(
    runtime: Runtime, *, actor: Actor | None, municipality_code: str, data: bytes | str
) -> StaffImportReport:
    """Create or update a municipality's professionals from CSV; `actor` None is the system."""
    if actor is not None:
        require_manager_of(actor, municipality_code, obj="staff", act="import")
    parsed = parse_staff_csv(data)
    results: list[RowResult] = []
    async with runtime.db.transaction() as session:
        if await session.get(Municipality, municipality_code) is None:
            raise NotFound
        for row in parsed:
            if isinstance(row, RowResult):
                results.append(row)
                continue
            results.append(await _apply_row(session, runtime, actor, municipality_code, row))
        report = StaffImportReport(municipality_code=municipality_code, rows=tuple(results))
        touched = [r.user_id for r in results if r.user_id is not None and r.status in CHANGED]
        await changes.record(
            session,
            actor=actor,
            action="accounts.staff_imported",
            object_type="user",
            object_ids=touched,
            detail={"municipality": municipality_code, **report.counts},
        )
    return report
