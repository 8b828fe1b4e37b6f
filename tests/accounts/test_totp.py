"""Two-step sign-in: enrolment, signing in with a code, single-use recovery codes, turning off."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pyotp
from sqlmodel import col

from renraku.accounts.models import RecoveryCode
from renraku.runtime import Runtime
from tests.accounts.helpers import ME, cookie_login, count, snapshot, user_row
from tests.support.databases import one_database
from tests.support.graphql import DEMO_PASSWORD, LOGIN, GraphQLClient, error_codes

BEGIN = "mutation { beginTotpEnrolment { secret uri } }"
ENABLE = "mutation($secret: String!, $code: String!) { enableTotp(secret: $secret, code: $code) }"
DISABLE = "mutation($password: String!) { disableTotp(password: $password) }"


async def _enrol(client: GraphQLClient) -> tuple[str, list[str]]:
    """Turn TOTP on for the client's user; the secret and the recovery codes."""
    begun = (await client.execute(BEGIN))["data"]["beginTotpEnrolment"]
    enabled = await client.execute(
        ENABLE, {"secret": begun["secret"], "code": pyotp.TOTP(begun["secret"]).now()}
    )
    assert "errors" not in enabled, enabled
    codes: list[str] = enabled["data"]["enableTotp"]
    return begun["secret"], codes


async def _login(gql: GraphQLClient, otp: str | None) -> dict[str, Any]:
    return await gql.execute(
        LOGIN, {"username": "nurse.sato", "password": DEMO_PASSWORD, "otp": otp}
    )


async def test_enrolment_gives_a_secret_and_an_authenticator_uri(gql: GraphQLClient) -> None:
    client = await gql.login("nurse.sato")
    begun = (await client.execute(BEGIN))["data"]["beginTotpEnrolment"]
    assert begun["uri"].startswith("otpauth://totp/Renraku:nurse.sato?")
    assert f"secret={begun['secret']}" in begun["uri"]
    # Beginning stores nothing: the account has no second factor until a code confirms it.
    assert (await client.execute(ME))["data"]["me"]["hasSecondFactor"] is False


async def test_a_wrong_or_malformed_enrolment_changes_nothing(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    client = await gql.login("nurse.sato")
    secret = (await client.execute(BEGIN))["data"]["beginTotpEnrolment"]["secret"]
    before = await snapshot(runtime.db)
    wrong_code = str((int(pyotp.TOTP(secret).now()) + 500_000) % 1_000_000).zfill(6)
    for variables, field in [
        ({"secret": secret, "code": wrong_code}, "code"),
        ({"secret": secret, "code": "x" * 10_000}, "code"),
        ({"secret": "not-a-secret", "code": "123456"}, "secret"),
        ({"secret": "A" * 5000, "code": "123456"}, "secret"),
    ]:
        result = await client.execute(ENABLE, variables)
        assert error_codes(result) == ["BAD_USER_INPUT"], result
        assert result["errors"][0]["extensions"]["field"] == field
    assert await snapshot(runtime.db) == before
    assert (await user_row(runtime.db, "nurse.sato")).totp_secret is None


@one_database
async def test_signed_out_callers_cannot_enrol(gql: GraphQLClient) -> None:
    assert error_codes(await gql.execute(BEGIN)) == ["UNAUTHENTICATED"]
    result = await gql.execute(ENABLE, {"secret": "A" * 32, "code": "123456"})
    assert error_codes(result) == ["UNAUTHENTICATED"]
    assert error_codes(await gql.execute(DISABLE, {"password": "x"})) == ["UNAUTHENTICATED"]


async def test_sign_in_then_needs_the_code(gql: GraphQLClient, runtime: Runtime) -> None:
    secret, codes = await _enrol(await gql.login("nurse.sato"))
    assert len(codes) == len(set(codes)) == 10
    assert await count(runtime.db, RecoveryCode) >= 10
    missing = await _login(gql, None)
    assert error_codes(missing) == ["BAD_USER_INPUT"]
    assert missing["errors"][0]["extensions"]["field"] == "otp"
    wrong = str((int(pyotp.TOTP(secret).now()) + 500_000) % 1_000_000).zfill(6)
    assert error_codes(await _login(gql, wrong)) == ["UNAUTHENTICATED"]
    assert error_codes(await _login(gql, "9" * 5000)) == ["UNAUTHENTICATED"]
    signed_in = await _login(gql, pyotp.TOTP(secret).now())
    assert "errors" not in signed_in, signed_in


async def test_a_code_signs_in_once(gql: GraphQLClient, runtime: Runtime) -> None:
    """A code seen over a shoulder or replayed within its half minute is refused, as is an
    older step's code once a newer one was used; the refusal opens no session."""
    secret, _codes = await _enrol(await gql.login("nurse.sato"))
    totp = pyotp.TOTP(secret)
    now = totp.timecode(datetime.now(UTC))
    assert "errors" not in await _login(gql, totp.generate_otp(now))
    before = await snapshot(runtime.db)
    assert error_codes(await _login(gql, totp.generate_otp(now))) == ["UNAUTHENTICATED"]
    assert error_codes(await _login(gql, totp.generate_otp(now - 1))) == ["UNAUTHENTICATED"]
    assert await snapshot(runtime.db) == before
    assert (await user_row(runtime.db, "nurse.sato")).totp_last_step == now
    # The next step's code (a phone a little ahead) is still good, once.
    assert "errors" not in await _login(gql, totp.generate_otp(now + 1))
    assert error_codes(await _login(gql, totp.generate_otp(now + 1))) == ["UNAUTHENTICATED"]


async def test_a_recovery_code_works_once(gql: GraphQLClient) -> None:
    _secret, codes = await _enrol(await gql.login("nurse.sato"))
    assert "errors" not in await _login(gql, codes[0].upper())
    assert error_codes(await _login(gql, codes[0])) == ["UNAUTHENTICATED"]
    assert "errors" not in await _login(gql, codes[1])


async def test_browser_sign_in_asks_for_the_code_as_a_second_step(
    gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    secret, _codes = await _enrol(await gql.login("nurse.sato"))
    first = await cookie_login(http, "nurse.sato")
    assert first.status_code == 400
    assert first.json()["error"]["code"] == "BAD_USER_INPUT"
    assert first.json()["error"]["field"] == "otp"
    assert "set-cookie" not in first.headers
    second = await cookie_login(http, "nurse.sato", otp=pyotp.TOTP(secret).now())
    assert second.status_code == 200
    assert second.json()["user"]["username"] == "nurse.sato"


async def test_the_code_is_not_asked_before_the_password_is_right(gql: GraphQLClient) -> None:
    await _enrol(await gql.login("nurse.sato"))
    result = await gql.execute(LOGIN, {"username": "nurse.sato", "password": "wrong-password"})
    # The otp prompt would tell a guesser the password was right.
    assert error_codes(result) == ["UNAUTHENTICATED"]


async def test_a_second_enrolment_needs_turning_it_off_first(gql: GraphQLClient) -> None:
    client = await gql.login("nurse.sato")
    secret, _codes = await _enrol(client)
    other = (await client.execute(BEGIN))["data"]["beginTotpEnrolment"]["secret"]
    result = await client.execute(ENABLE, {"secret": other, "code": pyotp.TOTP(other).now()})
    assert error_codes(result) == ["BAD_USER_INPUT"]
    assert "errors" not in await _login(gql, pyotp.TOTP(secret).now())  # the first still works


async def test_turning_it_off_needs_the_password(gql: GraphQLClient, runtime: Runtime) -> None:
    client = await gql.login("nurse.sato")
    _secret, codes = await _enrol(client)
    refused = await client.execute(DISABLE, {"password": "wrong-password"})
    assert error_codes(refused) == ["BAD_USER_INPUT"]
    assert refused["errors"][0]["extensions"]["field"] == "password"
    assert (await user_row(runtime.db, "nurse.sato")).totp_secret is not None
    assert (await client.execute(DISABLE, {"password": DEMO_PASSWORD}))["data"] == {
        "disableTotp": True
    }
    assert "errors" not in await _login(gql, None)
    # The old recovery codes are spent with the factor they belonged to.
    user = await user_row(runtime.db, "nurse.sato")
    unused = col(RecoveryCode.used_at).is_(None)
    assert await count(runtime.db, RecoveryCode, col(RecoveryCode.user_id) == user.id, unused) == 0
    assert error_codes(await _login(gql, codes[2])) == []  # codes are ignored without a factor


async def test_guessing_the_password_to_turn_it_off_is_slowed_down(
    gql: GraphQLClient, runtime: Runtime
) -> None:
    client = await gql.login("nurse.sato")
    await _enrol(client)
    for _ in range(runtime.settings.login_free_failures):
        result = await client.execute(DISABLE, {"password": "wrong-password"})
        assert error_codes(result) == ["BAD_USER_INPUT"]
    result = await client.execute(DISABLE, {"password": DEMO_PASSWORD})
    assert error_codes(result) == ["RATE_LIMITED"]
    assert (await user_row(runtime.db, "nurse.sato")).totp_secret is not None
