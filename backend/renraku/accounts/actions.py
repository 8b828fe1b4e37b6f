"""Sign-in, sessions, second factor and one-time links: check_* decides a whole command in its
transaction and calls do_*, which changes state (and writes the audit record) in the caller's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from renraku.access.accounts import access_user_for_reset
from renraku.access.actor import Actor
from renraku.accounts import secrets
from renraku.accounts.models import AuthSession, OneTimeLink, RecoveryCode, User
from renraku.accounts.service import TOUCH_INTERVAL, get_user_by_username
from renraku.audit import chain
from renraku.broker import Broker
from renraku.errors import BadInput, NotFound, Unauthenticated
from renraku.revocations import end_sessions_on_commit
from renraku.runtime import Runtime
from renraku.settings import Settings
from renraku.timeutil import utcnow

WRONG_CREDENTIALS = "Wrong username, password or code."
MAX_OTP_LENGTH = 40


@dataclass(frozen=True)
class IssuedSession:
    token: str
    auth: AuthSession
    user: User


async def do_create_session(
    session: AsyncSession, runtime: Runtime, *, user: User, kind: str, method: str
) -> IssuedSession:
    assert user.id is not None
    token, digest = secrets.new_token()
    now = utcnow()
    auth = AuthSession(
        token_hash=digest,
        user_id=user.id,
        kind=kind,
        method=method,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(hours=runtime.settings.session_absolute_hours),
    )
    session.add(auth)
    await session.flush()
    return IssuedSession(token=token, auth=auth, user=user)


async def _validate_second_factor(session: AsyncSession, user: User, otp: str | None) -> bool:
    """True without a second factor, or when `otp` is a valid code or unused recovery code."""
    if not user.totp_secret:
        return True
    if not otp:
        raise BadInput("This account needs the code from its authenticator app.", field="otp")
    step = secrets.totp_step(user.totp_secret, otp)
    if step is not None:
        # Each code once: one conditional UPDATE, so two sign-ins racing with it cannot both win.
        taken = await session.exec(
            update(User)
            .where(
                col(User.id) == user.id,
                or_(col(User.totp_last_step).is_(None), col(User.totp_last_step) < step),
            )
            .values(totp_last_step=step)
        )
        return bool(taken.rowcount)
    if len(otp) > MAX_OTP_LENGTH:
        return False
    # One conditional UPDATE, so two sign-ins racing with the same recovery code cannot both win.
    used = await session.exec(
        update(RecoveryCode)
        .where(
            col(RecoveryCode.user_id) == user.id,
            col(RecoveryCode.code_hash) == secrets.recovery_code_hash(otp),
            col(RecoveryCode.used_at).is_(None),
        )
        .values(used_at=utcnow())
    )
    return bool(used.rowcount)


async def check_login(
    runtime: Runtime,
    *,
    username: str,
    password: str,
    otp: str | None,
    address: str,
    kind: str,
) -> IssuedSession:
    """Verify the credentials and open a session; slows down repeated failures."""
    if len(username) > 80 or len(password) > secrets.MAX_PASSWORD_LENGTH:
        raise Unauthenticated(WRONG_CREDENTIALS)
    await runtime.throttle.check(username, address)
    async with runtime.db.transaction() as session:
        user = await get_user_by_username(session, username)
        password_ok = secrets.verify_password(user.password_hash if user else None, password)
        usable = (
            user is not None
            and user.active
            and not (user.is_demo and runtime.settings.is_production)
        )
        if not (password_ok and usable):
            await runtime.throttle.failed(username, address)
            raise Unauthenticated(WRONG_CREDENTIALS)
        assert user is not None
        if not await _validate_second_factor(session, user, otp):
            await runtime.throttle.failed(username, address)
            raise Unauthenticated(WRONG_CREDENTIALS)
        issued = await do_create_session(session, runtime, user=user, kind=kind, method="password")
    await runtime.throttle.succeeded(username, address)
    return issued


async def do_touch_session(runtime: Runtime, session_id: int, last_seen_at: datetime) -> None:
    if utcnow() - last_seen_at < TOUCH_INTERVAL:
        return
    async with runtime.db.transaction() as session:
        await session.exec(
            update(AuthSession)
            .where(col(AuthSession.id) == session_id)
            .values(last_seen_at=utcnow())
        )


async def check_logout(runtime: Runtime, *, actor: Actor) -> None:
    """End the actor's own session (nothing to end for a session-less actor)."""
    if actor.session_id is None:
        return
    async with runtime.db.transaction() as session:
        await do_end_session(session, runtime.broker, session_id=actor.session_id)


async def do_end_session(session: AsyncSession, broker: Broker, *, session_id: int) -> None:
    """Revoke one session; its open sockets close once the transaction commits."""
    await session.exec(
        update(AuthSession)
        .where(col(AuthSession.id) == session_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )
    end_sessions_on_commit(session, broker, [session_id])


async def do_revoke_sessions(session: AsyncSession, *, user_id: int) -> None:
    """End every session of a user (password change, deactivation)."""
    await session.exec(
        update(AuthSession)
        .where(col(AuthSession.user_id) == user_id, col(AuthSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


async def do_issue_link(
    session: AsyncSession, *, user_id: int, purpose: str, created_by: int | None, hours: int
) -> str:
    """A single-use link token (set-up or reset); only its hash is stored."""
    token, digest = secrets.new_token()
    session.add(
        OneTimeLink(
            token_hash=digest,
            user_id=user_id,
            purpose=purpose,
            created_by=created_by,
            expires_at=utcnow() + timedelta(hours=hours),
        )
    )
    await session.flush()
    return token


async def access_link(session: AsyncSession, token: str) -> tuple[OneTimeLink, User]:
    """The unused, unexpired link behind `token` and its user; NotFound otherwise."""
    if not token or len(token) > 128:
        raise NotFound
    row = (
        await session.exec(
            select(OneTimeLink, User)
            .join(User, col(User.id) == OneTimeLink.user_id)
            .where(OneTimeLink.token_hash == secrets.token_hash(token))
        )
    ).first()
    if row is None:
        raise NotFound
    link, user = row
    if link.used_at is not None or link.expires_at <= utcnow() or not user.active:
        raise NotFound
    return link, user


async def check_use_link(runtime: Runtime, *, token: str, new_password: str) -> User:
    """Set a password through a set-up or reset link, ending the user's other sessions."""
    problem = secrets.password_problem(new_password)
    if problem:
        raise BadInput(problem, field="password")
    async with runtime.db.transaction() as session:
        link, user = await access_link(session, token)
        await do_use_link(session, link=link, user=user, new_password=new_password)
    return user


async def do_use_link(
    session: AsyncSession, *, link: OneTimeLink, user: User, new_password: str
) -> None:
    link.used_at = utcnow()
    user.password_hash = secrets.hash_password(new_password)
    user.is_demo = False
    session.add(link)
    session.add(user)
    assert user.id is not None
    await do_revoke_sessions(session, user_id=user.id)
    await chain.append(
        session,
        actor_id=user.id,
        actor_kind=user.kind,
        action="accounts.link_used",
        object_type="user",
        object_ids=[user.id],
        detail={"purpose": link.purpose},
    )


def new_totp_enrolment(*, actor: Actor) -> tuple[str, str]:
    """A new TOTP secret and its provisioning URI. Nothing is stored: the client sends the
    secret back with a code from the authenticator app to enable_totp."""
    secret = secrets.new_totp_secret()
    return secret, secrets.totp_uri(secret, actor.username)


def validate_totp_enrolment(secret: str, code: str) -> None:
    """The secret is one new_totp_enrolment made, and `code` comes from an app that holds it."""
    if len(secret) != 32 or not secret.isalnum():
        raise BadInput("The enrolment secret is not valid.", field="secret")
    if secrets.totp_step(secret, code) is None:
        raise BadInput("That code does not match. Check the time on your phone.", field="code")


async def check_enable_totp(runtime: Runtime, *, actor: Actor, secret: str, code: str) -> list[str]:
    """Turn TOTP on once the user proves their app has the secret; returns new recovery codes."""
    validate_totp_enrolment(secret, code)
    async with runtime.db.transaction() as session:
        user = await session.get(User, actor.user_id)
        if user is None:
            raise Unauthenticated
        if user.totp_secret is not None:
            # Replacing a second factor must go through disabling it, which asks for the password.
            raise BadInput("Two-step sign-in is already on. Turn it off first.", field="secret")
        return await do_set_totp(session, actor=actor, user=user, secret=secret)


async def check_disable_totp(
    runtime: Runtime, *, actor: Actor, password: str, address: str
) -> None:
    """Turn TOTP off after re-checking the password; counts as a sign-in attempt when wrong."""
    await runtime.throttle.check(actor.username, address)
    async with runtime.db.transaction() as session:
        user = await session.get(User, actor.user_id)
        if user is None:
            raise Unauthenticated
        if not secrets.verify_password(user.password_hash, password):
            await runtime.throttle.failed(actor.username, address)
            raise BadInput("The password is not right.", field="password")
        await do_set_totp(session, actor=actor, user=user, secret=None)


async def do_set_totp(
    session: AsyncSession, *, actor: Actor, user: User, secret: str | None
) -> list[str]:
    """Turn TOTP on with `secret` (new recovery codes, returned) or off (None); earlier recovery
    codes stop working either way."""
    user.totp_secret = secret
    # A new secret starts a new count (None: nothing used yet); the enrolment code, checked
    # outside the transaction, may still sign in once within its half minute.
    user.totp_last_step = None
    session.add(user)
    await session.exec(
        update(RecoveryCode)
        .where(col(RecoveryCode.user_id) == actor.user_id, col(RecoveryCode.used_at).is_(None))
        .values(used_at=utcnow())
    )
    codes = secrets.new_recovery_codes() if secret is not None else []
    for code_text in codes:
        session.add(
            RecoveryCode(user_id=actor.user_id, code_hash=secrets.recovery_code_hash(code_text))
        )
    await chain.append(
        session,
        actor_id=actor.user_id,
        actor_kind=actor.kind,
        action="accounts.totp_enabled" if secret is not None else "accounts.totp_disabled",
        object_type="user",
        object_ids=[actor.user_id],
    )
    return codes


def link_url(settings: Settings, token: str) -> str:
    return f"{settings.public_origin}/auth/link?token={token}"


@dataclass(frozen=True)
class IssuedLink:
    url: str
    expires_at: datetime


async def check_issue_reset_link(runtime: Runtime, *, actor: Actor, user_id: int) -> IssuedLink:
    """A password-reset link for a user the actor may reset; earlier unused links stop working."""
    async with runtime.db.transaction() as session:
        user = await access_user_for_reset(session, actor=actor, user_id=user_id)
        return await do_issue_reset_link(session, runtime.settings, actor=actor, user=user)


async def do_issue_reset_link(
    session: AsyncSession, settings: Settings, *, actor: Actor, user: User
) -> IssuedLink:
    assert user.id is not None
    user_id = user.id
    now = utcnow()
    await session.exec(
        update(OneTimeLink)
        .where(
            col(OneTimeLink.user_id) == user_id,
            col(OneTimeLink.used_at).is_(None),
            col(OneTimeLink.expires_at) > now,
        )
        .values(expires_at=now)
    )
    token = await do_issue_link(
        session,
        user_id=user_id,
        purpose="reset",
        created_by=actor.user_id,
        hours=settings.reset_link_hours,
    )
    link = (
        await session.exec(
            select(OneTimeLink).where(OneTimeLink.token_hash == secrets.token_hash(token))
        )
    ).one()
    await chain.append(
        session,
        actor_id=actor.user_id,
        actor_kind=actor.kind,
        action="accounts.reset_link_issued",
        object_type="user",
        object_ids=[user_id],
        detail={"kind": user.kind},
    )
    return IssuedLink(url=link_url(settings, token), expires_at=link.expires_at)
