"""Configuration: embedded defaults for the demo; production refuses unsafe settings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from renraku.settings import DEFAULT_SECRET_KEY, ConfigurationError, load_settings
from tests.audit.support import write_key


def test_defaults_are_the_embedded_demo() -> None:
    settings = load_settings({})
    assert settings.mode == "demo"
    assert settings.database_url == "sqlite:///var/renraku.db"
    assert settings.broker_url is None
    assert settings.session_cookie_name == "renraku_session"
    assert not settings.secure_cookies


@pytest.mark.parametrize("secret", ["", "short", DEFAULT_SECRET_KEY, "x" * 31])
def test_production_refuses_a_weak_or_default_secret(secret: str) -> None:
    with pytest.raises(ConfigurationError, match="RENRAKU_SECRET_KEY"):
        load_settings({"RENRAKU_MODE": "production", "RENRAKU_SECRET_KEY": secret})


@pytest.fixture
def production(tmp_path: Path) -> dict[str, str]:
    """The least a production environment needs to start."""
    key = tmp_path / "audit-key.pem"
    write_key(key)
    return {
        "RENRAKU_MODE": "production",
        "RENRAKU_SECRET_KEY": "k" * 32,
        "RENRAKU_AUDIT_KEY_FILE": str(key),
    }


def test_production_warns_but_starts_on_sqlite_without_broker(
    caplog: pytest.LogCaptureFixture, production: dict[str, str]
) -> None:
    with caplog.at_level(logging.WARNING):
        settings = load_settings(production)
    assert settings.is_production
    assert "SQLite" in caplog.text and "BROKER_URL" in caplog.text


def test_production_refuses_a_short_metrics_token(production: dict[str, str]) -> None:
    env = {**production, "RENRAKU_METRICS_TOKEN": "m" * 31}
    with pytest.raises(ConfigurationError, match="RENRAKU_METRICS_TOKEN"):
        load_settings(env)
    assert load_settings({**env, "RENRAKU_METRICS_TOKEN": "m" * 32}).metrics_token == "m" * 32


def test_https_origin_uses_host_prefixed_secure_cookie() -> None:
    settings = load_settings({"RENRAKU_PUBLIC_ORIGIN": "https://renraku.example.jp/"})
    assert settings.public_origin == "https://renraku.example.jp"
    assert settings.secure_cookies
    assert settings.session_cookie_name == "__Host-renraku_session"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RENRAKU_MODE": "staging"}, "RENRAKU_MODE"),
        ({"RENRAKU_SESSION_IDLE_MINUTES": "soon"}, "RENRAKU_SESSION_IDLE_MINUTES"),
    ],
)
def test_malformed_values_are_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        load_settings(env)
