"""GraphQL mutations for getting people in: password-reset links and two-step sign-in (TOTP)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from renraku.accounts import actions
from renraku.context import Info
from renraku.ids import decode_id


@strawberry.type
class ResetLink:
    url: str
    expires_at: datetime


@strawberry.type
class TotpEnrolment:
    secret: str
    uri: str


@strawberry.type
class Mutation:
    @strawberry.mutation(
        description="A single-use link that lets the user set a new password; shown once."
    )
    async def issue_password_reset_link(self, info: Info, user_id: strawberry.ID) -> ResetLink:
        actor = info.context.require_actor()
        issued = await actions.check_issue_reset_link(
            info.context.runtime, actor=actor, user_id=decode_id("User", user_id)
        )
        return ResetLink(url=issued.url, expires_at=issued.expires_at)

    @strawberry.mutation(description="A new TOTP secret to put in an authenticator app.")
    async def begin_totp_enrolment(self, info: Info) -> TotpEnrolment:
        actor = info.context.require_actor()
        secret, uri = actions.new_totp_enrolment(actor=actor)
        return TotpEnrolment(secret=secret, uri=uri)

    @strawberry.mutation(
        description="Turn two-step sign-in on; returns the recovery codes, shown only this once."
    )
    async def enable_totp(self, info: Info, secret: str, code: str) -> list[str]:
        actor = info.context.require_actor()
        return await actions.check_enable_totp(
            info.context.runtime, actor=actor, secret=secret, code=code
        )

    @strawberry.mutation(description="Turn two-step sign-in off; needs the account's password.")
    async def disable_totp(self, info: Info, password: str) -> bool:
        actor = info.context.require_actor()
        await actions.check_disable_totp(
            info.context.runtime,
            actor=actor,
            password=password,
            address=info.context.client_address,
        )
        return True
