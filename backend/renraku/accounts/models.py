"""Municipalities, organisations, users and what authenticates them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from renraku.tables import when_column
from renraku.timeutil import utcnow


class Municipality(SQLModel, table=True):
    """A local government, keyed by its 6-digit 全国地方公共団体コード."""

    code: str = Field(primary_key=True, max_length=6)
    name: str = Field(max_length=100)
    name_kana: str = Field(default="", max_length=100)
    name_en: str = Field(default="", max_length=100)
    prefecture: str = Field(default="", max_length=20)


class Organisation(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80, unique=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=40)
    municipality_code: str = Field(foreign_key="municipality.code", max_length=6, index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_column=when_column())


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=80, unique=True)
    display_name: str = Field(max_length=200)
    display_name_kana: str = Field(default="", max_length=200)
    kind: str = Field(max_length=20)
    profession: str | None = Field(default=None, max_length=40)
    municipality_code: str | None = Field(
        default=None, foreign_key="municipality.code", max_length=6, index=True
    )
    email: str | None = Field(default=None, max_length=200)
    password_hash: str | None = Field(default=None, max_length=200)
    totp_secret: str | None = Field(default=None, max_length=64)
    # The time step of the last TOTP code accepted: a code is good once (accounts/actions.py).
    totp_last_step: int | None = None
    # Demo accounts sign in only while the server runs in demo mode.
    is_demo: bool = False
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_column=when_column())


class OrganisationMember(SQLModel, table=True):
    organisation_id: int = Field(foreign_key="organisation.id", primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", primary_key=True, index=True)


class RecoveryCode(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    code_hash: str = Field(max_length=200)
    used_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))


class AuthSession(SQLModel, table=True):
    """A server-side session: the browser holds an opaque cookie, API clients a bearer token."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    kind: str = Field(max_length=10)  # cookie | bearer
    created_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    expires_at: datetime = Field(sa_column=when_column())
    revoked_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))
    method: str = Field(default="password", max_length=20)  # password | oidc


class OneTimeLink(SQLModel, table=True):
    """A set-up or password-reset link: single use, expiring, stored only as a hash."""

    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    purpose: str = Field(max_length=20)  # setup | reset
    created_by: int | None = Field(default=None, foreign_key="app_user.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
    expires_at: datetime = Field(sa_column=when_column())
    used_at: datetime | None = Field(default=None, sa_column=when_column(nullable=True))


class IdentityProvider(SQLModel, table=True):
    """A municipality's OpenID Connect provider."""

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=80, unique=True)
    name: str = Field(max_length=200)
    municipality_code: str = Field(foreign_key="municipality.code", max_length=6, index=True)
    issuer: str = Field(max_length=400)
    client_id: str = Field(max_length=200)
    client_secret: str = Field(default="", max_length=400)


class OidcIdentity(SQLModel, table=True):
    """(issuer, subject) linked to a user; never matched by e-mail address."""

    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: int | None = Field(default=None, primary_key=True)
    issuer: str = Field(max_length=400)
    subject: str = Field(max_length=255)
    user_id: int = Field(foreign_key="app_user.id", index=True)
    linked_at: datetime = Field(default_factory=utcnow, sa_column=when_column())
