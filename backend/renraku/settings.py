"""Configuration, read once from the environment, with embedded defaults for the demo."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from renraku.package_data import web_dist_folder

DEFAULT_SECRET_KEY = "renraku-demo-secret-key-do-not-use-in-production"  # noqa: S105 - the demo default, refused in production
DEFAULT_DATABASE_URL = "sqlite:///var/renraku.db"
DEFAULT_AUDIT_LOG_FILE = "var/audit-checkpoints.log"
MIN_SECRET_LENGTH = 32

log = logging.getLogger("renraku.settings")


class ConfigurationError(RuntimeError):
    """The environment asks for something Renraku refuses to run with."""


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    broker_url: str | None = None
    mode: str = "demo"
    secret_key: str = DEFAULT_SECRET_KEY
    # The origin the server answers as; cookie-authenticated requests must come from it.
    public_origin: str = "http://127.0.0.1:8000"
    allowed_origins: tuple[str, ...] = ()
    session_idle_minutes: int = 60 * 12
    session_absolute_hours: int = 24 * 14
    # Sign-in slow-down: free failures before delays start, and the longest delay.
    login_free_failures: int = 5
    login_max_delay_seconds: int = 60
    login_window_minutes: int = 15
    reset_link_hours: int = 24
    invitation_days: int = 14
    retention_days: int = 365 * 5
    # How long a break-the-glass grant lasts (glass/actions.py).
    glass_hours: int = 4
    # An urgent post no professional read in this time goes to the coordinator (feed/urgent.py).
    urgent_escalation_minutes: int = 30
    # An instruction still awaiting acknowledgement after this is overdue (feed/receipts.py).
    instruction_overdue_hours: int = 24
    # An incident started by alerts stays open this long after its last alert expires or is
    # cancelled (overlay/incidents.py): carers are still reporting back.
    incident_grace_hours: int = 6
    # A P1 person whose safety status nobody set this long after the incident began is flagged.
    safety_p1_minutes: int = 60
    max_body_bytes: int = 1_000_000
    # Photos (feed/uploads.py): the largest file, the most pixels (a decompression bomb is
    # refused before decoding), and how many one account may upload in an hour.
    upload_max_bytes: int = 10 * 1024 * 1024
    upload_max_pixels: int = 40_000_000
    upload_per_hour: int = 120
    # Writes (GraphQL mutation fields) one account may make in a minute (web/write_limit.py).
    writes_per_minute: int = 600
    # Documents one alert source may POST to /alerts in a minute (alerts/http.py).
    alerts_per_minute: int = 60
    # The live feed's WebSocket (realtime/ws.py): seconds to send connection_init, frames a
    # subscriber may fall behind before it is closed (1013), subscriptions per socket, and how
    # often open sockets' sessions are re-checked (an ended session closes its sockets, 4401).
    ws_init_timeout_seconds: int = 3
    ws_queue_limit: int = 1000
    ws_max_subscriptions: int = 50
    ws_session_check_seconds: int = 5
    web_dist: Path = field(default_factory=web_dist_folder)
    # The audit checkpoint signing key (PEM Ed25519); demo mode generates one when unset.
    audit_key_file: Path | None = None
    # Every checkpoint is also appended here, outside the database (audit/outside.py).
    audit_log_file: Path = field(default_factory=lambda: Path(DEFAULT_AUDIT_LOG_FILE))
    # The server signs a checkpoint when the last is this old and records followed it.
    audit_checkpoint_minutes: int = 10
    # Hex public keys of signing keys since replaced, still trusted by `renraku audit verify`.
    audit_retired_keys: tuple[str, ...] = ()
    # Bearer token for GET /metrics; unset: open in demo mode, absent in production.
    metrics_token: str | None = None

    @property
    def is_production(self) -> bool:
        return self.mode == "production"

    @property
    def secure_cookies(self) -> bool:
        return self.public_origin.startswith("https://")

    @property
    def session_cookie_name(self) -> str:
        # The __Host- prefix is only accepted by browsers on Secure cookies.
        return "__Host-renraku_session" if self.secure_cookies else "renraku_session"

    def trusted_origins(self) -> frozenset[str]:
        return frozenset((self.public_origin, *self.allowed_origins))


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a whole number") from exc


def _public_keys(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    keys = tuple(k.strip().lower() for k in env.get(name, "").split(",") if k.strip())
    for key in keys:
        # A raw Ed25519 public key is 32 bytes.
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            raise ConfigurationError(f"{name} must list Ed25519 public keys as 64 hex digits each")
    return keys


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read Settings from the environment and refuse unsafe production configurations."""
    env = os.environ if env is None else env
    mode = env.get("RENRAKU_MODE", "demo")
    if mode not in ("demo", "production"):
        raise ConfigurationError("RENRAKU_MODE must be 'demo' or 'production'")
    origins = tuple(
        o.strip() for o in env.get("RENRAKU_ALLOWED_ORIGINS", "").split(",") if o.strip()
    )
    settings = Settings(
        database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
        broker_url=env.get("BROKER_URL") or None,
        mode=mode,
        secret_key=env.get("RENRAKU_SECRET_KEY") or DEFAULT_SECRET_KEY,
        public_origin=(env.get("RENRAKU_PUBLIC_ORIGIN") or "http://127.0.0.1:8000").rstrip("/"),
        allowed_origins=origins,
        session_idle_minutes=_int(env, "RENRAKU_SESSION_IDLE_MINUTES", 60 * 12),
        session_absolute_hours=_int(env, "RENRAKU_SESSION_ABSOLUTE_HOURS", 24 * 14),
        login_free_failures=_int(env, "RENRAKU_LOGIN_FREE_FAILURES", 5),
        login_max_delay_seconds=_int(env, "RENRAKU_LOGIN_MAX_DELAY_SECONDS", 60),
        retention_days=_int(env, "RENRAKU_RETENTION_DAYS", 365 * 5),
        glass_hours=_int(env, "RENRAKU_GLASS_HOURS", 4),
        urgent_escalation_minutes=_int(env, "RENRAKU_URGENT_ESCALATION_MINUTES", 30),
        instruction_overdue_hours=_int(env, "RENRAKU_INSTRUCTION_OVERDUE_HOURS", 24),
        incident_grace_hours=_int(env, "RENRAKU_INCIDENT_GRACE_HOURS", 6),
        safety_p1_minutes=_int(env, "RENRAKU_SAFETY_P1_MINUTES", 60),
        ws_init_timeout_seconds=_int(env, "RENRAKU_WS_INIT_TIMEOUT_SECONDS", 3),
        ws_queue_limit=_int(env, "RENRAKU_WS_QUEUE_LIMIT", 1000),
        ws_max_subscriptions=_int(env, "RENRAKU_WS_MAX_SUBSCRIPTIONS", 50),
        ws_session_check_seconds=_int(env, "RENRAKU_WS_SESSION_CHECK_SECONDS", 5),
        upload_max_bytes=_int(env, "RENRAKU_UPLOAD_MAX_BYTES", 10 * 1024 * 1024),
        upload_max_pixels=_int(env, "RENRAKU_UPLOAD_MAX_PIXELS", 40_000_000),
        upload_per_hour=_int(env, "RENRAKU_UPLOAD_PER_HOUR", 120),
        writes_per_minute=_int(env, "RENRAKU_WRITES_PER_MINUTE", 600),
        alerts_per_minute=_int(env, "RENRAKU_ALERTS_PER_MINUTE", 60),
        web_dist=Path(env["RENRAKU_WEB_DIST"])
        if env.get("RENRAKU_WEB_DIST")
        else web_dist_folder(),
        audit_key_file=Path(env["RENRAKU_AUDIT_KEY_FILE"])
        if env.get("RENRAKU_AUDIT_KEY_FILE")
        else None,
        audit_log_file=Path(env.get("RENRAKU_AUDIT_LOG_FILE") or DEFAULT_AUDIT_LOG_FILE),
        audit_checkpoint_minutes=_int(env, "RENRAKU_AUDIT_CHECKPOINT_MINUTES", 10),
        audit_retired_keys=_public_keys(env, "RENRAKU_AUDIT_RETIRED_KEYS"),
        metrics_token=env.get("RENRAKU_METRICS_TOKEN") or None,
    )
    validate_settings(settings)
    return settings


def validate_settings(settings: Settings) -> None:
    """Refuse what production must never run with; warn about what it should not."""
    if not settings.is_production:
        return
    if len(settings.secret_key) < MIN_SECRET_LENGTH or settings.secret_key == DEFAULT_SECRET_KEY:
        raise ConfigurationError(
            f"RENRAKU_SECRET_KEY must be set to a secret of at least {MIN_SECRET_LENGTH} characters"
        )
    if settings.audit_key_file is None or not settings.audit_key_file.is_file():
        raise ConfigurationError(
            "RENRAKU_AUDIT_KEY_FILE must name the audit signing key (a PEM Ed25519 private key)"
        )
    if settings.metrics_token is not None and len(settings.metrics_token) < MIN_SECRET_LENGTH:
        raise ConfigurationError(
            f"RENRAKU_METRICS_TOKEN must be at least {MIN_SECRET_LENGTH} characters when set"
        )
    if settings.database_url.startswith("sqlite"):
        log.warning("production on SQLite: use PostgreSQL (DATABASE_URL)")
    if settings.broker_url is None:
        log.warning("production without BROKER_URL: serve one worker only")
