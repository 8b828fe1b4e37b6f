"""Set-up done from the server's own command line: the first operator, a municipality and its
first manager. Whoever runs these already holds the server, so they act as the system.

Each new account gets no password, only a one-time set-up link to choose one.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.accounts.actions import do_issue_link, link_url
from renraku.accounts.models import Municipality, Organisation, OrganisationMember, User
from renraku.accounts.service import get_user_by_username
from renraku.audit import changes
from renraku.errors import BadInput
from renraku.geo import MunicipalityInfo, check_digit_ok, municipalities
from renraku.kinds import OrganisationKind, UserKind
from renraku.runtime import Runtime
from renraku.text import clean_text, visible_length

USERNAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]{1,79}")
MAX_DISPLAY_NAME = 200
USERNAME_TAKEN = "That username is already in use."


def validate_username(value: str) -> str:
    """The username as stored (NFKC, lower case), or BadInput."""
    username = unicodedata.normalize("NFKC", value).strip().lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise BadInput(
            "A username is 2 to 80 of a-z 0-9 . _ - and begins with a letter or digit.",
            field="username",
        )
    return username


def validate_display_name(value: str) -> str:
    name = clean_text(value, multiline=False)
    if not visible_length(name) or len(name) > MAX_DISPLAY_NAME:
        raise BadInput(f"A name has 1 to {MAX_DISPLAY_NAME} characters.", field="display_name")
    return name


def validate_municipality_code(code: str) -> MunicipalityInfo:
    """The bundled open data for a 6-digit municipality code, or BadInput."""
    code = code.strip()
    if not check_digit_ok(code):
        raise BadInput(
            "Not a municipality code: give the 6 digits with their check digit, e.g. 232149.",
            field="code",
        )
    info = municipalities().get(code)
    if info is None:
        raise BadInput("No municipality with that code in the bundled data.", field="code")
    return info


@dataclass(frozen=True)
class NewAccount:
    user: User
    setup_url: str


async def _new_user(session: AsyncSession, runtime: Runtime, user: User) -> NewAccount:
    if await get_user_by_username(session, user.username) is not None:
        raise BadInput(USERNAME_TAKEN, field="username")
    session.add(user)
    await session.flush()
    assert user.id is not None
    token = await do_issue_link(
        session,
        user_id=user.id,
        purpose="setup",
        created_by=None,
        hours=runtime.settings.invitation_days * 24,
    )
    return NewAccount(user=user, setup_url=link_url(runtime.settings, token))


async def check_create_operator(
    runtime: Runtime, *, username: str, display_name: str
) -> NewAccount:
    """A platform operator with a set-up link; refuses a username already in use."""
    try:
        async with runtime.db.transaction() as session:
            account = await _new_user(
                session,
                runtime,
                User(username=username, display_name=display_name, kind=UserKind.OPERATOR.value),
            )
            assert account.user.id is not None
            await changes.record(
                session,
                actor=None,
                action="admin.operator_created",
                object_type="user",
                object_ids=[account.user.id],
            )
    except IntegrityError:
        # Someone created the same username between our check and our insert.
        raise BadInput(USERNAME_TAKEN, field="username") from None
    return account


@dataclass(frozen=True)
class NewMunicipality:
    municipality: Municipality
    organisation: Organisation
    manager: NewAccount


async def _municipality_organisation(session: AsyncSession, info: MunicipalityInfo) -> Organisation:
    """The municipality's own organisation, created if it has none yet."""
    found = (
        await session.exec(
            select(Organisation)
            .where(
                Organisation.municipality_code == info.code,
                Organisation.kind == OrganisationKind.MUNICIPALITY.value,
            )
            .order_by(col(Organisation.id))
        )
    ).first()
    if found is not None:
        return found
    organisation = Organisation(
        key=f"municipality-{info.code}",
        name=info.name,
        kind=OrganisationKind.MUNICIPALITY.value,
        municipality_code=info.code,
    )
    session.add(organisation)
    await session.flush()
    return organisation


async def check_add_municipality(
    runtime: Runtime, *, info: MunicipalityInfo, manager_username: str, manager_name: str
) -> NewMunicipality:
    """The municipality (kept if already present), its organisation and a new first manager."""
    try:
        async with runtime.db.transaction() as session:
            municipality = await session.get(Municipality, info.code)
            if municipality is None:
                municipality = Municipality(
                    code=info.code,
                    name=info.name,
                    name_kana=info.name_kana,
                    name_en=info.name_en,
                    prefecture=info.prefecture,
                )
                session.add(municipality)
                await session.flush()
            organisation = await _municipality_organisation(session, info)
            manager = await _new_user(
                session,
                runtime,
                User(
                    username=manager_username,
                    display_name=manager_name,
                    kind=UserKind.MUNICIPALITY.value,
                    municipality_code=info.code,
                ),
            )
            assert organisation.id is not None and manager.user.id is not None
            session.add(
                OrganisationMember(organisation_id=organisation.id, user_id=manager.user.id)
            )
            await changes.record(
                session,
                actor=None,
                action="admin.municipality_added",
                object_type="user",
                object_ids=[manager.user.id],
                detail={"municipality": info.code, "organisation_id": organisation.id},
            )
    except IntegrityError:
        raise BadInput(USERNAME_TAKEN, field="username") from None
    return NewMunicipality(municipality=municipality, organisation=organisation, manager=manager)
