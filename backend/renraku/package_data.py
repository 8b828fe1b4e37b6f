"""Folders the package carries besides its modules: policies, migrations and the demo world.

The top-level `policies/` and `seed/` and `backend/migrations/` are their only copy. In a checkout,
links inside `backend/renraku/` point at them (so a source tree and an editable install read them
in place); building a wheel copies the files behind the links into it (pyproject.toml).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

POLICIES = "policies"
MIGRATIONS = "migrations"
DEMO_WORLD = "demo_world"


def package_folder(name: str) -> Path:
    """The folder `name` inside the installed `renraku` package."""
    found = resources.files("renraku") / name
    # Casbin and Alembic open files by path: the package must be installed as files, not zipped.
    if not isinstance(found, Path) or not found.is_dir():
        raise FileNotFoundError(f"renraku/{name} is missing from the installed package")
    return found
