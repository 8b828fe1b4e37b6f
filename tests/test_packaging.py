"""Renraku as a user installs it: into a fresh virtual environment outside the checkout,
`pip install -r requirements.lock` then `pip install --no-deps .`, and `renraku demo` in an empty
folder migrates, loads the demo world and serves. So the installed package carries its policies,
migrations and demo world (renraku/package_data.py), and the runtime pins are enough.

It needs no database fixture, so it runs once. The wheels come from a wheelhouse in the user's
cache folder, downloaded once per requirements.lock: later runs need no network (about 25 s on two
cores; the first also downloads about 60 wheels).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import httpx
import pytest

from renraku.access.enforcer import policies_dir
from renraku.package_data import DEMO_WORLD, MIGRATIONS, POLICIES, package_folder
from tests.support.graphql import DEMO
from tests.support.server import ROOT, base_env, free_port, running

# What building the package reads: its metadata, the readme it names, the package and the
# top-level folders its data links point at.
SOURCES = ("pyproject.toml", "README.md", "backend", "policies", "seed")
WEB_BUILD = ROOT / "mobile-web" / "dist"
PIP_SECONDS = 600
STALE_SECONDS = 7 * 24 * 3600


def _pip(python: Path, command: str, *args: str | Path, env: dict[str, str] | None = None) -> None:
    quiet = ["--quiet", "--disable-pip-version-check", "--no-input"]
    subprocess.run(
        [str(python), "-m", "pip", command, *quiet, *map(str, args)],
        env=env,
        check=True,
        timeout=PIP_SECONDS,
    )


def _wheelhouse() -> Path:
    """Wheels of requirements.lock and of the build's own requirements, in the user's cache
    folder, one folder per version of the lock file; one unused for a week is removed."""
    lock_file = ROOT / "requirements.lock"
    build: list[str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"][
        "requires"
    ]
    key = hashlib.sha256(lock_file.read_bytes() + "\n".join(build).encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "renraku-wheels"
    cache.mkdir(parents=True, exist_ok=True)
    for other in cache.iterdir():
        if other.name != key and time.time() - other.stat().st_mtime > STALE_SECONDS:
            shutil.rmtree(other, ignore_errors=True)
    house = cache / key
    if not house.is_dir():
        # Filled under another name and renamed, so that no run sees half a wheelhouse.
        partial = Path(tempfile.mkdtemp(prefix=".partial-", dir=cache))
        here = Path(sys.executable)
        # Only the pinned wheels: a dependency missing from the lock file must fail the install.
        _pip(here, "download", "--no-deps", "--dest", partial, "-r", lock_file)
        _pip(here, "download", "--dest", partial, *build)
        try:
            partial.rename(house)
        except OSError:  # another run got there first
            shutil.rmtree(partial, ignore_errors=True)
    os.utime(house)
    return house


def _checkout_copy(target: Path) -> Path:
    """The files of the checkout the build reads. Built from a copy, because building in place
    writes build/ and renraku.egg-info into the checkout, where two runs would meet."""
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", "build")
    target.mkdir()
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            # The data links stay links, as in the checkout: the build must follow them itself.
            shutil.copytree(source, target / name, symlinks=True, ignore=skip)
        else:
            shutil.copy2(source, target / name)
    if WEB_BUILD.is_dir():  # the web app's build, where the package's web_dist link points
        shutil.copytree(WEB_BUILD, target / "mobile-web" / "dist")
    return target


def test_installed_package_runs_the_demo_from_an_empty_folder(tmp_path: Path) -> None:
    wheels = _wheelhouse()
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    env = base_env()
    env.pop("PYTHONPATH")  # the checkout must not be importable
    offline: list[str | Path] = ["--no-index", "--find-links", wheels, "--no-compile"]
    _pip(python, "install", *offline, "-r", ROOT / "requirements.lock", env=env)
    source = _checkout_copy(tmp_path / "source")
    _pip(python, "install", *offline, "--no-deps", source, env=env)
    shutil.rmtree(source)

    empty = tmp_path / "empty"
    empty.mkdir()
    port = free_port()
    with running(
        ["demo"], cwd=empty, env=env, port=port, command=[str(venv / "bin" / "renraku")]
    ) as server:
        assert httpx.get(f"{server.url}/healthz").status_code == 200
        home = httpx.get(f"{server.url}/")
        printed = server.log_text()
    # The web app when it was built before the package (as `make test` does), else the plain
    # page: either way from the installed package, not from a checkout.
    if (WEB_BUILD / "index.html").is_file():
        assert '<script type="module"' in home.text
        assert "Content-Security-Policy" in home.headers
    else:
        assert home.status_code == 200 and "Renraku" in home.text
    assert (empty / "var" / "renraku.db").exists()
    assert "Database is up to date." in printed
    assert "The demo world is loaded: " in printed
    for account in DEMO["accounts"]:
        assert account["username"] in printed
    located = subprocess.run(
        [str(python), "-c", "import renraku; print(renraku.__file__)"],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(located.stdout.strip()).is_relative_to(venv)


def test_data_folders_are_found_in_the_package() -> None:
    assert (package_folder(POLICIES) / "model.conf").is_file()
    assert (package_folder(MIGRATIONS) / "env.py").is_file()
    assert (package_folder(DEMO_WORLD) / "demo.toml").is_file()
    with pytest.raises(FileNotFoundError, match="renraku/nothing"):
        package_folder("nothing")


def test_renraku_policies_names_another_policy_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RENRAKU_POLICIES", raising=False)
    assert policies_dir() == package_folder(POLICIES)
    monkeypatch.setenv("RENRAKU_POLICIES", str(tmp_path))
    assert policies_dir() == tmp_path
