"""Folders the package carries besides its modules: policies, migrations, the demo world and,
when it was built before packaging, the phone web app (web_dist, mobile-web/dist).

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
WEB_DIST = "web_dist"


def package_folder(name: str) -> Path:
    """The folder `name` inside the installed `renraku` package."""
    found = resources.files("renraku") / name
    # Casbin and Alembic open files by path: the package must be installed as files, not zipped.
    if not isinstance(found, Path) or not found.is_dir():
        raise FileNotFoundError(f"renraku/{name} is missing from the installed package")
    return found


def web_dist_folder() -> Path:
    """Where the package's build of the phone web app is: mobile-web/dist through the link in a
    checkout, a copy in an installed package built after `make web`. It may not exist (the app
    was not built): the server then answers `/` with its plain page."""
    return Path(str(resources.files("renraku") / WEB_DIST))
