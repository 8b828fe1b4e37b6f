"""GraphQL for accounts: User, Organisation, Session; `me`, `login`, `logout`."""

from __future__ import annotations

from datetime import datetime

import strawberry

from renraku.access.fields import with_object
from renraku.accounts import actions, service
from renraku.accounts.models import Organisation as OrganisationRow
from renraku.accounts.models import User as UserRow
from renraku.context import Info
from renraku.errors import Unauthenticated
from renraku.ids import encode_id
from renraku.kinds import OrganisationKind, Profession, UserKind

# The GraphQL enums are the one list of kinds, upper-case names over lower-case values.
strawberry.enum(UserKind)
strawberry.enum(Profession)
strawberry.enum(OrganisationKind)


@with_object
@strawberry.type
class Organisation:
    row: strawberry.Private[OrganisationRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        assert self.row.id is not None
        return strawberry.ID(encode_id("Organisation", self.row.id))

    @strawberry.field
    def name(self) -> str:
        return self.row.name

    @strawberry.field
    def kind(self) -> OrganisationKind:
        return OrganisationKind(self.row.kind)

    @strawberry.field
    def municipality_code(self) -> str:
        return self.row.municipality_code


@with_object
@strawberry.type
class User:
    row: strawberry.Private[UserRow]

    @strawberry.field
    def id(self) -> strawberry.ID:
        assert self.row.id is not None
        return strawberry.ID(encode_id("User", self.row.id))

    @strawberry.field
    def username(self) -> str:
        return self.row.username

    @strawberry.field
    def display_name(self) -> str:
        return self.row.display_name

    @strawberry.field
    def display_name_kana(self) -> str:
        return self.row.display_name_kana

    @strawberry.field
    def kind(self) -> UserKind:
        return UserKind(self.row.kind)

    @strawberry.field
    def profession(self) -> Profession | None:
        return Profession(self.row.profession) if self.row.profession else None

    @strawberry.field
    def municipality_code(self) -> str | None:
        return self.row.municipality_code

    @strawberry.field
    def has_second_factor(self) -> bool:
        return self.row.totp_secret is not None

    @strawberry.field
    async def organisations(self, info: Info) -> list[Organisation]:
        assert self.row.id is not None
        async with info.context.runtime.db.session() as session:
            rows = await service.list_organisations_of(session, self.row.id)
        return [Organisation(row=r) for r in rows]


def user_or_none(row: UserRow | None) -> User | None:
    """The User object of a row a loader found, or None for one it did not."""
    return User(row=row) if row else None


async def load_user(info: Info, user_id: int | None) -> User | None:
    """The user with `user_id` through the request's loader (None for none)."""
    if user_id is None:
        return None
    return user_or_none(await info.context.loaders.users.load(user_id))


@strawberry.type
class Session:
    token: str
    expires_at: datetime
    user: User


@strawberry.type
class Query:
    @strawberry.field(description="The signed-in user.")
    async def me(self, info: Info) -> User:
        actor = info.context.require_actor()
        async with info.context.runtime.db.session() as session:
            user = await service.get_user(session, actor.user_id)
        if user is None:
            raise Unauthenticated
        return User(row=user)


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Sign in; returns a bearer token for API clients.")
    async def login(
        self, info: Info, username: str, password: str, otp: str | None = None
    ) -> Session:
        issued = await actions.check_login(
            info.context.runtime,
            username=username,
            password=password,
            otp=otp,
            address=info.context.client_address,
            kind="bearer",
        )
        return Session(
            token=issued.token, expires_at=issued.auth.expires_at, user=User(row=issued.user)
        )

    @strawberry.mutation(description="End the current session.")
    async def logout(self, info: Info) -> bool:
        actor = info.context.require_actor()
        await actions.check_logout(info.context.runtime, actor=actor)
        return True
