"""A small GraphQL-over-HTTP client for tests, on top of a real httpx client."""

from __future__ import annotations

from typing import Any

import httpx

from renraku.seed.demo import load_demo

DEMO = load_demo()
DEMO_PASSWORD: str = DEMO["demo"]["password"]

LOGIN = """
mutation Login($username: String!, $password: String!, $otp: String) {
  login(username: $username, password: $password, otp: $otp) { token expiresAt user { username } }
}
"""


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient, token: str | None = None) -> None:
        self.http = http
        self.token = token

    async def execute(
        self, query: str, variables: dict[str, Any] | None = None, *, token: str | None = None
    ) -> dict[str, Any]:
        headers = {}
        bearer = token or self.token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        response = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        body: dict[str, Any] = response.json()
        return body

    async def login(self, username: str, password: str = DEMO_PASSWORD) -> GraphQLClient:
        """A client signed in as `username` (bearer token)."""
        result = await self.execute(LOGIN, {"username": username, "password": password})
        assert "errors" not in result, result
        return GraphQLClient(self.http, result["data"]["login"]["token"])


def error_codes(result: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in result.get("errors", [])]
