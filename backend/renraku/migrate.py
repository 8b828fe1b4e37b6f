"""Applying Alembic migrations to DATABASE_URL, from the CLI or the tests."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from renraku.package_data import MIGRATIONS, package_folder


def migrations_dir() -> Path:
    return package_folder(MIGRATIONS)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", database_url)
    # New revisions come out lint-clean, so no one hand-fixes generated files afterwards.
    config.set_section_option("post_write_hooks", "hooks", "ruff_fix, ruff_format")
    for name, command_line in (
        ("ruff_fix", "-m ruff check --fix --quiet REVISION_SCRIPT_FILENAME"),
        ("ruff_format", "-m ruff format --quiet REVISION_SCRIPT_FILENAME"),
    ):
        config.set_section_option("post_write_hooks", f"{name}.type", "exec")
        config.set_section_option("post_write_hooks", f"{name}.executable", sys.executable)
        config.set_section_option("post_write_hooks", f"{name}.options", command_line)
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)
