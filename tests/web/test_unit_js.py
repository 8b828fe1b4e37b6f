"""The app's own unit tests (Vitest: the outbox, the IndexedDB store and its migrations, the
message catalogue), run here so that `make test` and `make test-fast` run them too."""

from __future__ import annotations

import shutil
import subprocess

from tests.web.conftest import WEB


def test_vitest_passes() -> None:
    npm = shutil.which("npm")
    assert npm, "npm is needed for the web app's unit tests"
    if not (WEB / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
    result = subprocess.run(
        [npm, "test", "--silent"], cwd=WEB, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr
