"""Malformed GraphQL gets a clear error with extensions.code and changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from renraku.runtime import Runtime
from renraku.schema import MAX_DEPTH, MAX_TOKENS
from tests.accounts.helpers import snapshot
from tests.support.graphql import DEMO_PASSWORD

SIGN_IN = f'login(username: "nurse.sato", password: "{DEMO_PASSWORD}")'


def _introspection_bomb(levels: int) -> str:
    # The schema has no cycles, so the deep queries it allows at all are introspection: each
    # `fields { type { fields ... } } }` level multiplies the work by the number of fields.
    inner = "name"
    for _ in range(levels):
        inner = f"fields {{ type {{ {inner} }} }}"
    return f"{{ __schema {{ types {{ {inner} }} }} }}"


def _many_tokens(count: int) -> str:
    return "mutation { " + SIGN_IN + " { token } " + " ".join(["__typename"] * count) + " }"


CASES = {
    "syntax-error": "mutation { " + SIGN_IN + " { token }",
    "unknown-field": "mutation { " + SIGN_IN + " { token nonsense } }",
    "unknown-argument": 'mutation { login(username: "nurse.sato", password: "x", admin: true) '
    "{ token } }",
    "wrong-type": 'mutation { login(username: 7, password: "x") { token } }',
    "depth-bomb": _introspection_bomb(MAX_DEPTH),
    "token-bomb": _many_tokens(MAX_TOKENS + 10),
}
MESSAGES = {"depth-bomb": "depth", "token-bomb": "token"}


@pytest.mark.parametrize("case", list(CASES))
async def test_malformed_graphql_is_bad_input_and_changes_nothing(
    http: httpx.AsyncClient, runtime: Runtime, case: str
) -> None:
    before = await snapshot(runtime.db)
    # Twice: the second answer must not come from a document kept from the first.
    for _ in range(2):
        response = await http.post("/graphql", json={"query": CASES[case]})
        body: dict[str, Any] = response.json()
        assert body.get("data") is None
        codes = {e["extensions"]["code"] for e in body["errors"]}
        assert codes == {"BAD_USER_INPUT"}, body
        if case in MESSAGES:
            assert any(MESSAGES[case] in e["message"].lower() for e in body["errors"]), body
    assert await snapshot(runtime.db) == before


async def test_a_body_over_the_size_limit_is_refused_with_413(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    before = await snapshot(runtime.db)
    padding = " " * (runtime.settings.max_body_bytes + 1)
    query = "mutation {" + padding + SIGN_IN + " { token } }"
    response = await http.post("/graphql", json={"query": query})
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await snapshot(runtime.db) == before


async def test_queries_inside_the_limits_still_run(http: httpx.AsyncClient) -> None:
    response = await http.post("/graphql", json={"query": _introspection_bomb(1)})
    assert "errors" not in response.json()
    response = await http.post("/graphql", json={"query": _many_tokens(100)})
    assert "errors" not in response.json()


async def test_deeply_nested_json_is_malformed_not_a_crash(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    before = await snapshot(runtime.db)
    body = b"[" * 50_000 + b"]" * 50_000
    response = await http.post(
        "/graphql", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert await snapshot(runtime.db) == before
